package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/sync/errgroup"
	"golang.org/x/vuln/scan"

	"github.com/modgate/modgate/internal/policy"
)

const checkUsage = `usage:
  modgate check [DIR | go.mod | go.sum | FILE | -] [--json] [--server URL] [--symbols]

check evaluates a project's build list against the current policy and data,
without downloading any zip, as modgate would when the build fetches it. It
prints each blocked, warned or exempted module with its reasons and a summary,
and exits 1 when the build would be blocked (0 otherwise, 2 for a bad command
line; 1 also when the check cannot be completed).

The build list (default: the current directory) is read as 'modgate sbom
project' reads it: DIR's go.mod and go.sum (a go.mod with the go.sum beside
it): every require of the go.mod, replacements applied (a module replaced by a
directory is skipped), and every module whose zip go.sum records (lines
without /go.mod), the highest version of each path. Since Go 1.17 a go.mod
requires every module that provides a package to the build, and those are the
zips 'go mod download' and 'go build' fetch; modules the pruned module graph
only needs the go.mod of are never fetched as zips, so modgate never blocks
them and check does not list them. A go.sum or any other FILE, or - for
standard input, may also be a list of module@version lines or the output of
'go list -m all' ('go list -m all | modgate check -' is the most exact when
the go command can reach a proxy). modgate itself never runs the go command
for the build list, so check works offline and never rewrites go.mod or go.sum.

Without --server, decisions are made from the store (--database or --data),
the policy file --policy (empty: the default policy, which blocks nothing) and
the exemptions in force; the vulnerability data must have been synced
('modgate vulndb sync'). max_zip_size is not evaluated (the zip is not there).
With --server URL, a running modgate decides (GET /api/decision/...) with its
own policy, exemptions and data; user:password@ in the URL is sent as Basic
authentication.

--symbols also runs govulncheck's symbol-level analysis (golang.org/x/vuln/scan,
in-process) on the packages of the project (./... in DIR) against modgate's
vulnerability data (the server's /vulndb, or the synced copy in the store served
on a loopback port), and tells for each finding whether the code calls a
vulnerable symbol, only imports its package, or only requires its module. It
loads the project's packages with the go command, so it needs go on PATH and
the dependencies' source: in the module cache, vendored, or fetched through
GOPROXY (with --server, GOPROXY is set to it; a zip the policy blocks cannot be
fetched then). GOFLAGS is left as it is, so a project whose go.sum is not
complete fails as 'go build' would.

--json prints one object; fields are only ever added:
  {"project": main module path or "", "source": "store" or the server URL,
   "policy": file, "mode": "enforce"|"audit", "vulndb_modified": RFC 3339
   (these three from the store only), "blocked": bool (exit 1),
   "summary": {"modules", "blocked", "would_block", "warned", "exempted"},
   "modules": [{"module", "version", "blocked", "would_block",
     "findings": [{"rule", "action", "reason", "advisory", "fixed",
                   "until" (min_age, RFC 3339), "exemption" (id or 0)}]}],
   "symbols": [{"id", "aliases", "summary", "module", "version", "fixed",
     "level": "called"|"imported"|"required", "calls": [symbols]}],
   "symbols_error": why --symbols failed}
Every module of the build list is listed, sorted by path.`

type checkFlags struct {
	fs      *flag.FlagSet
	json    bool
	server  string
	symbols bool
}

// registerCheckFlags defines `modgate check`'s own flags on the command's
// flag set; ownFlags returns it for "check".
func registerCheckFlags(fs *flag.FlagSet) any {
	f := &checkFlags{fs: fs}
	fs.BoolVar(&f.json, "json", false, "check: print the result as JSON")
	fs.StringVar(&f.server, "server", "", "check: ask the modgate at `URL` for decisions (default: decide from the store)")
	fs.BoolVar(&f.symbols, "symbols", false, "check: also run govulncheck's symbol-level analysis on the project")
	return f
}

