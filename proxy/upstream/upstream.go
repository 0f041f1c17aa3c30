// Package upstream fetches module metadata and files from an upstream chain
// written in GOPROXY syntax, the way the go command does.
//
// A list is parsed by [ParseList]; see "go help goproxy" and
// https://go.dev/ref/mod#goproxy-protocol for the protocol, and
// cmd/go/internal/modfetch/proxy.go (proxyList, TryProxies) for the
// fallthrough rules this package copies:
//
//   - entries separated by ',' fall through to the next entry only when the
//     entry says "not found" (HTTP 404 or 410, a missing file, or the go
//     command reporting an unknown module or revision);
//   - entries separated by '|' fall through after any error;
//   - "direct" fetches from version control by running the go command with
//     GOPROXY=direct; "off" fails with [ErrOff];
//   - when every entry fails, the most useful error wins: an error from
//     direct, else an upstream error that is not "not found", else "not
//     found".
//
// A [Router] holds two lists: module paths matching the GOPRIVATE-syntax
// patterns go only to the private list, all other paths only to the public
// list, so a private module path is never sent to a public upstream.
//
// Every response body is capped by kind (see [Kind]) and fails on Read,
// never truncates silently, when the upstream sends more, or less than the
// Content-Length it announced, and fails with [ErrTimeout] when it arrives
// slower than the minimum rate (see stallWatch).
//
// Outbound requests go only where the operator allows: "direct" reaches the
// hosts of Options.DirectAllow, checked on the address actually dialed (see
// directnet.go for how the go command and git are confined), and a redirect
// from an upstream proxy is followed only to its own host or to
// Options.RedirectAllow. An upstream's error body is never part of an
// error's text: errors say in modgate's words which upstream failed and how.
package upstream

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
	"golang.org/x/sync/semaphore"
)

// Kind is the kind of a request: which GOPROXY protocol endpoint it reads.
type Kind string

// The kinds of request, with the size cap of each response body.
const (
	List   Kind = "list"   // <path>/@v/list, at most 16 MiB
	Latest Kind = "latest" // <path>/@latest, at most 1 MiB
	Info   Kind = "info"   // <path>/@v/<version>.info, at most 1 MiB
	Mod    Kind = "mod"    // <path>/@v/<version>.mod, at most 16 MiB (zip.MaxGoMod)
	Zip    Kind = "zip"    // <path>/@v/<version>.zip, at most 500 MiB (zip.MaxZipFile)
)

// maxSize returns the size cap of a response body of kind k.
func (k Kind) maxSize() int64 {
	switch k {
	case Zip:
		return modzip.MaxZipFile
	case Mod:
		return modzip.MaxGoMod
	case List:
		return 16 << 20
	default: // Info, Latest
		return 1 << 20
	}
}

// Request names what to fetch.
type Request struct {
	// Path is the module path in its real case, already checked with
	// module.CheckPath by the caller (Fetch checks it again).
	Path string
	// Version is, for Info, Mod and Zip, a canonical version; for Info only,
	// it may also be a query such as a branch name or commit prefix. It must
	// be empty for List and Latest.
	Version string
	Kind    Kind
	// NoFetch asks a proxy to answer from what it has, without fetching
	// anything new (the Disable-Module-Fetch: true header, which the go
	// command sends for GOFLAGS=-mod=mod lookups and proxy.golang.org
	// honours); only [Router.Recheck] sets it.
	NoFetch bool
}

// String returns "path@version" or "path@kind" for messages.
func (req Request) String() string {
	if req.Version != "" {
		return req.Path + "@" + req.Version
	}
	return req.Path + " (" + string(req.Kind) + ")"
}

// Response is a successful upstream answer.
type Response struct {
	// Body is the response body. The caller must Close it. Reading more than
	// the kind's size cap, or less than the announced size, returns an error
	// from Read; reading a body that stalls for longer than
	// Options.IdleTimeout returns an error satisfying errors.Is(err,
	// ErrTimeout).
	Body io.ReadCloser
	// Size is the body's size when known (Content-Length, or the file's
	// size), else -1.
	Size int64
	// Source names the upstream that answered: its URL without userinfo,
	// "direct", or the file:// URL.
	Source string
	// LastModified is the upstream's Last-Modified time (for a mirror's .mod,
	// about when the mirror first saw the version); zero when not given.
	LastModified time.Time
}

