package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/sbom"
	"github.com/modgate/modgate/sbom/assembly"
	"github.com/modgate/modgate/sbom/buildlist"
	"github.com/modgate/modgate/web"
)

const sbomUsage = `usage:
  modgate sbom get MODULE@VERSION [--format F]
  modgate sbom project [DIR | go.mod | FILE | -] [--name N] [--format F]
  modgate sbom window --client C [--client C2 ...] [--since T] [--until T] [--format F]

F is spdx-json (the default), spdx-tv or cyclonedx-json. The SBOM goes to
standard output.

get: the SBOM modgate made when it ingested the version.
project: one SBOM of a project's build list. DIR (default .) is read for its
  go.mod and go.sum; a go.mod file is read with the go.sum beside it; any
  other FILE, or - for standard input, is a go.sum, the output of
  'go list -m all', or module@version lines. The most exact build list is
  'go list -m all | modgate sbom project -' (modgate does not run the go
  command itself: that may download toolchains and modules).
  Each module has its status from the audit log: served (its zip was
  served), blocked (its zip was refused), metadata only (only its .info or
  .mod were served) or not fetched.
window: one SBOM of what the clients (token names or IP addresses, as in
  the audit log) built in [--since, --until): every module version whose zip
  they were served (served) or refused (blocked). Versions of which only the
  .info or .mod were served are left out; the document's root counts them.

Times are RFC 3339 (2026-03-01T08:00:00Z) or dates (2026-03-01, midnight UTC).`

// sbomFlags are the flags of `modgate sbom`.
type sbomFlags struct {
	fs                         *flag.FlagSet
	format, name, since, until string
	clients                    listFlag
}

// registerSBOMFlags defines `modgate sbom`'s own flags on the command's flag
// set; ownFlags returns it for "sbom".
func registerSBOMFlags(fs *flag.FlagSet) any {
	f := &sbomFlags{fs: fs}
	fs.StringVar(&f.format, "format", "spdx-json", "sbom: output `format`: spdx-json, spdx-tv or cyclonedx-json")
	fs.StringVar(&f.name, "name", "", "sbom project: the project's `name` (default: the go.mod's module path)")
	fs.Var(&f.clients, "client", "sbom window: a client's token name or IP `address` (repeat for a team)")
	fs.StringVar(&f.since, "since", "", "sbom window: fetches at or after this `time`")
	fs.StringVar(&f.until, "until", "", "sbom window: fetches before this `time` (default: now)")
	return f
}

// listFlag is a flag that may be repeated.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// registerSBOMSettings defines the SBOM settings (shared by serve, which
// makes and serves SBOMs, and `modgate sbom`).
func (c *config) registerSBOMSettings(fs *flag.FlagSet) {
	fs.StringVar(&c.SBOMNamespace, "sbom-namespace", "https://modgate.invalid/sbom",
		"absolute http(s) `URL` under which SBOM document namespaces (their ids) are minted; set it to this modgate's URL + /sbom")
	fs.StringVar(&c.SBOMOrg, "sbom-organization", "", "organization `name` written as a creator of every SBOM; empty: none")
}

func (c *config) validateSBOM() []error {
	u, err := url.Parse(c.SBOMNamespace)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.ContainsAny(c.SBOMNamespace, " \t\r\n?#") {
		return []error{fmt.Errorf("--sbom-namespace %q: want an absolute http(s) URL without query or fragment", c.SBOMNamespace)}
	}
	return nil
}

// sbomBase is the generation settings of the configuration: the Options
// the proxy makes SBOMs with and the API renders them with.
func sbomBase(cfg config) sbom.Options {
	return sbom.Options{Namespace: cfg.SBOMNamespace, ToolVersion: version(), Organization: cfg.SBOMOrg}
}

// mountSBOM serves the SBOM API (web.NewSBOMHandler) under /api/sbom/. The
// authentication middleware in front of the mux requires the auditor role.
func mountSBOM(mux *http.ServeMux, cfg config, st store.Store, e *env) {
	mux.Handle("/api/sbom/", web.NewSBOMHandler(web.SBOMOptions{
		SBOMs: st, Audit: st, Facts: st, Artifacts: st, Base: sbomBase(cfg), Logger: e.log}))
}

// sbomBuilder is what `modgate sbom` renders and assembles SBOMs with: the
// same as the SBOM API.
func sbomBuilder(cfg config, st store.Store) *assembly.Builder {
	return assembly.New(assembly.Options{SBOMs: st, Audit: st, Facts: st, Artifacts: st, Base: sbomBase(cfg)})
}