// checkOut is the result of `modgate check --json`. Its shape is stable:
// fields are only ever added.
type checkOut struct {
	// Project is the main module's path, "" if the input does not name it.
	Project string `json:"project"`
	// Source is "store" or the --server URL (without a password).
	Source string `json:"source"`
	// Policy is the --policy file (store only; "" for the default policy)
	// and Mode its mode (store only).
	Policy string `json:"policy,omitempty"`
	Mode   string `json:"mode,omitempty"`
	// VulnDBModified is the synced vulnerability data's modified time
	// (store only), RFC 3339.
	VulnDBModified string `json:"vulndb_modified,omitempty"`
	// Blocked reports whether the build would be blocked: some module's
	// Blocked is true. The exit code is 1 then.
	Blocked bool         `json:"blocked"`
	Summary checkSummary `json:"summary"`
	// Modules are every module of the build list, sorted by path, each with
	// its decision (findings empty when nothing matched).
	Modules []decisionOut `json:"modules"`
	// Symbols are govulncheck's findings (--symbols only), sorted by level
	// (called first) and ID; SymbolsError says why the analysis failed.
	Symbols      []symbolOut `json:"symbols,omitempty"`
	SymbolsError string      `json:"symbols_error,omitempty"`
}

// checkSummary counts modules: Blocked are refused; WouldBlock would be in
// enforce mode (audit mode: more than Blocked); Warned have a finding that
// does not block (a warn, or a block in audit mode); Exempted have a finding
// waived by an exemption.
type checkSummary struct {
	Modules    int `json:"modules"`
	Blocked    int `json:"blocked"`
	WouldBlock int `json:"would_block"`
	Warned     int `json:"warned"`
	Exempted   int `json:"exempted"`
}

// decisionOut is the decision on one version: the answer of a server's
// GET /api/decision/<module>/@v/<version>, and what check computes from the
// store in the same shape.
type decisionOut struct {
	Module     string       `json:"module"`
	Version    string       `json:"version"`
	Blocked    bool         `json:"blocked"`
	WouldBlock bool         `json:"would_block"`
	Findings   []findingOut `json:"findings"`
}

// findingOut is a [policy.Finding].
type findingOut struct {
	Rule     string `json:"rule"`
	Action   string `json:"action"` // block or warn
	Reason   string `json:"reason"`
	Advisory string `json:"advisory"`        // vulnerabilities only
	Fixed    string `json:"fixed"`           // vulnerabilities only; "" if no fix
	Until    string `json:"until,omitempty"` // min_age: RFC 3339
	// Exemption is the id of the exemption that waives the finding, 0 if none.
	Exemption int64 `json:"exemption"`
}

// symbolOut is one vulnerability govulncheck found.
type symbolOut struct {
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	Summary string   `json:"summary,omitempty"`
	Module  string   `json:"module"`
	Version string   `json:"version"`
	Fixed   string   `json:"fixed,omitempty"`
	// Level is "called" (the code reaches a vulnerable symbol), "imported"
	// (it imports a vulnerable package but calls none of its vulnerable
	// symbols) or "required" (the module is required, the package unused).
	Level string `json:"level"`
	// Calls are the vulnerable symbols reached (called only), like
	// "golang.org/x/text/language.Parse".
	Calls []string `json:"calls,omitempty"`
}

// runCheck runs `modgate check`.
func runCheck(ctx context.Context, e *env) error {
	f, _ := e.own.(*checkFlags)
	if f == nil || len(e.args) > 1 {
		return &usageError{msg: checkUsage}
	}
	arg := "."
	if len(e.args) == 1 {
		arg = e.args[0]
	}
	var server *url.URL
	if f.server != "" {
		u, err := url.Parse(f.server)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &usageError{msg: fmt.Sprintf("--server %q: want the http(s) URL of a running modgate\n%s", f.server, checkUsage)}
		}
		server = u
	}
	dir := ""
	if f.symbols {
		var err error
		if dir, err = projectDir(arg); err != nil {
			return &usageError{msg: err.Error()}
		}
	}
	bl, err := readProject(arg, os.Stdin)
	if err != nil {
		return err
	}
	out := &checkOut{Project: bl.Name, Modules: []decisionOut{}}
	if server != nil {
		out.Source = server.Redacted()
		err = decideRemote(ctx, e, server, bl.Modules, out)
	} else {
		out.Source = "store"
		err = decideLocal(ctx, e, bl.Modules, out, dir)
	}
	if err != nil {
		return err
	}
	summarize(out)
	if f.symbols && server != nil {
		syms, err := symbols(ctx, dir, strings.TrimSuffix(server.String(), "/")+"/vulndb", server.String())
		setSymbols(out, syms, err)
	}
	if f.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printCheck(e.stdout, out, f.symbols)
	}
	if out.SymbolsError != "" {
		fmt.Fprintf(e.stderr, "modgate check: --symbols: %s\n", out.SymbolsError)
	}
	if out.Blocked || out.SymbolsError != "" {
		return &exitError{code: 1}
	}
	return nil
}

