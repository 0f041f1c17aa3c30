package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/proxy/verify"
)

// config holds every setting. Each is a flag, an environment variable
// (MODGATE_ + the flag name in upper case, "-" as "_") and a key of the optional
// YAML file given by --config; a flag wins over the environment, which wins over
// the file. Defaults live here, in register, and nowhere else.
type config struct {
	Config          string
	Listen          string
	Data            string
	Database        string
	Upstream        string
	Private         string
	PrivateUpstream string
	SumDB           string
	SumDBPrefetch   bool          // see proxy.Options.NoPrefetch
	ReadAhead       readAheadMode // see proxy.Options.NoReadAhead, NoZipReadAhead
	NoSumDB         string
	AllowUnknown    bool
	SumDBFailOpen   bool
	ListTTL         time.Duration
	FetchTimeout    time.Duration
	BlobVerifyTTL   time.Duration // see blob.Dir.SetVerifyTTL
	BlobStore       string        // blobs.go
	BlobRedirect    bool
	UpstreamTimeout time.Duration
	IdleTimeout     time.Duration
	ShutdownTimeout time.Duration
	DrainDelay      time.Duration // fleet: readyz 503 before the listener closes
	FetchLeaseTTL   time.Duration // fleet: see proxy.Options.FetchLeaseTTL
	NotFoundTTL     time.Duration // fleet: see proxy.Options.MissingTTL
	LogLevel        string
	LogFormat       string
	VulnDB          string
	VulnDBInterval  time.Duration
	VulnDBMaxAge    time.Duration
	Index           string // module index feed (pubindex.go)
	IndexInterval   time.Duration
	RecheckInterval time.Duration // upstream rechecks (recheck.go)
	RecheckRate     float64
	Advisories      string // comma-separated OSV feed URLs (see advisories.go)
	FeedsInterval   time.Duration
	NotifyURL       string
	AuditFlush      time.Duration
	AuditSpool      string
	AuditRetention  days
	AuditStream     string
	TrustedProxies  string
	SBOMNamespace   string
	SBOMOrg         string
	Policy          string
	Auth            string // required or off
	TLSCert         string
	TLSKey          string

	// Outbound requests (see egress.go).
	DirectAllow           string
	UpstreamRedirectAllow string
	UpstreamMinRate       int64
	DirectMaxPerHost      int
	DirectMaxTotal        int

	// Signed checkpoints of the audit chain (see newCheckpointer).
	AuditKey                string
	AuditCheckpointInterval time.Duration

	DebugListen string // net/http/pprof on its own listener (see debug.go); empty: off
	MemoryLimit string // the Go heap's soft limit (memlimit.go)
}

// defaultUpstream is the go command's default GOPROXY.
const defaultUpstream = "https://proxy.golang.org,direct"