// Options configures a [Router]. The zero value is usable except for WorkDir,
// which the default lists need because they contain "direct".
type Options struct {
	// Public is the GOPROXY-syntax list for public modules. "" means the go
	// command's default, "https://proxy.golang.org,direct".
	Public string
	// Private is the GOPROXY-syntax list for modules matching
	// PrivatePatterns. "" means "direct".
	Private string
	// PrivatePatterns is a GOPRIVATE-syntax list of glob patterns, matched
	// against module path prefixes with module.MatchPrefixPatterns (spaces
	// around commas are ignored). "" means no module is private.
	PrivatePatterns string
	// Client sends the HTTP requests. nil means a client with dial and TLS
	// handshake timeouts that follows redirects (proxy.golang.org redirects
	// some zips). Basic auth from a URL's userinfo is forwarded on redirects
	// only as net/http allows (same host or subdomain).
	Client *http.Client
	// Timeout bounds the wait for response headers, and for every kind but
	// Zip the whole request including its body. 0 means 30s.
	Timeout time.Duration
	// IdleTimeout is the window of the minimum transfer rate: a body that
	// delivers fewer than max(1, MinRate*IdleTimeout) bytes in that much
	// time spent waiting for it fails with ErrTimeout, so a stalled body
	// fails after IdleTimeout and a trickle after one window. It applies to
	// proxy bodies and to everything direct mode downloads. 0 means 30s.
	IdleTimeout time.Duration
	// MinRate is the minimum transfer rate in bytes per second, averaged
	// over IdleTimeout. 0 means 1024; a negative value turns the rate off
	// (only a body that delivers nothing for IdleTimeout fails).
	MinRate int64
	// RedirectAllow lists where redirects from upstream proxies may lead,
	// besides the same host and port: host name globs in GOPRIVATE syntax,
	// IP addresses and CIDR prefixes (see hostRules). "" means the same host
	// only (proxy.golang.org redirects many zips to storage.googleapis.com,
	// which modgate's --upstream-redirect-allow lists by default). Redirects
	// from https to http are never followed. A refused redirect is an
	// upstream error.
	RedirectAllow string
	// DirectAllow lists the hosts "direct" (the go command's VCS fetches
	// and go-get discovery) may connect to: "public" (every public address),
	// host name globs in GOPRIVATE syntax, IP addresses and CIDR prefixes.
	// Checked on the address actually dialed, after DNS resolution, for
	// every connection and redirect. Cloud metadata, unspecified, multicast
	// and broadcast addresses are always refused. "" means "public".
	DirectAllow string
	// DirectRootCAs verifies the TLS certificates of the hosts direct mode
	// reaches. nil means the system roots.
	DirectRootCAs *x509.CertPool
	// DirectMaxTotal bounds the go commands run at once for "direct"; 0
	// means 8. DirectMaxPerHost bounds those for modules of one host (the
	// module path's first element), so slow hosts cannot take every slot;
	// 0 means 2.
	DirectMaxTotal   int
	DirectMaxPerHost int
	// DirectTimeout bounds one go command run for "direct" (a clone of a
	// large repository can take minutes). 0 means 10 minutes.
	DirectTimeout time.Duration
	// GoCommand is the go binary used for "direct". "" means "go" looked up
	// on PATH when a direct fetch runs.
	GoCommand string
	// WorkDir is a scratch directory for "direct": it holds the child's
	// GOMODCACHE, GOPATH and GOCACHE and its temporary working directories.
	// Required when either list contains "direct". Direct downloads stay in
	// its module cache; nothing here prunes it.
	WorkDir string
	// Env is extra environment for the go command run by "direct", added
	// after the settings this package makes, such as "GOINSECURE=...",
	// "GONOSUMDB=...", "GOVCS=..." or "GIT_CONFIG_GLOBAL=...". GO* variables
	// of the modgate process itself are never passed on.
	Env []string
	// Logger receives Debug records about upstream attempts. nil means
	// slog.Default(). Nothing is logged above Debug, and never credentials.
	Logger *slog.Logger

	// Tests only: resolve host names without DNS, and dial another port
	// than the one asked for (after the address check).
	lookup   func(ctx context.Context, host string) ([]netip.Addr, error)
	dialPort func(host string, port uint16) uint16
}

// Default lists, as documented for GOPROXY and GOPRIVATE by the go command.
const (
	defaultPublic  = "https://proxy.golang.org,direct"
	defaultPrivate = "direct"
)

// Default timeouts.
const (
	defaultTimeout       = 30 * time.Second
	defaultIdleTimeout   = 30 * time.Second
	defaultDirectTimeout = 10 * time.Minute
)

