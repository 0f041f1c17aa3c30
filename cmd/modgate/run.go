package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/postgres"
	"github.com/modgate/modgate/internal/store/sqlite"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, e *env) error
}

// env is what a subcommand runs with.
type env struct {
	cfg    config
	args   []string // arguments after the flags
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
	own    any // the command's own flags (see ownFlags), parsed
}

func commands() []command {
	return []command{
		{"serve", "run the proxy (the default)", runServe},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"checksum", "import (from go.sum files), list or verify known-good module hashes", runChecksum},
		{"vulndb", "sync the vulnerability database now (vulndb sync) or show its state (vulndb status)", runVulnDB},
		{"recheck", "ask the upstreams again about every cached version now (takedowns, moved tags)", runRecheck},
		{"vuln", "print the known vulnerabilities of MODULE@VERSION (add --json after it for JSON)", runVuln},
		{"audit", "check (audit verify), export (audit export) or prune (audit prune) the audit log", runAudit},
		{"sbom", "print an SBOM: of a version (sbom get), a project (sbom project) or a client's fetches (sbom window)", runSBOM},
		{"exempt", "grant (exempt add), list (exempt list) or remove (exempt rm) policy exemptions", runExempt},
		{"policy", "validate a policy file (policy check FILE) or make the server reload its --policy (policy reload)", runPolicy},
		{"check", "evaluate a project's build list against the policy (check [DIR|go.mod|go.sum] [--json] [--server URL] [--symbols]); exit 1 if blocked", runCheck},
		{"token", "create (token create --name N --role R), list (token list) or revoke (token revoke NAME) client tokens", runToken},
		{"blobs", "copy the zip blobs to another blob store, verifying each (blobs migrate --from URL --to URL)", runBlobs},
		{"version", "print the version", runVersion},
	}
}

// usageError is a command line that cannot be run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var x *exitError
	if errors.As(err, &x) {
		return x.code
	}
	var u *usageError
	if errors.Is(err, flag.ErrHelp) || errors.As(err, &u) {
		return 2
	}
	return 1
}

// run is modgate without the process: args exclude the program name.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		printUsage(stdout)
		return nil
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		printUsage(stderr)
		return &usageError{msg: fmt.Sprintf("unknown command %q", name)}
	}
	e := &env{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("modgate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	e.cfg.register(fs)
	e.own = ownFlags(name, fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: modgate %s [flags]\n\n%s.\n\nEvery flag can also be set as MODGATE_<NAME> in the environment or as a key in the --config file.\n\n", name, cmd.summary)
		fs.PrintDefaults()
	}
	positional, err := parseConfig(fs, &e.cfg, args, getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{msg: err.Error()}
	}
	e.args = positional
	e.log = newLogger(stderr, e.cfg)
	return cmd.run(ctx, e)
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "modgate: a Go module proxy that is a supply-chain security gate\n\nusage: modgate [command] [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'modgate <command> -h' for the settings.\n")
}

func newLogger(w io.Writer, cfg config) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens (and migrates) the configured database.
func openStore(ctx context.Context, cfg config) (store.Store, error) {
	if isPostgres(cfg.Database) {
		return postgres.Open(ctx, cfg.Database)
	}
	if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	return sqlite.Open(ctx, filepath.Join(cfg.Data, "modgate.db"))
}

func runMigrate(ctx context.Context, e *env) error {
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintln(e.stdout, "database is up to date")
	return nil
}

func runVersion(ctx context.Context, e *env) error {
	fmt.Fprintln(e.stdout, "modgate", version())
	return nil
}

// version is the module version modgate was built at, or "devel".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