// register defines every setting on fs. Every subcommand gets all of them, so it
// reaches the same store and data as the server.
func (c *config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Config, "config", "", "optional YAML `file` with settings (keys are flag names)")
	fs.StringVar(&c.Listen, "listen", "localhost:7070", "`address` to serve on")
	fs.StringVar(&c.Data, "data", "./modgate-data", "`directory` for the embedded database and the artifact blobs")
	fs.StringVar(&c.Database, "database", "", "database `DSN`: empty for the embedded SQLite database in --data, or postgres://...")
	fs.StringVar(&c.Upstream, "upstream", defaultUpstream, "upstream `list` in GOPROXY syntax (URLs, direct, off; ',' falls through on 404/410, '|' on any error)")
	fs.StringVar(&c.Private, "private", "", "private module `patterns` in GOPRIVATE syntax: fetched only from --private-upstream, never looked up in the public checksum database")
	fs.StringVar(&c.PrivateUpstream, "private-upstream", "direct", "upstream `list` in GOPROXY syntax for private modules")
	fs.StringVar(&c.SumDB, "sumdb", "sum.golang.org", "checksum database in GOSUMDB syntax (name, name+hash+key, 'name+hash+key URL', or off)")
	fs.StringVar(&c.NoSumDB, "nosumdb", "", "module `patterns` (GONOSUMDB syntax) never looked up in the checksum database: their hashes are pinned on first use, like --private modules")
	fs.BoolVar(&c.AllowUnknown, "sumdb-allow-unknown", false, "serve public versions the checksum database does not know (pinned on first use, audited) instead of refusing them")
	fs.BoolVar(&c.SumDBPrefetch, "sumdb-prefetch", true, "when a go.mod is fetched, look up the checksum-database records of the versions it requires ahead of the client's requests for them (the database only; --read-ahead says what is fetched from upstream ahead)")
	c.ReadAhead = readAheadAll
	fs.Var(&c.ReadAhead, "read-ahead", "fetch and check ahead, from the same upstreams, what the go command asks for next; `mode` is all (the go.mod files an unpruned go.mod (go < 1.17) requires, and a version's .zip when a client asks for its .info, as go mod download does), mods (the go.mod files only) or off; true and false mean all and off. Nothing is served that a client did not ask for")
	fs.BoolVar(&c.SumDBFailOpen, "sumdb-fail-open", false, "serve uncached artifacts unverified (pinned on first use, audited) while the checksum database is unreachable, instead of refusing them with 502")
	fs.DurationVar(&c.ListTTL, "list-ttl", time.Minute, "how long @v/list and @latest answers are served from the cache before upstream is asked again")
	fs.DurationVar(&c.FetchTimeout, "fetch-timeout", 10*time.Minute, "longest time one upstream fetch (including a large zip) may take")
	c.registerBlobStore(fs)
	fs.DurationVar(&c.BlobVerifyTTL, "blob-verify-ttl", blob.DefaultVerifyTTL, "how long a zip blob verified whole is served without hashing while its file is unchanged (with an s3:// --blob-store: how long it may be redirected to, see --blob-redirect); 0 hashes every serve")
	fs.DurationVar(&c.UpstreamTimeout, "upstream-timeout", 30*time.Second, "longest wait for an upstream's response headers or a small answer")
	fs.DurationVar(&c.IdleTimeout, "upstream-idle-timeout", 30*time.Second, "longest pause in an upstream body before the download fails")
	c.registerEgress(fs)
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 2*time.Minute, "on SIGTERM, how long in-flight requests may take to finish")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 5*time.Second, "on SIGTERM, how long /readyz answers 503 (and requests are still served) before the listener closes, so a load balancer takes the replica out first")
	fs.DurationVar(&c.FetchLeaseTTL, "fetch-lease-ttl", 30*time.Second, "how long a replica's fetch lease lasts without its heartbeat before another replica takes the fetch over")
	fs.DurationVar(&c.NotFoundTTL, "not-found-ttl", time.Minute, "how long every replica remembers an upstream 404/410 for a .info, .mod or .zip before asking again; 0: not remembered")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&c.VulnDB, "vulndb", "https://vuln.go.dev", "Go vulnerability database `URL` (https://, http:// or file:///dir) to sync from, or off")
	fs.DurationVar(&c.VulnDBInterval, "vulndb-interval", time.Hour, "how often serve syncs the vulnerability database")
	fs.StringVar(&c.Advisories, "advisories", "", "comma-separated `LIST` of more OSV feeds synced with the vulnerability database (malware records): file:///dir (a tree of OSV JSON files) or an https:// or file:// URL of a zip of OSV JSON files")
	fs.DurationVar(&c.FeedsInterval, "advisories-interval", 0, "how often serve syncs the --advisories feeds; 0: every --vulndb-interval")
	fs.DurationVar(&c.VulnDBMaxAge, "vulndb-max-age", 7*24*time.Hour, "vulnerability data older than this is reported as stale (logs, /vulndb-status, /metrics)")
	c.registerIndex(fs)
	c.registerRecheck(fs)
	fs.StringVar(&c.NotifyURL, "notify-url", "", "webhook `URL` that gets a JSON POST when a sync finds stored versions newly affected by advisories")
	fs.DurationVar(&c.AuditFlush, "audit-flush", 0, "0: group commit, every answer waits for its audit record's commit (records of concurrent requests share a transaction) and a crash loses none; D: append in batches every D without waiting, losing up to D of records in a crash")
	fs.StringVar(&c.AuditSpool, "audit-spool", "", "`dir` of the audit spool, a write-ahead file of group commit: answers wait for their records' write to it (kill -9 loses none) instead of the database commit, and records are appended in bulk behind them; empty: --data/audit-spool with SQLite, none with PostgreSQL (set it to a directory that outlives the process); off: none")
	c.AuditRetention = 400 * days(24*time.Hour)
	fs.Var(&c.AuditRetention, "audit-retention", "how long audit records are kept, in days (400d) or a Go duration; 0 keeps them forever")
	fs.StringVar(&c.AuditStream, "audit-stream", "", "copy audit records as JSON lines to `stdout` or a webhook URL (for a SIEM); empty: off")
	fs.StringVar(&c.AuditKey, "audit-key", "", "note signer key `file` that signs audit checkpoints (modgate audit keygen writes one); empty: --data/audit-checkpoint.key, made on first start")
	fs.DurationVar(&c.AuditCheckpointInterval, "audit-checkpoint-interval", time.Hour, "how often serve signs and publishes a checkpoint of the audit chain (also at start and on shutdown)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "reverse proxy `CIDRs` (comma-separated) whose X-Forwarded-For names the client in audit records")
	c.registerSBOMSettings(fs)
	fs.StringVar(&c.Policy, "policy", "", "policy `file` (YAML; see README \"Policy\"): what is blocked or warned about; empty: report everything, block nothing. Reloaded on SIGHUP and by 'modgate policy reload'")
	fs.StringVar(&c.Auth, "auth", "off", "client authentication: `required` (every route but /healthz, /readyz and the login page needs a token; see 'modgate token') or off (everyone is admin; for localhost only)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve HTTPS with this certificate `file` (PEM, with --tls-key); empty: plain HTTP")
	fs.StringVar(&c.TLSKey, "tls-key", "", "private key `file` (PEM) of --tls-cert")
	fs.StringVar(&c.MemoryLimit, "memory-limit", defaultMemoryLimit, "soft `limit` of the Go heap (56MiB, 1GiB; off: none): the garbage collector runs sooner as the heap nears it, never refuses memory; the GOMEMLIMIT environment variable wins")
	fs.StringVar(&c.DebugListen, "debug-listen", "", "`address` of a separate listener serving net/http/pprof under /debug/pprof/ (no authentication: keep it on localhost); empty: off")
}