// Default limits.
const (
	defaultMinRate          = 1024
	defaultDirectMaxTotal   = 8
	defaultDirectMaxPerHost = 2
)

// ErrOff is returned (wrapped) when the chain reached "off". As in the go
// command, such an error also satisfies errors.Is(err, fs.ErrNotExist).
var ErrOff = errors.New("module lookup disabled by GOPROXY=off")

// ErrTimeout is returned (wrapped) when an upstream timed out: no response
// headers within Options.Timeout, a non-zip request not complete within
// Options.Timeout, a body stalled for Options.IdleTimeout, or a direct fetch
// not done within Options.DirectTimeout.
var ErrTimeout = errors.New("upstream timed out")

// Router fetches from the public or private upstream list. It is safe for
// concurrent use.
type Router struct {
	public, private []entry
	privatePatterns string
	client          *http.Client
	timeout         time.Duration
	idleTimeout     time.Duration
	minRate         int64
	redirects       *hostRules
	direct          *direct // nil if no list contains direct
	log             *slog.Logger
}

// entry is a parsed Entry with what fetching needs.
type entry struct {
	Entry
	source string // shown in Response.Source, errors and logs: no userinfo
	base   string // http(s) base URL without userinfo
	user   string // basic auth, if the URL had userinfo
	pass   string
	hasPW  bool
	dir    string // file:// directory
}

// New validates opts and returns a Router. It does no network or disk I/O.
func New(opts Options) (*Router, error) {
	if opts.Public == "" {
		opts.Public = defaultPublic
	}
	if opts.Private == "" {
		opts.Private = defaultPrivate
	}
	r := &Router{
		client:      opts.Client,
		timeout:     orDefault(opts.Timeout, defaultTimeout),
		idleTimeout: orDefault(opts.IdleTimeout, defaultIdleTimeout),
		log:         opts.Logger,
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.client == nil {
		r.client = defaultClient()
	}
	switch {
	case opts.MinRate == 0:
		r.minRate = defaultMinRate
	case opts.MinRate > 0:
		r.minRate = opts.MinRate
	}
	var err error
	if r.redirects, err = parseHostRules("--upstream-redirect-allow", opts.RedirectAllow); err != nil {
		return nil, err
	}
	if r.redirects.public {
		return nil, errors.New("--upstream-redirect-allow: \"public\" is not supported; list the hosts an upstream may redirect to")
	}
	// A copy: the caller's client is not changed.
	c := *r.client
	c.CheckRedirect = r.checkRedirect(c.CheckRedirect)
	r.client = &c
	if r.public, err = parseEntries(opts.Public); err != nil {
		return nil, fmt.Errorf("public upstream list: %w", err)
	}
	if r.private, err = parseEntries(opts.Private); err != nil {
		return nil, fmt.Errorf("private upstream list: %w", err)
	}
	if r.privatePatterns, err = cleanPatterns(opts.PrivatePatterns); err != nil {
		return nil, err
	}
	if hasDirect(r.public) || hasDirect(r.private) {
		if opts.WorkDir == "" {
			return nil, errors.New("upstream: WorkDir is required because an upstream list contains \"direct\" (an empty private list means direct)")
		}
		if !filepath.IsAbs(opts.WorkDir) {
			return nil, fmt.Errorf("upstream: WorkDir %q must be an absolute path", opts.WorkDir)
		}
		allow := opts.DirectAllow
		if strings.TrimSpace(allow) == "" {
			allow = "public"
		}
		rules, err := parseHostRules("--direct-allow", allow)
		if err != nil {
			return nil, err
		}
		total := opts.DirectMaxTotal
		if total <= 0 {
			total = defaultDirectMaxTotal
		}
		perHost := opts.DirectMaxPerHost
		if perHost <= 0 {
			perHost = defaultDirectMaxPerHost
		}
		r.direct = &direct{
			goCommand: opts.GoCommand,
			workDir:   filepath.Clean(opts.WorkDir),
			env:       append([]string(nil), opts.Env...),
			timeout:   orDefault(opts.DirectTimeout, defaultDirectTimeout),
			sem:       semaphore.NewWeighted(int64(total)),
			hosts:     newHostLimiter(perHost),
			dialer: &egressDialer{
				rules:   rules,
				setting: "--direct-allow",
				timeout: 10 * time.Second,
				lookup:  opts.lookup,
				port:    opts.dialPort,
			},
			roots:         opts.DirectRootCAs,
			headerTimeout: r.timeout,
			idleTimeout:   r.idleTimeout,
			minRate:       r.minRate,
		}
	}
	return r, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// defaultClient returns the client used when Options.Client is nil. It has
// no overall timeout (a zip may take long); Router bounds requests itself.
func defaultClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	return &http.Client{Transport: tr}
}

func parseEntries(s string) ([]entry, error) {
	list, err := ParseList(s)
	if err != nil {
		return nil, err
	}
	entries := make([]entry, len(list))
	for i, e := range list {
		entries[i] = entry{Entry: e, source: e.Redacted()}
		if e.Direct || e.Off {
			continue
		}
		u, err := url.Parse(e.URL)
		if err != nil {
			return nil, err
		}
		if u.Scheme == "file" {
			entries[i].dir = filepath.FromSlash(u.Path)
			continue
		}
		if u.User != nil {
			entries[i].user = u.User.Username()
			entries[i].pass, entries[i].hasPW = u.User.Password()
			u.User = nil
		}
		entries[i].base = u.String()
	}
	return entries, nil
}

func hasDirect(entries []entry) bool {
	for _, e := range entries {
		if e.Direct {
			return true
		}
	}
	return false
}

// cleanPatterns trims spaces around GOPRIVATE patterns (module paths have
// none, so "a, b" can only mean "a,b", which module.MatchPrefixPatterns
// would not see) and rejects patterns that path.Match cannot use, which
// would silently never match.
func cleanPatterns(patterns string) (string, error) {
	var clean []string
	for _, p := range strings.Split(patterns, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			return "", fmt.Errorf("private patterns: %q: %w", p, err)
		}
		clean = append(clean, p)
	}
	return strings.Join(clean, ","), nil
}

