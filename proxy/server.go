// Package proxy serves the GOPROXY protocol (https://go.dev/ref/mod#goproxy-protocol)
// as modgate's front door: it parses requests, answers from the cache, fetches
// what is missing from the upstream chain exactly once, checks what it fetched
// before storing it, and passes the checksum database through.
//
// Requests it answers, below the server's root:
//
//	<module>/@v/list                 versions, without pseudo-versions (TTL-cached, stale-if-error)
//	<module>/@latest                 the latest version's .info (TTL-cached, stale-if-error)
//	<module>/@v/<version>.info       immutable once fetched (a query such as "main" is never cached)
//	<module>/@v/<version>.mod        immutable once fetched
//	<module>/@v/<version>.zip        immutable once fetched, checked against the zip rules first
//	sumdb/<name>/{supported,latest,lookup/...,tile/...}   the configured checksum database only
//
// Module paths and versions are case-escaped ("!a" for "A") as by [module.EscapePath].
package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/sync/singleflight"

	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/proxy/verify"
	"github.com/modgate/modgate/sbom"
	"github.com/modgate/modgate/scanner"
)

// Fetcher is what the proxy needs from the upstream chain.
type Fetcher interface {
	// Fetch answers one request from the chain that serves req.Path. Not found is
	// reported with errors.Is(err, fs.ErrNotExist).
	Fetch(ctx context.Context, req upstream.Request) (*upstream.Response, error)
	// IsPrivate reports whether path matches the private module patterns.
	IsPrivate(path string) bool
}

// Verifier checks the h1: hash of every .mod and .zip before it is stored.
type Verifier interface {
	// Check verifies a's hash; see [verify.Verifier.Check].
	Check(ctx context.Context, a verify.Artifact) (verify.Result, error)
	// Err reports a standing security error (a misbehaving checksum database).
	Err() error
	// Prefetch registers a checksum-database lookup of a version whose .mod
	// or .zip is about to be downloaded and returns the function that runs
	// it (nil: nothing to look up); see [verify.Verifier.Prefetch].
	Prefetch(m module.Version) func()
}

// Scanner establishes and stores the facts of a version (vulnerabilities,
// license, retraction, deprecation, publish time) when it is ingested.
type Scanner interface {
	// Record computes and stores the facts of m at ingest (see
	// [scanner.Scanner.Record]).
	Record(ctx context.Context, m module.Version, mod []byte, zipPath string, opts ...scanner.FactOption) error
	// Lookup returns the stored facts; fs.ErrNotExist if none.
	Lookup(ctx context.Context, m module.Version) (*store.Facts, error)
	// Known returns the stored facts of m, or, when it was never ingested,
	// the advisories that match it.
	Known(ctx context.Context, m module.Version) (*store.Facts, []store.Vuln, error)
	// Status is the state of the vulnerability data (read at most every few
	// seconds: decisions and /readyz depend on it).
	Status(ctx context.Context) (*scanner.Status, error)
	// Versions lists the versions of path with stored facts.
	Versions(ctx context.Context, path string) ([]string, error)
}

// Auditor receives audit events. Log must not block for long.
type Auditor interface {
	Log(e *store.AuditEvent)
}

// Storage is the part of the store the proxy uses.
type Storage interface {
	store.Artifacts
	store.Metadata
	store.Tiles
	store.Leases
	store.Sums
	store.Capabilities
	Ping(ctx context.Context) error
}