// envName is the environment variable of a flag.
func envName(flagName string) string {
	return "MODGATE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig parses args for the flag set fs (on which c registered), then fills
// every setting not given as a flag from the environment, then from the file.
// It returns the arguments that are not flags; flags may come before, between
// or after them ("--" ends the flags).
func parseConfig(fs *flag.FlagSet, c *config, args []string, getenv func(string) string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			positional = append(positional, args[1:]...)
			break
		}
		positional, args = append(positional, args[0]), args[1:]
	}
	return positional, parseRest(fs, c, getenv)
}

// parseRest fills the settings not given as flags from the environment, then
// from the file, and validates the result.
func parseRest(fs *flag.FlagSet, c *config, getenv func(string) string) error {
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if !explicit["config"] && getenv(envName("config")) != "" {
		c.Config = getenv(envName("config"))
		explicit["config"] = true
	}
	var fileVals map[string]fileValue
	if c.Config != "" {
		var err error
		fileVals, err = readConfigFile(c.Config)
		if err != nil {
			return err
		}
		for name, v := range fileVals {
			if fs.Lookup(name) == nil || name == "config" {
				return fmt.Errorf("%s:%d: unknown setting %q (known: %s)", c.Config, v.line, name, knownSettings(fs))
			}
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if explicit[f.Name] {
			return
		}
		if env := getenv(envName(f.Name)); env != "" {
			if err := fs.Set(f.Name, env); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", envName(f.Name), env, err))
			}
			return
		}
		if v, ok := fileVals[f.Name]; ok {
			if err := fs.Set(f.Name, v.value); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %v", c.Config, v.line, f.Name, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.validate()
}

func knownSettings(fs *flag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	return strings.Join(names, ", ")
}

type fileValue struct {
	value string
	line  int
}

// readConfigFile reads a YAML mapping of setting names to scalars (a sequence of
// scalars is joined with commas, as for --private patterns).
func readConfigFile(path string) (map[string]fileValue, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	var doc yaml.Node
	if err := yaml.NewDecoder(f).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: expected a mapping of setting names to values", path, root.Line)
	}
	vals := map[string]fileValue{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		name := strings.ReplaceAll(k.Value, "_", "-")
		if _, dup := vals[name]; dup {
			return nil, fmt.Errorf("%s:%d: setting %q given twice", path, k.Line, k.Value)
		}
		switch v.Kind {
		case yaml.ScalarNode:
			vals[name] = fileValue{value: v.Value, line: v.Line}
		case yaml.SequenceNode:
			var parts []string
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("%s:%d: %s: expected a list of strings", path, e.Line, k.Value)
				}
				parts = append(parts, e.Value)
			}
			vals[name] = fileValue{value: strings.Join(parts, ","), line: v.Line}
		default:
			return nil, fmt.Errorf("%s:%d: %s: expected a string, number or list", path, v.Line, k.Value)
		}
	}
	return vals, nil
}

