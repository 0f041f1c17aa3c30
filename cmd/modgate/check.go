package main

import (
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
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/check"
	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/scanner"
)

const checkUsage = `usage:
  modgate check [DIR | go.mod | go.sum | FILE | -] [--json] [--server URL] [--symbols] [--base OLD_GO_SUM]

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
the policy file --policy (empty: the default policy, which blocks only malware
and capabilities newly reached from package initialisation) and
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

--base OLD_GO_SUM reads the build list before the change (a go.sum, go.mod or
DIR, as above) and reports, for every module whose version changed, what the
new version's code can do that the old one's could not: capabilities
(EXEC, NETWORK, FILES_WRITE, ...; "in init" when package initialisation
reaches them) with file:line, and programs added to the zip ("example.com/m
v1.3.3 adds EXEC in init (decimal.go:12) (compared with v1.3.2)"), from the
facts modgate recorded when it fetched both versions (with --server: GET
/api/versions/..., an auditor's token). It does not change the exit code:
the policy's capabilities rule decides, as for any fetch.

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
   "symbols_error": why --symbols failed,
   "base": --base, "changes": [{"module", "from", "to", "added": [{"capability",
     "package", "file", "line", "via", "init", "init_path"}],
     "added_binaries": [{"file", "kind"}], "note": why not compared}]}
Every module of the build list is listed, sorted by path.`

type checkFlags struct {
	fs      *flag.FlagSet
	json    bool
	server  string
	symbols bool
	base    string
}

// registerCheckFlags defines `modgate check`'s own flags on the command's
// flag set; ownFlags returns it for "check".
func registerCheckFlags(fs *flag.FlagSet) any {
	f := &checkFlags{fs: fs}
	fs.BoolVar(&f.json, "json", false, "check: print the result as JSON")
	fs.StringVar(&f.server, "server", "", "check: ask the modgate at `URL` for decisions (default: decide from the store)")
	fs.BoolVar(&f.symbols, "symbols", false, "check: also run govulncheck's symbol-level analysis on the project")
	fs.StringVar(&f.base, "base", "", "check: report what each module upgraded since the build list `OLD_GO_SUM` (a go.sum, go.mod or DIR) adds: capabilities, programs")
	return f
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
	var baseMods []module.Version
	if f.base != "" {
		if f.base == "-" && arg == "-" {
			return &usageError{msg: "--base -: standard input is already the build list\n" + checkUsage}
		}
		bb, err := readProject(f.base, os.Stdin)
		if err != nil {
			return fmt.Errorf("--base: %w", err)
		}
		baseMods = bb.Modules
	}
	out := &check.Result{Project: bl.Name, Modules: []check.Decision{}}
	if server != nil {
		out.Source = server.Redacted()
		out.Modules, err = check.Remote(ctx, server, bl.Modules)
		if err == nil && f.base != "" {
			out.Changes, err = check.Changes(ctx, check.RemoteCapabilities(server), baseMods, bl.Modules)
		}
	} else {
		out.Source = "store"
		err = decideLocal(ctx, e, bl.Modules, out, dir, baseMods, f.base != "")
	}
	if err != nil {
		return err
	}
	if f.base != "" {
		out.Base = f.base
		if out.Changes == nil {
			out.Changes = []check.Change{}
		}
	}
	out.Summarize()
	if f.symbols && server != nil {
		out.SetSymbols(check.Symbols(ctx, dir, strings.TrimSuffix(server.String(), "/")+"/vulndb", server.String()))
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

// decideLocal decides on every module from the store, the --policy file and
// the exemptions, as the proxy does for a zip it serves. When dir is not
// empty it then runs the symbol analysis against the store's vulnerability
// data (served on a loopback port while it runs).
func decideLocal(ctx context.Context, e *env, mods []module.Version, out *check.Result, dir string, baseMods []module.Version, compare bool) error {
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
	// Missing data is decided by the policy (vulnerabilities.unknown), as the
	// proxy decides it.
	data, err := proxy.DataState(ctx, sc, e.cfg.Index == "off")
	if err != nil {
		return err
	}
	for _, why := range data.FeedsMissing(time.Now()) {
		fmt.Fprintf(e.stderr, "warning: %s: malware records of this feed are not checked (run `modgate vulndb sync` with the same --database/--data/--advisories)\n", why)
	}
	switch {
	case status.SyncedAt.IsZero():
		fmt.Fprintln(e.stderr, "warning: no vulnerability data synced: vulnerabilities are not checked (run `modgate vulndb sync` with the same --database/--data)")
	case status.Stale:
		fmt.Fprintln(e.stderr, staleWarning(status, time.Now()))
	}
	out.VulnDBModified = fmtTime(status.DBModified)
	exemptions, err := st.ListExemptions(ctx)
	if err != nil {
		return err
	}
	// Where modules come from (look-alikes, clones) and their capability
	// facts, as the proxy reads them, besides the scanner's facts.
	facts := resemblanceFacts{Scanner: sc, Resemblance: scanner.NewResemblance(scanner.ResemblanceOptions{Store: st, Logger: e.log}), Capabilities: st}
	if out.Modules, err = check.Local(ctx, p, facts, exemptions, data, mods, time.Now()); err != nil {
		return err
	}
	if compare {
		if out.Changes, err = check.Changes(ctx, st, baseMods, mods); err != nil {
			return err
		}
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
		out.SetSymbols(check.Symbols(ctx, dir, "http://"+ln.Addr().String(), ""))
	}
	return nil
}

func printCheck(w io.Writer, out *check.Result, symbols bool) {
	for _, d := range out.Modules {
		for _, f := range d.Findings {
			tag, note := check.Label(d, f)
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
		from = "the default policy (no --policy: blocks only malware and new capabilities in init)"
	}
	if out.VulnDBModified != "" {
		from += ", vulnerability data of " + out.VulnDBModified
	}
	if out.Base != "" {
		fmt.Fprintf(w, "\ncapability changes since %s:\n", out.Base)
		for _, c := range out.Changes {
			fmt.Fprintln(w, "  "+c.Line())
		}
		if len(out.Changes) == 0 {
			fmt.Fprintln(w, "  no module changed version")
		}
		fmt.Fprintln(w)
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

// resemblanceFacts gives check.Local the facts of the scanner and the look-alike
// and clone checks of scanner.Resemblance (Of), as the proxy decides with both.
type resemblanceFacts struct {
	*scanner.Scanner
	*scanner.Resemblance
	store.Capabilities
}

var _ check.CapabilitySource = resemblanceFacts{} // capability facts reach check.Local
