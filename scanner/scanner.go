// Package scanner establishes the facts about module versions that the policy
// decides on: known vulnerabilities from the Go vulnerability database
// (https://go.dev/security/vuln/database), licenses, retraction, deprecation and
// publish time.
//
// A [Scanner] keeps a copy of the vulnerability database in the store ([Scanner.Sync],
// incremental by each entry's modified time), so every replica sees the same data
// and the ingest path matches against a database read rather than the network.
// [Scanner.Facts] computes and stores a version's facts at ingest; [Scanner.Lookup]
// reads them back on the hot path. After each sync, every stored version is
// re-matched against the advisories that changed; findings learnt that way are
// recorded with the time they were learnt and announced to a webhook.
// [Scanner.Handler] serves the copy in the layout it was read in, so govulncheck
// can use modgate as its -db.
//
// Matching follows govulncheck's module-level rules (see package vulndb). The
// pseudo-modules "stdlib" and "toolchain" are matched for golang.org/toolchain
// versions ("v0.0.1-go1.21.3.linux-amd64" is checked as Go 1.21.3), so a gate can
// refuse known-vulnerable toolchains.
package scanner

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner/vulndb"
)

// DefaultSource is the Go vulnerability database's public site.
const DefaultSource = "https://vuln.go.dev"

// Store is what a Scanner needs from the database: the vulnerability roles and
// a lock, so that replicas sharing a database do not sync at once.
type Store interface {
	store.Vulns
	store.Advisories
	store.Locker
	store.ModuleIndex // the module index feed (scanner/index), a publication-time source
	store.Upstreams   // what rechecks of the upstreams found (takedowns, moved tags)
	store.Artifacts   // which artifacts of a version a recheck asks about
}

// Options configure a Scanner. Only Store is required.
type Options struct {
	Store Store
	// Source is the vulnerability database URL (https://, http:// or file://
	// of an absolute directory). Empty means DefaultSource.
	Source string
	// HTTPClient fetches from an http(s) Source and posts to NotifyURL. Nil
	// means a client with a 1 minute timeout per request.
	HTTPClient *http.Client
	// Logger receives sync, refusal and webhook messages. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// NotifyURL, if set, receives a JSON POST (see [Notification]) after a sync
	// that found versions newly affected by advisories.
	NotifyURL string
	// NotifyAttempts is how often a notification is tried; 0 means 5.
	NotifyAttempts int
	// NotifyBackoff is the wait before the first retry, doubled before each
	// further one; 0 means 1s.
	NotifyBackoff time.Duration
	// MaxAge is the data age (now minus the database's modified time, or since
	// the last successful sync when that is older) beyond which [Scanner.Status]
	// reports the copy stale and Sync logs it at error level. 0 means 7 days.
	MaxAge time.Duration
	// Fetchers is how many entries a sync fetches at once; 0 means 16.
	Fetchers int
	// Advisories are more OSV feeds, synced by [Scanner.SyncAdvisories]
	// beside the database: file:///dir (a tree of OSV JSON files) or an
	// https:// or file:// URL of a zip of OSV JSON files. Nil means none.
	Advisories []string
	// RetryMin is how soon [Scanner.Run] retries a failed sync (the wait
	// doubles after each further failure, up to Run's interval); 0 means 1s.
	RetryMin time.Duration
}

// Scanner computes facts of module versions and keeps the vulnerability
// database copy up to date. It is safe for concurrent use.
type Scanner struct {
	st     Store
	client *vulndb.Client
	hc     *http.Client
	log    *slog.Logger
	now    func() time.Time
	opts   Options

	// The entries of the database and of the feeds, decoded (checkAll).
	dbEntries, feedEntries entryCache

	attempts, failures atomic.Int64 // syncs by Run

	feeds                      []*vulndb.Feed
	feedAttempts, feedFailures atomic.Int64 // feed syncs by Run

	recheck recheckCounters // upstream rechecks (recheck.go)

	licenseIDs func() []string // see LicensesFrom
	licMu      sync.Mutex
	lic        *licenseScanner // built over CommonLicenses and licenseIDs

	// recordMu serialises Record's read, compute and write of one version's
	// facts (striped by version): a version's .mod and .zip are often
	// ingested at once (a zip fetched ahead while the client fetches the
	// .mod), and the second write must build on the first, not undo it.
	recordMu [64]sync.Mutex
}