// Options configure a Server. Store, Blobs, Upstream and Verifier are required.
type Options struct {
	Store    Storage
	Blobs    blob.Store
	Upstream Fetcher
	Verifier Verifier
	// Scanner, if set, records the facts of every version as it is ingested.
	Scanner Scanner
	// Resemblance, if set, checks every module path requested the first time
	// for look-alikes and every zip ingested for clones (origin.go).
	Resemblance Resemblance
	// IndexOff says no module index feed is followed (--index off), for the
	// reason min_age gives when no source knows a publication time. When it
	// is false and Scanner has an IndexState method, the index's state is
	// read from it with the vulnerability data's state.
	IndexOff bool
	// SBOM, if its Namespace is set, makes an SPDX SBOM of every version whose
	// zip is ingested (stored in SBOMs, named in the audit records of its
	// fetches). Created is set at ingest.
	SBOM  sbom.Options
	SBOMs store.SBOMs
	// Policy returns the policy in force (it may change between calls, when
	// the file is reloaded); nil, or a nil result, means policy.Default().
	Policy func() *policy.Policy
	// Exemptions are the exemptions granted; nil means none.
	Exemptions store.Exemptions
	// ExemptionHint is the first line of the advice a blocked developer gets on
	// how to ask for an exemption (a dashboard URL, a channel); empty means a
	// generic line.
	ExemptionHint string
	// DashboardPath, if set ("/ui"), is where the dashboard is mounted: a
	// refusal links the version's page there. VulnStatusPath, if set
	// ("/vulndb-status"), is linked by a refusal for missing vulnerability
	// data.
	DashboardPath, VulnStatusPath string
	// Audit receives one event per module request answered (its decision,
	// client, source, bytes and duration) and checksum events (mismatches,
	// unverifiable artifacts, artifacts let through unverified by
	// configuration); nil records none.
	Audit Auditor
	// TrustedProxies are the networks whose X-Forwarded-For names the client.
	TrustedProxies []netip.Prefix
	// SumDB is the checksum database passed through under /sumdb/. Its zero value
	// passes nothing through (every /sumdb/ request gets 404).
	SumDB SumDB
	// ListTTL is how long a cached @v/list or @latest answer is served before
	// upstream is asked again; zero means 1 minute.
	ListTTL time.Duration
	// FetchTimeout bounds one upstream fetch, which goes on even if the client that
	// started it went away (others may be waiting for it); zero means 10 minutes.
	FetchTimeout time.Duration
	// NoPrefetch turns off looking up the checksum-database records of a
	// fetched go.mod's requirements ahead of the client (prefetch.go).
	NoPrefetch bool
	// NoReadAhead turns off fetching ahead the artifacts the go command
	// asks for next: the go.mod files an unpruned go.mod requires, and the
	// .zip of a version whose .info a client asked for (readahead.go).
	NoReadAhead bool
	// NoZipReadAhead keeps the go.mod read-ahead but never fetches a zip
	// ahead of its request (--read-ahead=mods): a client listing versions
	// (go list -m -json all asks for every .info) then pulls no zips.
	NoZipReadAhead bool
	// FetchLeaseTTL is how long a replica's fetch lease lasts without a
	// heartbeat (renewed every third of it) before another replica may take
	// the fetch over; zero means 30 seconds.
	FetchLeaseTTL time.Duration
	// MissingTTL is how long an upstream "not found" is remembered, by every
	// replica, before upstream is asked again; zero means 1 minute, negative
	// means not at all.
	MissingTTL time.Duration
	// Replica names this process in fetch leases; empty means host:pid.
	Replica string
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// Metrics receives counters; nil means none are kept.
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MemoryCache bounds the bytes of artifact records kept in memory so cache
	// hits skip the database; zero means 64 MiB, negative disables it.
	MemoryCache int64
}

// SumDB names the one checksum database the proxy passes through.
type SumDB struct {
	Name string // e.g. "sum.golang.org"; empty disables the pass-through
	URL  string // base URL of the database (or of a proxy's /sumdb/<name> endpoint)
	// Client makes the requests; nil means a client with a 30s timeout.
	Client *http.Client
	// Remote, when set, reaches the database where the go command would
	// (through the upstream proxies that serve it, else directly) and URL
	// and Client are not used.
	Remote *verify.Remote
}