func (c *config) validate() error {
	var errs []error
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.LogFormat))
	}
	if c.Data == "" {
		errs = append(errs, errors.New("--data must not be empty"))
	} else if abs, err := filepath.Abs(c.Data); err != nil {
		errs = append(errs, fmt.Errorf("--data: %v", err))
	} else {
		c.Data = abs
	}
	if c.Database != "" && !isPostgres(c.Database) {
		errs = append(errs, errors.New("--database: want empty (embedded SQLite) or a PostgreSQL DSN (postgres://... or host=... dbname=...)"))
	}
	for name, d := range map[string]time.Duration{"list-ttl": c.ListTTL, "fetch-timeout": c.FetchTimeout,
		"upstream-timeout": c.UpstreamTimeout, "upstream-idle-timeout": c.IdleTimeout, "shutdown-timeout": c.ShutdownTimeout} {
		if d < 0 || (d == 0 && name != "list-ttl") {
			errs = append(errs, fmt.Errorf("--%s %v: must be positive", name, d))
		}
	}
	if c.FetchLeaseTTL <= 0 {
		errs = append(errs, fmt.Errorf("--fetch-lease-ttl %v: must be positive", c.FetchLeaseTTL))
	}
	if c.NotFoundTTL < 0 || c.DrainDelay < 0 {
		errs = append(errs, fmt.Errorf("--not-found-ttl %v, --drain-delay %v: must not be negative", c.NotFoundTTL, c.DrainDelay))
	}
	if err := validDebugListen(c.DebugListen, c.Listen); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseMemoryLimit(c.MemoryLimit); err != nil {
		errs = append(errs, err)
	}
	if c.BlobVerifyTTL < 0 {
		errs = append(errs, fmt.Errorf("--blob-verify-ttl %v: must not be negative", c.BlobVerifyTTL))
	}
	errs = append(errs, c.validateBlobStore()...)
	errs = append(errs, c.validateVuln()...)
	errs = append(errs, c.validateEgress()...)
	errs = append(errs, c.validateAudit()...)
	errs = append(errs, c.validateSBOM()...)
	errs = append(errs, c.validateRecheck()...)
	if c.Policy != "" {
		if data, err := os.ReadFile(c.Policy); err != nil {
			errs = append(errs, fmt.Errorf("--policy: %w", err))
		} else if _, err := policy.Parse(c.Policy, data); err != nil {
			errs = append(errs, fmt.Errorf("--policy: %w", err))
		}
	}
	if c.Auth != "required" && c.Auth != "off" {
		errs = append(errs, fmt.Errorf("--auth %q: want required or off", c.Auth))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if _, err := verify.ParseSumDB(c.SumDB); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// isPostgres reports whether dsn names a PostgreSQL database: a postgres:// URL
// or a libpq keyword/value string ("host=... dbname=...").
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") ||
		strings.Contains(dsn, "host=") || strings.Contains(dsn, "dbname=")
}

// readAheadMode is --read-ahead: what is fetched ahead of the go command's
// requests (see proxy.Options.NoReadAhead). It is a boolean flag as well, so
// that --read-ahead, --read-ahead=true and --read-ahead=false keep their
// meaning.
type readAheadMode string

const (
	readAheadAll  readAheadMode = "all"
	readAheadMods readAheadMode = "mods"
	readAheadOff  readAheadMode = "off"
)

func (m *readAheadMode) String() string { return string(*m) }

func (m *readAheadMode) Set(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "all":
		*m = readAheadAll
	case "mods":
		*m = readAheadMods
	case "off":
		*m = readAheadOff
	default:
		// Whatever the boolean flag took (true, false, 1, 0, t, f, ...).
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a read-ahead mode: all, mods or off", v)
		}
		*m = readAheadOff
		if b {
			*m = readAheadAll
		}
	}
	return nil
}

func (m *readAheadMode) IsBoolFlag() bool { return true }