// recordLock returns the lock of m's facts (see recordMu).
func (s *Scanner) recordLock(m module.Version) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(m.Path))
	h.Write([]byte{0})
	h.Write([]byte(m.Version))
	return &s.recordMu[h.Sum32()%uint32(len(s.recordMu))]
}

// New returns a Scanner. It does no I/O.
func New(opts Options) (*Scanner, error) {
	if opts.Store == nil {
		return nil, errors.New("scanner: no store")
	}
	if opts.Source == "" {
		opts.Source = DefaultSource
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	c, err := vulndb.NewClient(opts.Source, hc)
	if err != nil {
		return nil, fmt.Errorf("scanner: %w", err)
	}
	s := &Scanner{st: opts.Store, client: c, hc: hc, log: opts.Logger, now: opts.Now, opts: opts,
		dbEntries: entryCache{what: "vulndb: stored entry"}, feedEntries: entryCache{what: "advisories: stored record"}}
	for _, a := range opts.Advisories {
		f, err := vulndb.NewFeed(a, hc)
		if err != nil {
			return nil, fmt.Errorf("scanner: %w", err)
		}
		s.feeds = append(s.feeds, f)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.opts.NotifyAttempts <= 0 {
		s.opts.NotifyAttempts = 5
	}
	if s.opts.NotifyBackoff <= 0 {
		s.opts.NotifyBackoff = time.Second
	}
	if s.opts.MaxAge <= 0 {
		s.opts.MaxAge = 7 * 24 * time.Hour
	}
	if s.opts.Fetchers <= 0 {
		s.opts.Fetchers = 16
	}
	if s.opts.RetryMin <= 0 {
		s.opts.RetryMin = time.Second
	}
	return s, nil
}

// FactOption adds an input to [Scanner.Facts].
type FactOption func(*factInput)

type factInput struct {
	latestVersion string
	latestMod     []byte
	published     []publishedAt
	licenseFiles  []LicenseText // with licensesGiven: the zip's license files
	licensesGiven bool
}

type publishedAt struct {
	t   time.Time
	src string
}

// WithLatest gives the module's latest version and its go.mod, whose retract
// directives and deprecation comment apply to every version of the module. It
// is the same as calling [Scanner.SetLatest] first.
func WithLatest(version string, mod []byte) FactOption {
	return func(in *factInput) { in.latestVersion, in.latestMod = version, mod }
}

// WithPublished gives a publish time of the version and where it came from
// (store.PublishedUpstream, store.PublishedSumDB, store.PublishedInfo; give
// one option per source). The best is recorded when [store.BetterPublished]
// prefers it to the stored one (of trusted times, the earliest); without
// any, the first time modgate saw the version is recorded (source
// first-seen, which the policy does not count as a publication time).
func WithPublished(t time.Time, source string) FactOption {
	return func(in *factInput) { in.published = append(in.published, publishedAt{t, source}) }
}

// LicenseText is one license file of a module zip ([IsLicenseFile]): its
// name in the module and its first [MaxLicenseFile] bytes.
type LicenseText struct {
	Name string
	Text []byte
}

// WithLicenseFiles gives the license files of m's zip (every file of the zip
// for which [IsLicenseFile] is true, in zip order), read by the caller, so
// that the licenses are found without reading the zip again; Record's
// zipPath is then not read. The ingest hashes every file of the zip and
// keeps these on the way.
func WithLicenseFiles(files []LicenseText) FactOption {
	return func(in *factInput) { in.licenseFiles, in.licensesGiven = files, true }
}

// ScansZip reports whether a Record with zipPath and opts scans a zip's
// license files (given by [WithLicenseFiles], or read from zipPath): for a
// wrapper of the scanner that treats the zip's scan apart.
func ScansZip(zipPath string, opts ...FactOption) bool {
	var in factInput
	for _, o := range opts {
		o(&in)
	}
	return zipPath != "" || in.licensesGiven
}

// Facts computes and stores the facts of m at ingest: mod is its go.mod (nil
// if unknown), zipPath its zip ("" when only the .mod was fetched; licenses
// are then left unknown, or as stored, until a call with the zip). Findings
// already stored keep the time they were learnt. It returns the stored facts
// as [Scanner.Lookup] would.
func (s *Scanner) Facts(ctx context.Context, m module.Version, mod []byte, zipPath string, opts ...FactOption) (*store.Facts, error) {
	if err := s.Record(ctx, m, mod, zipPath, opts...); err != nil {
		return nil, err
	}
	return s.Lookup(ctx, m)
}

// Record is [Scanner.Facts] without reading the stored facts back, for an
// ingest that only needs them stored: the read was a sixth of the facts'
// cost in a cold fill.
func (s *Scanner) Record(ctx context.Context, m module.Version, mod []byte, zipPath string, opts ...FactOption) (err error) {
	defer func() {
		if err != nil {
			err = &module.ModuleError{Path: m.Path, Version: m.Version, Err: err}
		}
	}()
	if err := checkVersion(m); err != nil {
		return err
	}
	var in factInput
	for _, o := range opts {
		o(&in)
	}
	mu := s.recordLock(m)
	mu.Lock()
	defer mu.Unlock()
	if in.latestMod != nil {
		if err := s.SetLatest(ctx, m.Path, in.latestVersion, in.latestMod); err != nil {
			return err
		}
	}
	now := s.now().UTC()
	old, err := s.st.Facts(ctx, m)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f := &store.Facts{Module: m, UpdatedAt: now}

	// Publish time: the earliest trusted one known (the module index, the
	// upstream's Last-Modified, the checksum database's first tree holding
	// the version's record), else when modgate first saw the version.
	f.Published, f.PublishedSource = now, store.PublishedFirstSeen
	if old != nil && !old.Published.IsZero() {
		f.Published, f.PublishedSource = old.Published, old.PublishedSource
	}
	for _, p := range in.published {
		if store.BetterPublished(f.Published, f.PublishedSource, p.t, p.src) {
			f.Published, f.PublishedSource = p.t.UTC(), p.src
		}
	}
	switch t, err := s.st.IndexTime(ctx, m); {
	case err == nil:
		if store.BetterPublished(f.Published, f.PublishedSource, t, store.PublishedIndex) {
			f.Published, f.PublishedSource = t, store.PublishedIndex
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}

	// go.mod: requirements, and the version's own deprecation and retractions
	// (used when the latest go.mod is not known).
	var own *store.ModuleNotes
	if mod != nil {
		mf, err := modfile.ParseLax("go.mod", mod, nil)
		if err != nil {
			return fmt.Errorf("go.mod: %w", err)
		}
		for _, r := range mf.Require {
			f.Requires = append(f.Requires, r.Mod)
		}
		own = notesOf(m.Path, m.Version, mf)
	} else if old != nil {
		f.Requires = old.Requires
	}

	// Vulnerabilities of the version and of its requirements, in one
	// query (and one of the feeds).
	if err := checkVersion(m); err != nil {
		return &module.ModuleError{Path: m.Path, Version: m.Version, Err: err}
	}
	mods := []module.Version{m}
	for _, r := range f.Requires {
		if checkVersion(r) == nil {
			mods = append(mods, r)
		}
	}
	found, err := s.checkAll(ctx, mods)
	if err != nil {
		return err
	}
	for _, v := range found[0] {
		v.LearntAt, v.AtIngest = now, true
		f.Vulns = append(f.Vulns, v)
	}
	for i, r := range mods[1:] {
		rv := found[i+1]
		if len(rv) == 0 {
			continue
		}
		vr := store.VulnerableRequirement{Module: r}
		for _, v := range rv {
			v.LearntAt, v.AtIngest = now, true
			vr.Vulns = append(vr.Vulns, v)
		}
		f.VulnerableRequires = append(f.VulnerableRequires, vr)
	}

	// Licenses from the zip.
	switch {
	case in.licensesGiven:
		if f.Licenses, err = licensesOf(in.licenseFiles, s.licenseScanner()); err != nil {
			return err
		}
		f.LicensesKnown = true
	case zipPath != "":
		f.Licenses, err = licenses(m, zipPath, s.licenseScanner())
		if err != nil {
			return err
		}
		f.LicensesKnown = true
	case old != nil:
		f.Licenses, f.LicensesKnown = old.Licenses, old.LicensesKnown
	}

	notes, err := s.st.ModuleNotes(ctx, m.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if notes == nil {
		notes = own
	}
	applyNotes(f, notes)
	return s.st.PutFacts(ctx, f)
}

// Lookup returns the stored facts of m, with retraction and deprecation as the
// module's latest known go.mod says; fs.ErrNotExist if none were stored.
func (s *Scanner) Lookup(ctx context.Context, m module.Version) (*store.Facts, error) {
	f, err := s.st.Facts(ctx, m)
	if err != nil {
		return nil, err
	}
	notes, err := s.st.ModuleNotes(ctx, m.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if notes != nil {
		applyNotes(f, notes)
	}
	// What the upstream says of the version now (withdrawn, moved tag).
	switch u, err := s.st.UpstreamState(ctx, m); {
	case err == nil:
		f.Upstream = u
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	return f, nil
}

// SetLatest records the module's latest version and go.mod: its retract
// directives and "// Deprecated:" comment then apply to every version of path
// (in facts computed and looked up from now on).
func (s *Scanner) SetLatest(ctx context.Context, path, version string, latestMod []byte) error {
	mf, err := modfile.ParseLax("go.mod", latestMod, nil)
	if err != nil {
		return &module.ModuleError{Path: path, Version: version, Err: fmt.Errorf("latest go.mod: %w", err)}
	}
	n := notesOf(path, version, mf)
	n.UpdatedAt = s.now().UTC()
	return s.st.PutModuleNotes(ctx, n)
}

func notesOf(path, version string, mf *modfile.File) *store.ModuleNotes {
	n := &store.ModuleNotes{Path: path, LatestVersion: version}
	if mf.Module != nil && mf.Module.Deprecated != "" {
		n.Deprecated, n.Deprecation = true, mf.Module.Deprecated
	}
	for _, r := range mf.Retract {
		n.Retractions = append(n.Retractions, store.Retraction{Low: r.Low, High: r.High, Rationale: r.Rationale})
	}
	return n
}

func applyNotes(f *store.Facts, n *store.ModuleNotes) {
	f.Retracted, f.Rationale, f.Deprecated, f.Deprecation = false, "", false, ""
	if n == nil {
		return
	}
	f.Deprecated, f.Deprecation = n.Deprecated, n.Deprecation
	for _, r := range n.Retractions {
		if semver.Compare(r.Low, f.Module.Version) <= 0 && semver.Compare(f.Module.Version, r.High) <= 0 {
			f.Retracted, f.Rationale = true, r.Rationale
			break
		}
	}
}

// checkVersion refuses what cannot be matched: a "no vulnerabilities" answer
// for an invalid version would be a lie.
func checkVersion(m module.Version) error {
	if m.Path == "" {
		return errors.New("empty module path")
	}
	if m.Path == vulndb.Stdlib || m.Path == vulndb.Toolchain {
		if goSemver(m.Version) == "" {
			return fmt.Errorf("invalid Go version %q (want go1.N.P, go1.NrcK or v1.N.P)", m.Version)
		}
		return nil
	}
	if c := semver.Canonical(m.Version); c == "" || (m.Version != c && m.Version != c+"+incompatible") {
		return fmt.Errorf("invalid version %q: want a canonical semantic version", m.Version)
	}
	return nil
}

func goSemver(v string) string {
	if strings.HasPrefix(v, "go") {
		return vulndb.GoSemver(v)
	}
	if semver.IsValid(v) {
		return v
	}
	return ""
}

// targets returns the (database module, version) pairs to match m against:
// m itself, or for a golang.org/toolchain version the stdlib and toolchain
// pseudo-modules at its Go release.
func targets(m module.Version) []module.Version {
	switch m.Path {
	case vulndb.ToolchainModule:
		if g := vulndb.ToolchainGo(m.Version); g != "" {
			sv := vulndb.GoSemver(g)
			return []module.Version{{Path: vulndb.Stdlib, Version: sv}, {Path: vulndb.Toolchain, Version: sv}}
		}
	case vulndb.Stdlib, vulndb.Toolchain:
		return []module.Version{{Path: m.Path, Version: goSemver(m.Version)}}
	}
	return []module.Version{m}
}

// Known returns what is known of m for a policy decision: its stored facts,
// or, for a version never ingested (facts nil), the advisories that match it.
func (s *Scanner) Known(ctx context.Context, m module.Version) (*store.Facts, []store.Vuln, error) {
	f, err := s.Lookup(ctx, m)
	if err == nil {
		return f, nil, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	vulns, err := s.Check(ctx, m)
	return nil, vulns, err
}

// Check matches m against the synced database without storing anything (for
// `modgate vuln` and versions never fetched). Withdrawn advisories are
// included with Withdrawn set; LearntAt is zero.
func (s *Scanner) Check(ctx context.Context, m module.Version) ([]store.Vuln, error) {
	if err := checkVersion(m); err != nil {
		return nil, &module.ModuleError{Path: m.Path, Version: m.Version, Err: err}
	}
	all, err := s.checkAll(ctx, []module.Version{m})
	if err != nil {
		return nil, err
	}
	return all[0], nil
}

// checkAll is Check of each of mods (valid versions), with one query of the
// database's entries and one of the feeds' records for all of them (a
// version and its requirements at ingest), instead of two per module.
func (s *Scanner) checkAll(ctx context.Context, mods []module.Version) ([][]store.Vuln, error) {
	var paths, keys []string
	for _, m := range mods {
		for _, t := range targets(m) {
			paths = append(paths, t.Path)
			if t.Path != vulndb.Stdlib && t.Path != vulndb.Toolchain {
				keys = append(keys, vulndb.PathKey(t.Path))
			}
		}
	}
	slices.Sort(paths)
	slices.Sort(keys)
	db, err := s.entriesFor(ctx, &s.dbEntries, slices.Compact(paths),
		s.st.VulnStampsFor, s.st.VulnEntriesFor)
	if err != nil {
		return nil, err
	}
	var feeds []*parsedRow
	if len(keys) > 0 {
		if feeds, err = s.entriesFor(ctx, &s.feedEntries, slices.Compact(keys),
			s.st.AdvisoryStampsFor, s.st.AdvisoryEntriesFor); err != nil {
			return nil, err
		}
	}
	// The entries of each path key, in id order: each target is matched
	// against the entries that name it, not against every entry found
	// for the version and all its requirements.
	dbByKey, feedsByKey := byPathKey(db), byPathKey(feeds)
	out := make([][]store.Vuln, len(mods))
	for i, m := range mods {
		var vulns []store.Vuln
		add := func(rows []*parsedRow, t module.Version) {
			for _, r := range rows {
				if !r.e.Affects(t.Path, t.Version) || slices.ContainsFunc(vulns, func(v store.Vuln) bool { return v.ID == r.row.ID }) {
					continue
				}
				vulns = append(vulns, vulnOf(r.row, r.e, t))
			}
		}
		for _, t := range targets(m) {
			key := vulndb.PathKey(t.Path)
			add(dbByKey[key], t)
			if t.Path != vulndb.Stdlib && t.Path != vulndb.Toolchain {
				add(feedsByKey[key], t)
			}
		}
		sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
		out[i] = vulns
	}
	return out, nil
}

// byPathKey indexes rows by the path keys of their entries
// ([vulndb.Entry.PathKeys]), keeping their order.
func byPathKey(rows []*parsedRow) map[string][]*parsedRow {
	m := make(map[string][]*parsedRow)
	for _, r := range rows {
		for _, k := range r.keys {
			m[k] = append(m[k], r)
		}
	}
	return m
}

func vulnOf(row store.VulnEntry, e *vulndb.Entry, t module.Version) store.Vuln {
	return store.Vuln{
		ID: row.ID, Aliases: slices.Clone(row.Aliases), Summary: row.Summary, ReviewStatus: row.ReviewStatus,
		Withdrawn: row.Withdrawn, Fixed: e.FixedIn(t.Path, t.Version),
	}
}

// parsedRow is a stored entry (without its JSON) and its decoded JSON.
type parsedRow struct {
	row  store.VulnEntry
	e    *vulndb.Entry // nil: the JSON does not decode (err)
	err  error
	keys []string // e.PathKeys()
}

// entryCache keeps the entries of one source (the database, or the feeds)
// decoded, by id: a sync stores an entry again only with another modified
// time.
type entryCache struct {
	what string // what an entry is, for logs
	mu   sync.Mutex
	rows map[string]*parsedRow // never changed once stored
}

// entriesFor returns the decoded entries that name any of keys (module
// paths, or the feeds' module keys), sorted by id. It asks the store which
// entries those are and when each was modified (stamps), and reads and
// decodes them (entries) only when one of them is not in c at that modified
// time: reading the JSON of entries decoded before was most of the facts'
// cost at ingest. An entry that does not decode is logged and left out.
func (s *Scanner) entriesFor(ctx context.Context, c *entryCache, keys []string,
	stamps func(context.Context, ...string) ([]store.VulnStamp, error),
	entries func(context.Context, ...string) ([]store.VulnEntry, error)) ([]*parsedRow, error) {
	sts, err := stamps(ctx, keys...)
	if err != nil {
		return nil, err
	}
	cached := make([]*parsedRow, 0, len(sts))
	c.mu.Lock()
	for _, st := range sts {
		r, ok := c.rows[st.ID]
		if !ok || !r.row.Modified.Equal(st.Modified) {
			cached = nil
			break
		}
		cached = append(cached, r)
	}
	c.mu.Unlock()
	rows := cached
	if rows == nil {
		stored, err := entries(ctx, keys...)
		if err != nil {
			return nil, err
		}
		rows = make([]*parsedRow, len(stored))
		for i, row := range stored {
			rows[i] = c.parse(row)
		}
	}
	out := rows[:0:0]
	for _, r := range rows {
		if r.e == nil {
			s.log.Warn(c.what+" does not parse", "id", r.row.ID, "err", r.err.Error())
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// parse decodes a stored entry and keeps it, without its JSON.
func (c *entryCache) parse(row store.VulnEntry) *parsedRow {
	c.mu.Lock()
	r, ok := c.rows[row.ID]
	c.mu.Unlock()
	if ok && r.row.Modified.Equal(row.Modified) {
		return r
	}
	r = &parsedRow{row: row}
	r.row.JSON = nil
	var e vulndb.Entry
	if r.err = json.Unmarshal(row.JSON, &e); r.err == nil {
		r.e, r.keys = &e, e.PathKeys()
	}
	c.mu.Lock()
	if c.rows == nil {
		c.rows = map[string]*parsedRow{}
	}
	c.rows[row.ID] = r
	c.mu.Unlock()
	return r
}

// licenseFile matches the names of license files (as pkgsite recognises them:
// LICENSE, LICENCE, COPYING, UNLICENSE, MIT-LICENSE, with any suffix).
var licenseFile = regexp.MustCompile(`^(?i)(LICEN[CS]E|COPYING|UNLICEN[CS]E|MIT[-_]LICEN[CS]E)([-._][A-Za-z0-9.\-]*)?$`)

// licenseThreshold is the share of a license file, in percent, that known
// license texts must cover for the ids to be trusted (pkgsite uses 75 too).
const licenseThreshold = 75

// maxLicenseFile bounds how much of one license file is read.
const maxLicenseFile = 1 << 20

// Unknown is recorded for a license file whose text licensecheck cannot
// attribute with confidence (the SPDX "cannot say" value).
const Unknown = "NOASSERTION"

// IsLicenseFile reports whether a file of a module zip (its name in the
// module, without the module@version/ prefix) is a license file whose text
// gives the module's licenses: a file at the root named as [licenseFile]
// says.
func IsLicenseFile(name string) bool {
	return !strings.Contains(name, "/") && licenseFile.MatchString(name)
}

// MaxLicenseFile is how much of one license file is read.
const MaxLicenseFile = maxLicenseFile

// licenses scans the license files at the root of the module zip and returns
// the SPDX ids found, sorted and de-duplicated.
func licenses(m module.Version, zipPath string, lic *licenseScanner) ([]string, error) {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, fmt.Errorf("zip: %w", err)
	}
	defer zr.Close()
	prefix := m.Path + "@" + m.Version + "/"
	var files []LicenseText
	for _, zf := range zr.File {
		name, ok := strings.CutPrefix(zf.Name, prefix)
		if !ok || !IsLicenseFile(name) {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, fmt.Errorf("zip: %s: %w", name, err)
		}
		text, err := io.ReadAll(io.LimitReader(rc, maxLicenseFile))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("zip: %s: %w", name, err)
		}
		files = append(files, LicenseText{Name: name, Text: text})
	}
	return licensesOf(files, lic)
}

// licensesOf returns the SPDX ids the license files' texts give, sorted
// and de-duplicated (Unknown for a text not recognised with confidence).
func licensesOf(files []LicenseText, lic *licenseScanner) ([]string, error) {
	var ids []string
	for _, f := range files {
		cov, err := lic.scan(f.Text)
		if err != nil {
			return nil, fmt.Errorf("license detection: %w", err)
		}
		if cov.Percent < licenseThreshold || len(cov.Match) == 0 {
			ids = append(ids, Unknown)
			continue
		}
		for _, match := range cov.Match {
			ids = append(ids, match.ID)
		}
	}
	sort.Strings(ids)
	return slices.Compact(ids), nil
}

// IndexState is how far the module index feed has been followed (the zero
// value when it never was): the policy says so when no source knows a
// version's publication time.
func (s *Scanner) IndexState(ctx context.Context) (store.IndexState, error) {
	return s.st.IndexState(ctx)
}

// FixedBy lists the findings of stored versions of m.Path whose advisory
// m.Version fixes (for min_age's fast lane; see store.ModuleIndex.FixedBy).
func (s *Scanner) FixedBy(ctx context.Context, m module.Version) ([]store.Finding, error) {
	return s.st.FixedBy(ctx, m)
}

// Versions lists the versions of path whose facts are stored (any order).
func (s *Scanner) Versions(ctx context.Context, path string) ([]string, error) {
	return s.st.FactVersions(ctx, path)
}