// Server is the GOPROXY protocol handler.
type Server struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	group  singleflight.Group
	bg     sync.WaitGroup // fetches that outlive their request
	memo   *memo          // nil when disabled
	parses parseCache
	exempt exemptionCache
	// vulnData caches the state of the vulnerability data.
	vulnData dataCache
	// defaultPolicy applies when Options.Policy gives none.
	defaultPolicy *policy.Policy
	sumdbC        *http.Client
	sumdb         *verify.Remote // nil: no pass-through
	// streams are the zips being fetched and streamed (artifactKey ->
	// *zipStream), sboms the SBOMs being made (module.Version -> chan).
	streams sync.Map
	sboms   sync.Map
	cuts    cutRefusals
	// Fetch leases (lease.go).
	replica             string
	leaseTTL, leasePoll time.Duration
	missingTTL          time.Duration
	// capSem lets one capability pass over a stored zip run at a time
	// (capabilities.go).
	capSem chan struct{}
	// capsFed is what the passes fed at ingest hold, capsKept what their
	// feeds keep for them, capsBudget the bound of both together, and
	// capsPool buffers for the files kept (capabilities.go).
	capsFed    atomic.Int64
	capsKept   atomic.Int64
	capsBudget int64
	capsPool   *capsPool
	// prefetch looks up go.mod requirements ahead (prefetch.go); nil: off.
	prefetch *prefetcher
	// ahead fetches artifacts ahead of the client (readahead.go); nil: off.
	ahead *readAhead
}

// New returns a Server. It does no I/O.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Blobs == nil || opts.Upstream == nil || opts.Verifier == nil {
		return nil, errors.New("proxy: Store, Blobs, Upstream and Verifier are required")
	}
	if opts.ListTTL == 0 {
		opts.ListTTL = time.Minute
	}
	if opts.FetchTimeout == 0 {
		opts.FetchTimeout = 10 * time.Minute
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, sumdbC: opts.SumDB.Client, defaultPolicy: policy.Default()}
	s.replica, s.leaseTTL, s.missingTTL = opts.Replica, opts.FetchLeaseTTL, opts.MissingTTL
	s.capSem = make(chan struct{}, 1)
	s.capsBudget = capsFedBudget
	s.capsPool = &capsPool{}
	if !opts.NoPrefetch {
		s.prefetch = newPrefetcher()
	}
	if !opts.NoReadAhead {
		s.ahead = newReadAhead(&s.bg)
	}
	if s.replica == "" {
		s.replica = defaultReplica()
	}
	if s.leaseTTL <= 0 {
		s.leaseTTL = defaultLeaseTTL
	}
	// Waiters are woken by the holder's completion; polling covers lost
	// notifications and takes over expired leases promptly.
	s.leasePoll = min(time.Second, max(s.leaseTTL/4, 10*time.Millisecond))
	if s.missingTTL == 0 {
		s.missingTTL = defaultMissingTTL
	}
	switch {
	case opts.MemoryCache == 0:
		s.memo = newMemo(64 << 20)
	case opts.MemoryCache > 0:
		s.memo = newMemo(opts.MemoryCache)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sumdbC == nil {
		s.sumdbC = &http.Client{Timeout: 30 * time.Second}
	}
	opts.SumDB.URL = strings.TrimSuffix(opts.SumDB.URL, "/")
	s.opts.SumDB = opts.SumDB
	s.sumdb = opts.SumDB.Remote
	if s.sumdb == nil && opts.SumDB.Name != "" && opts.SumDB.URL != "" {
		r, err := verify.NewRemote(verify.RemoteOptions{SumDB: verify.SumDB{Name: opts.SumDB.Name, URL: opts.SumDB.URL},
			Client: s.sumdbC, Logger: s.log})
		if err != nil {
			return nil, err
		}
		s.sumdb = r
	}
	return s, nil
}

// Wait blocks until every background fetch has finished, read-ahead fetches
// queued included.
func (s *Server) Wait() { s.bg.Wait() }