// runSBOM runs `modgate sbom get|project|window`.
func runSBOM(ctx context.Context, e *env) error {
	f, _ := e.own.(*sbomFlags)
	if len(e.args) == 0 || f == nil {
		return &usageError{msg: sbomUsage}
	}
	sub, args := e.args[0], e.args[1:]
	// Reject flags of another sbom command rather than ignore them.
	allowed := map[string][]string{
		"get":     {"format"},
		"project": {"format", "name"},
		"window":  {"format", "client", "since", "until"},
	}[sub]
	if allowed == nil {
		return &usageError{msg: fmt.Sprintf("unknown sbom command %q\n%s", sub, sbomUsage)}
	}
	var bad error
	f.fs.Visit(func(fl *flag.Flag) {
		own := fl.Name == "format" || fl.Name == "name" || fl.Name == "client" || fl.Name == "since" || fl.Name == "until"
		ok := false
		for _, a := range allowed {
			ok = ok || a == fl.Name
		}
		if own && !ok && bad == nil {
			bad = &usageError{msg: fmt.Sprintf("sbom %s does not take --%s\n%s", sub, fl.Name, sbomUsage)}
		}
	})
	if bad != nil {
		return bad
	}
	format, err := sbom.ParseFormat(f.format)
	if err != nil {
		return &usageError{msg: "--format: " + err.Error()}
	}
	// Check the command line before opening the database.
	var run func(b *assembly.Builder) error
	switch sub {
	case "get":
		if len(args) != 1 {
			return &usageError{msg: "sbom get takes one MODULE@VERSION\n" + sbomUsage}
		}
		path, vers, ok := strings.Cut(args[0], "@")
		m := module.Version{Path: path, Version: vers}
		if !ok || module.Check(path, vers) != nil || module.CanonicalVersion(vers) != vers {
			return &usageError{msg: fmt.Sprintf("sbom get %q: want MODULE@VERSION with a canonical version", args[0])}
		}
		run = func(b *assembly.Builder) error { return b.WriteModule(ctx, e.stdout, format, m) }
	case "project":
		if len(args) > 1 {
			return &usageError{msg: "sbom project takes at most one DIR, file or -\n" + sbomUsage}
		}
		arg := "."
		if len(args) == 1 {
			arg = args[0]
		}
		bl, err := readProject(arg, os.Stdin)
		if err != nil {
			return err
		}
		if f.name != "" {
			bl.Name = f.name
		}
		run = func(b *assembly.Builder) error { return b.WriteProject(ctx, e.stdout, format, bl) }
	case "window":
		if len(args) != 0 {
			return &usageError{msg: "sbom window takes no arguments\n" + sbomUsage}
		}
		if len(f.clients) == 0 {
			return &usageError{msg: "sbom window needs --client\n" + sbomUsage}
		}
		w := assembly.Window{Clients: f.clients}
		for _, t := range []struct {
			name, val string
			to        *time.Time
		}{{"since", f.since, &w.Since}, {"until", f.until, &w.Until}} {
			if t.val == "" {
				continue
			}
			if *t.to, err = audit.ParseTime(t.val); err != nil {
				return &usageError{msg: "--" + t.name + ": " + err.Error()}
			}
		}
		run = func(b *assembly.Builder) error { return b.WriteWindow(ctx, e.stdout, format, w) }
	}
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	return run(sbomBuilder(e.cfg, st))
}

// readProject reads the build list named by arg: a directory (its go.mod
// and go.sum), a go.mod file (with the go.sum beside it), "-" (stdin) or
// another file, in the forms buildlist.Parse takes.
func readProject(arg string, stdin io.Reader) (*buildlist.List, error) {
	var gomod, list []byte
	var err error
	switch fi, statErr := os.Stat(arg); {
	case arg == "-":
		if list, err = io.ReadAll(stdin); err != nil {
			return nil, fmt.Errorf("reading standard input: %w", err)
		}
	case statErr != nil:
		return nil, statErr
	case fi.IsDir() || filepath.Base(arg) == "go.mod":
		dir, modFile := arg, filepath.Join(arg, "go.mod")
		if !fi.IsDir() {
			dir, modFile = filepath.Dir(arg), arg
		}
		if gomod, err = os.ReadFile(modFile); err != nil {
			return nil, err
		}
		list, err = os.ReadFile(filepath.Join(dir, "go.sum"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	default:
		if list, err = os.ReadFile(arg); err != nil {
			return nil, err
		}
	}
	bl, err := buildlist.Parse(gomod, list)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	return bl, nil
}