// projectDir is the directory --symbols analyses: DIR, or the directory of
// the go.mod or go.sum given.
func projectDir(arg string) (string, error) {
	fi, err := os.Stat(arg)
	switch {
	case arg == "-":
		return "", errors.New("--symbols needs the project's directory (or its go.mod), not standard input")
	case err != nil:
		return "", err
	case fi.IsDir():
		return arg, nil
	case filepath.Base(arg) == "go.mod" || filepath.Base(arg) == "go.sum":
		return filepath.Dir(arg), nil
	}
	return "", fmt.Errorf("--symbols needs the project's directory (or its go.mod or go.sum), not %s", arg)
}

func setSymbols(out *checkOut, syms []symbolOut, err error) {
	if err != nil {
		out.SymbolsError = err.Error()
		return
	}
	out.Symbols = syms
}

// decideLocal decides on every module from the store, the --policy file and
// the exemptions, as the proxy does for a zip it serves. When dir is not
// empty it then runs the symbol analysis against the store's vulnerability
// data (served on a loopback port while it runs).
func decideLocal(ctx context.Context, e *env, mods []module.Version, out *checkOut, dir string) error {
	p := policy.Default()
	if e.cfg.Policy != "" {
		var err error
		if p, _, err = readPolicy(e.cfg.Policy); err != nil {
			return err
		}
		out.Policy = e.cfg.Policy
	}
	out.Mode = p.Mode
	st, sc, err := openScanner(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()
	status, err := sc.Status(ctx)
	if err != nil {
		return err
	}
	switch {
	case status.SyncedAt.IsZero() && e.cfg.VulnDB != "off":
		return errors.New("no vulnerability data yet: run `modgate vulndb sync` (with the same --database/--data) first, or give --vulndb off to check without it")
	case status.SyncedAt.IsZero():
		fmt.Fprintln(e.stderr, "warning: --vulndb off and no vulnerability data synced: vulnerabilities are not checked")
	case status.Stale:
		fmt.Fprintf(e.stderr, "warning: the vulnerability data is %v old, over --vulndb-max-age %v; run `modgate vulndb sync`\n",
			status.Age.Round(time.Hour), status.MaxAge)
	}
	out.VulnDBModified = fmtTime(status.DBModified)
	exemptions, err := st.ListExemptions(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, m := range mods {
		in := policy.Input{Module: m, Exemptions: exemptions}
		if in.Facts, in.Vulns, err = sc.Known(ctx, m); err != nil {
			return err
		}
		out.Modules = append(out.Modules, decisionJSON(m, p.Decide(in, now)))
	}
	if dir != "" {
		// Serve the synced copy, the data the decisions were made from, to
		// govulncheck on a loopback port for the length of the analysis.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("--symbols: serving the vulnerability data to govulncheck: %w", err)
		}
		srv := &http.Server{Handler: sc.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		syms, err := symbols(ctx, dir, "http://"+ln.Addr().String(), "")
		setSymbols(out, syms, err)
	}
	return nil
}

func decisionJSON(m module.Version, d policy.Decision) decisionOut {
	o := decisionOut{Module: m.Path, Version: m.Version, Blocked: d.Blocked, WouldBlock: d.WouldBlock, Findings: []findingOut{}}
	for _, f := range d.Findings {
		fo := findingOut{Rule: f.Rule, Action: string(f.Action), Reason: f.Reason, Advisory: f.Advisory, Fixed: f.Fixed,
			Exemption: f.Exemption}
		if !f.Until.IsZero() {
			fo.Until = f.Until.UTC().Format(time.RFC3339)
		}
		o.Findings = append(o.Findings, fo)
	}
	return o
}

// decideRemote asks the modgate at server for the decision on every module,
// a few at once.
func decideRemote(ctx context.Context, e *env, server *url.URL, mods []module.Version, out *checkOut) error {
	base := *server
	base.User = nil
	user, pass, auth := "", "", false
	if server.User != nil {
		user = server.User.Username()
		pass, _ = server.User.Password()
		auth = true
	}
	client := &http.Client{Timeout: time.Minute}
	results := make([]decisionOut, len(mods))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, m := range mods {
		g.Go(func() error {
			ep, err := module.EscapePath(m.Path)
			if err != nil {
				return &module.ModuleError{Path: m.Path, Version: m.Version, Err: err}
			}
			ev, err := module.EscapeVersion(m.Version)
			if err != nil {
				return &module.ModuleError{Path: m.Path, Version: m.Version, Err: err}
			}
			u := strings.TrimSuffix(base.String(), "/") + "/api/decision/" + ep + "/@v/" + ev
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			if auth {
				req.SetBasicAuth(user, pass)
			}
			req.Header.Set("Accept", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("%s@%s: asking %s: %w", m.Path, m.Version, base.Redacted(), err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
			if err != nil {
				return fmt.Errorf("%s@%s: reading the decision: %w", m.Path, m.Version, err)
			}
			switch {
			case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
				return fmt.Errorf("%s@%s: %s refused the decision request (%s): give credentials as --server https://user:token@host", m.Path, m.Version, base.Redacted(), resp.Status)
			case resp.StatusCode == http.StatusNotFound && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")):
				return fmt.Errorf("%s@%s: %s has no decision API (%s: %s): is it a modgate with /api/decision/?", m.Path, m.Version, base.Redacted(), resp.Status, oneLine(string(body)))
			case resp.StatusCode != http.StatusOK:
				return fmt.Errorf("%s@%s: decision: %s: %s", m.Path, m.Version, resp.Status, oneLine(string(body)))
			}
			var d decisionOut
			if err := json.Unmarshal(body, &d); err != nil {
				return fmt.Errorf("%s@%s: the decision is not the JSON expected: %w", m.Path, m.Version, err)
			}
			d.Module, d.Version = m.Path, m.Version
			for i, f := range d.Findings {
				if t, err := time.Parse(time.RFC3339Nano, f.Until); err == nil {
					d.Findings[i].Until = t.UTC().Format(time.RFC3339)
				}
			}
			if d.Findings == nil {
				d.Findings = []findingOut{}
			}
			results[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	out.Modules = results
	return nil
}

// summarize sorts the modules and fills in the summary and Blocked.
func summarize(out *checkOut) {
	sort.Slice(out.Modules, func(i, j int) bool {
		a, b := out.Modules[i], out.Modules[j]
		return a.Module < b.Module || a.Module == b.Module && a.Version < b.Version
	})
	s := &out.Summary
	s.Modules = len(out.Modules)
	for _, d := range out.Modules {
		if d.Blocked {
			s.Blocked++
			out.Blocked = true
		}
		if d.WouldBlock {
			s.WouldBlock++
		}
		warned, exempted := false, false
		for _, f := range d.Findings {
			switch {
			case f.Exemption != 0:
				exempted = true
			case f.Action == string(policy.Warn) || !d.Blocked:
				warned = true
			}
		}
		if warned {
			s.Warned++
		}
		if exempted {
			s.Exempted++
		}
	}
}

// label is how printCheck marks a finding of d.
func label(d decisionOut, f findingOut) (tag, note string) {
	switch {
	case f.Exemption != 0:
		return "EXEMPT", fmt.Sprintf(" (%s, waived by exemption %d)", f.Action, f.Exemption)
	case f.Action == string(policy.Block) && d.Blocked:
		return "BLOCK", ""
	case f.Action == string(policy.Block):
		return "WARN", " (audit mode: enforce would block)"
	}
	return "WARN", ""
}

func printCheck(w io.Writer, out *checkOut, symbols bool) {
	for _, d := range out.Modules {
		for _, f := range d.Findings {
			tag, note := label(d, f)
			fmt.Fprintf(w, "%-6s %s@%s: %s: %s%s\n", tag, d.Module, d.Version, f.Rule, oneLine(f.Reason), note)
		}
	}
	s := out.Summary
	var from string
	switch {
	case out.Source != "store":
		from = "decided by " + out.Source
	case out.Policy != "":
		from = fmt.Sprintf("policy %s (%s mode)", out.Policy, out.Mode)
	default:
		from = "the default policy (no --policy: blocks nothing)"
	}
	if out.VulnDBModified != "" {
		from += ", vulnerability data of " + out.VulnDBModified
	}
	verdict := "the build would not be blocked"
	if out.Blocked {
		verdict = "THE BUILD WOULD BE BLOCKED"
	}
	fmt.Fprintf(w, "%d modules checked: %d blocked, %d warned, %d exempted; %s (%s)\n",
		s.Modules, s.Blocked, s.Warned, s.Exempted, verdict, from)
	if !symbols || out.SymbolsError != "" {
		return
	}
	if len(out.Symbols) == 0 {
		fmt.Fprintln(w, "\nsymbol analysis (govulncheck): no vulnerabilities in the modules the code requires")
		return
	}
	called := 0
	fmt.Fprintln(w, "\nsymbol analysis (govulncheck):")
	for _, s := range out.Symbols {
		fixed := "no fixed version"
		if s.Fixed != "" {
			fixed = "fixed in " + s.Fixed
		}
		var what string
		switch s.Level {
		case "called":
			called++
			what = "your code calls " + strings.Join(s.Calls, ", ")
		case "imported":
			what = "your code imports a vulnerable package but calls none of its vulnerable symbols"
		default:
			what = "the module is required, the vulnerable packages are not imported"
		}
		fmt.Fprintf(w, "%-8s %s %s@%s (%s): %s\n", strings.ToUpper(s.Level), s.ID, s.Module, s.Version, fixed, what)
	}
	fmt.Fprintf(w, "%d of %d vulnerabilities reached by your code\n", called, len(out.Symbols))
}

// govulncheck's JSON output (golang.org/x/vuln/internal/govulncheck), the
// parts check reads: a stream of messages, each with one of these set.
type vulnMessage struct {
	OSV *struct {
		ID      string   `json:"id"`
		Aliases []string `json:"aliases"`
		Summary string   `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
		} `json:"trace"`
	} `json:"finding"`
}

var levelRank = map[string]int{"called": 0, "imported": 1, "required": 2}

// symbols runs govulncheck in-process on ./... in dir against the
// vulnerability database at db. goproxy, when set, is the GOPROXY for
// loading the packages; otherwise the environment's applies.
func symbols(ctx context.Context, dir, db, goproxy string) ([]symbolOut, error) {
	env := os.Environ()
	if goproxy != "" {
		env = append(env, "GOPROXY="+goproxy)
	}
	var stdout, stderr bytes.Buffer
	cmd := scan.Command(ctx, "-C", dir, "-db", db, "-format", "json", "./...")
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, strings.NewReader(""), &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("govulncheck in %s: %v\n%s", dir, err, strings.TrimSpace(stderr.String()))
	}
	byID := map[string]*symbolOut{}
	var order []string
	dec := json.NewDecoder(&stdout)
	for {
		var msg vulnMessage
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("govulncheck output: %w", err)
		}
		if o := msg.OSV; o != nil {
			s := get(byID, &order, o.ID)
			s.Aliases, s.Summary = o.Aliases, o.Summary
		}
		f := msg.Finding
		if f == nil || len(f.Trace) == 0 {
			continue
		}
		s := get(byID, &order, f.OSV)
		top := f.Trace[0] // the vulnerable end of the trace
		s.Module, s.Version, s.Fixed = top.Module, top.Version, f.FixedVersion
		level, sym := "required", ""
		switch {
		case top.Function != "":
			level = "called"
			sym = top.Package + "."
			if r := strings.TrimPrefix(top.Receiver, "*"); r != "" {
				sym += r + "."
			}
			sym += top.Function
		case top.Package != "":
			level = "imported"
		}
		if s.Level == "" || levelRank[level] < levelRank[s.Level] {
			s.Level = level
		}
		if sym != "" && !contains(s.Calls, sym) {
			s.Calls = append(s.Calls, sym)
		}
	}
	var out []symbolOut
	for _, id := range order {
		if s := byID[id]; s.Level != "" { // OSV entries without a finding do not affect the code
			sort.Strings(s.Calls)
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return levelRank[a.Level] < levelRank[b.Level] || a.Level == b.Level && a.ID < b.ID
	})
	return out, nil
}

func get(m map[string]*symbolOut, order *[]string, id string) *symbolOut {
	s, ok := m[id]
	if !ok {
		s = &symbolOut{ID: id}
		m[id] = s
		*order = append(*order, id)
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