// Shutdown drops the read-ahead fetches not started yet and waits for every
// background fetch to finish (for graceful shutdown, after the HTTP server
// stopped taking requests).
func (s *Server) Shutdown() {
	if s.ahead != nil {
		s.ahead.stop()
	}
	s.bg.Wait()
}

// Ready reports whether the database and the blob store can be used, and
// whether every rule that blocks in the policy in force has its data (a
// replica without vulnerability data, or without a malware feed's, refuses
// what another would serve).
func (s *Server) Ready(ctx context.Context) error {
	if err := s.opts.Store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if err := s.opts.Blobs.Check(ctx); err != nil {
		if blob.NoSpace(err) {
			return errors.New("blob store: its disk is full: free space (no artifact can be stored meanwhile)")
		}
		return err
	}
	if _, err := s.opts.Blobs.Quarantined(ctx); err != nil {
		return fmt.Errorf("blob store: quarantine: %w", err)
	}
	if err := s.opts.Verifier.Err(); err != nil {
		return err
	}
	data, err := s.data(ctx)
	if err != nil {
		return fmt.Errorf("vulnerability data and feeds state: %w", err)
	}
	if why := s.policy().Lacks(data, s.now()); why != "" {
		return fmt.Errorf("policy: %s", why)
	}
	return nil
}

// Warnings lists what an operator must look into that does not stop this
// replica from serving safely: artifacts that failed their integrity check
// and sit in quarantine. Every read is still checked and a quarantined
// artifact is fetched again, so this is no reason to leave a load balancer's
// rotation (with replicas sharing the blob store, all of them would leave at
// once over one bad blob); /readyz shows it with its 200, and /metrics counts
// the failures.
func (s *Server) Warnings(ctx context.Context) []string {
	n, err := s.opts.Blobs.Quarantined(ctx)
	if err != nil || n == 0 {
		return nil
	}
	return []string{fmt.Sprintf("blob store: %d stored artifacts failed their integrity check and were quarantined"+
		" (see the audit log's security records, and quarantine/ in the blob store %s);"+
		" after looking into it, remove the quarantined files to clear this", n, s.opts.Blobs)}
}

// request is a parsed protocol request.
type request struct {
	kind    string // "list", "latest", "info", "mod", "zip", "sumdb"
	mod     module.Version
	query   bool // an .info for a non-canonical version (branch, commit, ...)
	noFetch bool // Disable-Module-Fetch: true
}

// parse turns a URL path (below the server's root, without the leading slash)
// into a request. Malformed paths and versions give a *badRequestError; paths
// that are not protocol requests at all give fs.ErrNotExist.
func parse(p string) (request, error) {
	var r request
	escPath, rest, ok := strings.Cut(p, "/@")
	if !ok {
		return r, notFound("not a module proxy request")
	}
	path, err := module.UnescapePath(escPath)
	if err != nil {
		return r, badRequest("invalid module path %q: %v", escPath, err)
	}
	r.mod.Path = path
	if rest == "latest" {
		r.kind = "latest"
		return r, checkPath(path)
	}
	file, ok := strings.CutPrefix(rest, "v/")
	if !ok {
		return r, notFound("not a module proxy request")
	}
	if file == "list" {
		r.kind = "list"
		return r, checkPath(path)
	}
	dot := strings.LastIndexByte(file, '.')
	if dot < 0 {
		return r, notFound("not a module proxy request")
	}
	escVer, ext := file[:dot], file[dot+1:]
	switch ext {
	case "info", "mod", "zip":
		r.kind = ext
	default:
		return r, notFound("not a module proxy request")
	}
	ver, err := module.UnescapeVersion(escVer)
	if err != nil || ver == "" {
		return r, badRequest("invalid version %q: %v", escVer, err)
	}
	r.mod.Version = ver
	if err := checkPath(path); err != nil {
		return r, err
	}
	if !semver.IsValid(ver) || module.CanonicalVersion(ver) != ver {
		// A query (branch, tag, commit prefix): only .info may ask for one.
		if r.kind != "info" {
			return r, badRequest("%s@%s: .%s needs a canonical version (like v1.2.3)", path, ver, r.kind)
		}
		if strings.ContainsAny(ver, "<>= ") {
			return r, badRequest("%s@%s: invalid version query", path, ver)
		}
		r.query = true
		return r, nil
	}
	if err := module.Check(path, ver); err != nil {
		return r, badRequest("%v", err)
	}
	if strings.HasSuffix(ver, "+incompatible") {
		// +incompatible marks a v2+ version of a module without a major suffix.
		_, major, _ := module.SplitPathVersion(path)
		if major != "" || semver.Compare(semver.Major(ver), "v2") < 0 {
			return r, badRequest("%s@%s: +incompatible is only valid for v2 or later of a path without a major version suffix", path, ver)
		}
	}
	return r, nil
}