// IsPrivate reports whether path matches the private patterns, so that it is
// fetched only from the private list.
func (r *Router) IsPrivate(path string) bool {
	return r.privatePatterns != "" && module.MatchPrefixPatterns(r.privatePatterns, path)
}

// FirstProxyURL returns the URL of the first http(s) or file entry of the
// public list, "" if there is none; the caller reaches the checksum database
// through it at <url>/sumdb/. The URL keeps any userinfo (net/http turns it
// into basic auth), so it must not be logged or shown.
func (r *Router) FirstProxyURL() string {
	for _, e := range r.public {
		if e.URL != "" {
			return e.URL
		}
	}
	return ""
}

// Fetch asks the upstream list for req, falling through entries as the go
// command does, and returns the first successful response.
//
// Errors:
//   - errors.Is(err, fs.ErrNotExist): every entry tried said not found, or
//     the chain ended in "off" (then also errors.Is(err, ErrOff));
//   - errors.Is(err, ErrTimeout): the chosen error was a timeout;
//   - errors.As(err, new(*StatusError)): the chosen error was an HTTP status
//     (404 and 410 also satisfy fs.ErrNotExist);
//   - otherwise a plain error with context, such as an invalid request, a
//     refused connection, a redirect or a direct-mode connection that the
//     operator's rules refuse, or a failing go command (summarised: its
//     first line, never a server's response body).
//
// ctx bounds the whole fetch, including reading the body after Fetch
// returns; the body stays readable until it is closed or ctx is done.
// Fetch is safe for concurrent use.
func (r *Router) Fetch(ctx context.Context, req Request) (*Response, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	entries := r.public
	if r.IsPrivate(req.Path) {
		entries = r.private
	}

	// Rank errors as cmd/go's TryProxies: direct errors are the most useful,
	// then upstream errors other than "not found", then "not found".
	const (
		notExistRank = iota
		proxyRank
		directRank
	)
	var bestErr error
	bestRank := notExistRank
	for _, e := range entries {
		resp, err := r.fetchEntry(ctx, e, req)
		if err == nil {
			r.log.Debug("upstream fetch", "module", req.Path, "version", req.Version, "kind", string(req.Kind), "source", resp.Source)
			return resp, nil
		}
		notExist := errors.Is(err, fs.ErrNotExist)
		attrs := []any{"module", req.Path, "version", req.Version, "kind", string(req.Kind), "source", e.source, "not_found", notExist, "error", err.Error()}
		if se := (*StatusError)(nil); errors.As(err, &se) && se.Body != "" {
			// The upstream's own words, for the operator only (sanitized).
			attrs = append(attrs, "upstream_body", se.Body)
		}
		r.log.Debug("upstream attempt failed", attrs...)
		switch {
		case e.Direct:
			bestErr, bestRank = err, directRank
		case bestRank <= proxyRank && !notExist:
			bestErr, bestRank = err, proxyRank
		case bestRank == notExistRank:
			bestErr = err
		}
		if !e.FallbackOnAnyError && !notExist {
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, &module.ModuleError{Path: req.Path, Version: req.Version, Err: bestErr}
}

// ErrNoRecheck is returned by [Router.Recheck] for a source that cannot be
// asked without fetching: direct (which always fetches from version
// control), or a source no longer in the lists.
var ErrNoRecheck = errors.New("cannot be rechecked without fetching")

// Recheck asks the one upstream named source (a [Response.Source]) for req
// again, with NoFetch set: the proxy answers from what it holds and fetches
// nothing new. No other entry is tried. Errors are as Fetch's, or
// errors.Is(err, ErrNoRecheck) for direct and for a source that is not an
// http(s) or file:// entry of the lists.
func (r *Router) Recheck(ctx context.Context, source string, req Request) (*Response, error) {
	req.NoFetch = true
	if err := req.check(); err != nil {
		return nil, err
	}
	for _, e := range append(append([]entry(nil), r.public...), r.private...) {
		if e.source != source || e.Direct || e.Off {
			continue
		}
		if r.IsPrivate(req.Path) != r.isPrivateEntry(e) {
			continue // a private module is never asked of a public upstream, nor the reverse
		}
		resp, err := r.fetchEntry(ctx, e, req)
		if err != nil {
			return nil, &module.ModuleError{Path: req.Path, Version: req.Version, Err: err}
		}
		return resp, nil
	}
	what := source
	if source != "direct" {
		what = "upstream " + source + " (not in the upstream lists)"
	}
	return nil, &module.ModuleError{Path: req.Path, Version: req.Version, Err: fmt.Errorf("%s: %w", what, ErrNoRecheck)}
}

// isPrivateEntry reports whether e is an entry of the private list.
func (r *Router) isPrivateEntry(e entry) bool {
	for _, p := range r.private {
		if p.source == e.source {
			return true
		}
	}
	return false
}

// fetchEntry asks one entry.
func (r *Router) fetchEntry(ctx context.Context, e entry, req Request) (*Response, error) {
	switch {
	case e.Off:
		return nil, &notExistError{ErrOff}
	case e.Direct:
		if r.direct == nil {
			return nil, errors.New("internal error: direct entry without direct settings")
		}
		return r.direct.fetch(ctx, req)
	case e.dir != "":
		return fetchFile(e, req)
	default:
		return r.fetchHTTP(ctx, e, req)
	}
}

// check validates req. Versions must be representable in the proxy
// protocol's URLs, which is how modgate receives them.
func (req Request) check() error {
	if err := module.CheckPath(req.Path); err != nil {
		return fmt.Errorf("upstream: invalid request: %w", err)
	}
	switch req.Kind {
	case List, Latest:
		if req.Version != "" {
			return fmt.Errorf("upstream: invalid request: %s request with a version", req.Kind)
		}
	case Info, Mod, Zip:
		if req.Version == "" {
			return fmt.Errorf("upstream: invalid request: %s request without a version", req.Kind)
		}
		if _, err := module.EscapeVersion(req.Version); err != nil {
			return fmt.Errorf("upstream: invalid request: %w", err)
		}
		if req.Kind != Info && module.CanonicalVersion(req.Version) != req.Version {
			return fmt.Errorf("upstream: invalid request: %s request needs a canonical version, not %q", req.Kind, req.Version)
		}
	default:
		return fmt.Errorf("upstream: invalid request: unknown kind %q", req.Kind)
	}
	return nil
}

// relPath returns the request's path relative to a proxy base, in the
// GOPROXY protocol's layout, with slashes.
func (req Request) relPath() (string, error) {
	ep, err := module.EscapePath(req.Path)
	if err != nil {
		return "", err
	}
	if req.Kind == List {
		return ep + "/@v/list", nil
	}
	if req.Kind == Latest {
		return ep + "/@latest", nil
	}
	ev, err := module.EscapeVersion(req.Version)
	if err != nil {
		return "", err
	}
	return ep + "/@v/" + ev + "." + string(req.Kind), nil
}

// notExistError marks an error as "not found" without changing its text.
type notExistError struct{ err error }

func (e *notExistError) Error() string        { return e.err.Error() }
func (e *notExistError) Unwrap() error        { return e.err }
func (e *notExistError) Is(target error) bool { return target == fs.ErrNotExist }