// parseCache remembers the requests parsed from URL paths (parse is pure, and
// a module path's checks were a twentieth of a cached .info's CPU). It holds
// at most parseCacheMax paths and is emptied when full.
type parseCache struct {
	m sync.Map // URL path -> request
	n atomic.Int64
}

const parseCacheMax = 4096

// parseCached is parse, remembered for the paths that parse.
func (s *Server) parseCached(p string) (request, error) {
	if r, ok := s.parses.m.Load(p); ok {
		return r.(request), nil
	}
	r, err := parse(p)
	if err == nil && len(p) <= 1024 {
		if s.parses.n.Add(1) > parseCacheMax {
			s.parses.m.Clear()
			s.parses.n.Store(1)
		}
		s.parses.m.Store(strings.Clone(p), r)
	}
	return r, err
}

func checkPath(path string) error {
	if err := module.CheckPath(path); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

func notFound(msg string) error {
	return fmt.Errorf("%s: %w", msg, fs.ErrNotExist)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p := strings.TrimPrefix(r.URL.Path, "/")
	rw := &countingWriter{ResponseWriter: w, status: http.StatusOK, httpReq: r}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rw.Header().Set("Allow", "GET, HEAD")
		writeError(rw, http.StatusMethodNotAllowed, errors.New("modgate: method not allowed"))
		s.observe(r, "other", rw, start, nil)
		return
	}
	if rest, ok := strings.CutPrefix(p, "sumdb/"); ok {
		err := s.serveSumDB(rw, r, rest)
		if err != nil {
			writeError(rw, statusOf(err), err)
		}
		s.observe(r, "sumdb", rw, start, err)
		return
	}
	req, err := s.parseCached(p)
	rw.req = &req
	if err == nil {
		req.noFetch = strings.EqualFold(r.Header.Get("Disable-Module-Fetch"), "true")
		s.firstRequest(r.Context(), req.mod.Path)
		switch {
		case req.kind == "list":
			err = s.serveList(rw, r, req)
		case req.kind == "latest":
			err = s.serveLatest(rw, r, req)
		case req.query:
			err = s.serveQuery(rw, r, req)
		default:
			err = s.serveArtifact(rw, r, req)
		}
	}
	var cut *abortError
	if errors.As(err, &cut) {
		// The headers and part of the body are out: record the failure
		// (a refusal as such), then cut the connection so the client sees
		// a failed download.
		rw.status = http.StatusInternalServerError
		if code := statusOf(cut.err); code >= 400 {
			rw.status = code
		}
	} else if err != nil {
		writeError(rw, statusOf(err), err)
	}
	if ue := (*blob.UnavailableError)(nil); errors.As(err, &ue) {
		s.opts.Metrics.blobStoreError(ue.Op)
	}
	kind := req.kind
	if kind == "" {
		kind = "other"
	}
	s.observe(r, kind, rw, start, err)
	s.audit(r, rw, start, err)
	if cut != nil {
		panic(http.ErrAbortHandler)
	}
}

// audit records a module request: who asked for what, what was decided and why.
func (s *Server) audit(r *http.Request, rw *countingWriter, start time.Time, err error) {
	if s.opts.Audit == nil {
		return
	}
	who := rw.client(s, r)
	e := &store.AuditEvent{
		Time: start.UTC(), Type: store.AuditFetch, ClientToken: who.Token, ClientIP: who.IP, UserAgent: who.UserAgent,
		Module: rw.req.mod.Path, Version: rw.req.mod.Version, Kind: rw.req.kind,
		Decision: decision(rw.status), Source: rw.source, Bytes: rw.n, Duration: time.Since(start), SBOM: rw.sbom,
	}
	if e.Kind == "" {
		e.Kind = "other"
		e.Reasons = []string{"request " + r.URL.Path}
	}
	e.Reasons = append(e.Reasons, rw.reasons...)
	var blocked *BlockedError
	if err != nil && !errors.As(err, &blocked) {
		e.Reasons = append(e.Reasons, errorText(rw.status, err))
	}
	s.opts.Audit.Log(e)
}

// decision names the outcome of a request by its status.
func decision(status int) string {
	switch {
	case status < 400:
		return store.DecisionServed
	case status == http.StatusForbidden:
		return store.DecisionBlocked
	case status == http.StatusNotFound || status == http.StatusGone:
		return store.DecisionNotFound
	}
	return store.DecisionError
}

// observe records metrics and logs one request. Errors are logged here, once.
func (s *Server) observe(r *http.Request, kind string, rw *countingWriter, start time.Time, err error) {
	s.opts.Metrics.request(kind, rw.status, rw.n)
	if err == nil && rw.status < 400 {
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rw.status,
				"bytes", rw.n, "duration", time.Since(start))
		}
		return
	}
	level := slog.LevelInfo
	var mismatch *verify.MismatchError
	switch {
	case errors.As(err, &mismatch):
		level = slog.LevelError
	case rw.status >= 500:
		level = slog.LevelError
	case rw.status == http.StatusForbidden:
		level = slog.LevelWarn
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rw.status, "duration", time.Since(start)}
	if err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	s.log.Log(r.Context(), level, "request failed", attrs...)
}

// countingWriter records the status and body size of a response. It forwards
// ReadFrom so that files are still sent with sendfile.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
	req    *request
	// source is where an artifact came from ("cache" or an upstream), and
	// sbom the id of the SBOM of a zip served, for the audit record.
	source string
	sbom   string
	// reasons are the policy findings of the version served or refused.
	reasons []string
	// httpReq is the request answered (for the links of a refusal).
	httpReq *http.Request
	// who is the client of httpReq once known (see client).
	who    client
	hasWho bool
}

// client is s.clientOf(r), worked out once per request.
func (w *countingWriter) client(s *Server, r *http.Request) client {
	if !w.hasWho {
		w.who, w.hasWho = s.clientOf(r), true
	}
	return w.who
}

func (w *countingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(w.ResponseWriter, r)
	w.n += n
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveBytes serves small immutable or cached content with an ETag.
func serveBytes(w http.ResponseWriter, r *http.Request, contentType, etag string, mod time.Time, data []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	if etag != "" {
		h.Set("ETag", `"`+etag+`"`)
	}
	if !plainRequest(r) {
		http.ServeContent(w, r, "", mod, bytes.NewReader(data))
		return
	}
	// What http.ServeContent answers to a request without conditions or
	// ranges, without its seeks, checks and copy.
	if !mod.IsZero() && !mod.Equal(time.Unix(0, 0)) {
		h.Set("Last-Modified", mod.UTC().Format(http.TimeFormat))
	}
	h.Set("Accept-Ranges", "bytes")
	if h.Get("Content-Encoding") == "" {
		h.Set("Content-Length", strconv.Itoa(len(data)))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// plainRequest reports whether r is a GET or HEAD without the headers that
// make http.ServeContent answer anything but the whole content with 200:
// conditions and ranges.
func plainRequest(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, k := range [...]string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"} {
		if _, ok := r.Header[k]; ok {
			return false
		}
	}
	return true
}
