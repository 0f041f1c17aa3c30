package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modgate/modgate/internal/store"
)

// Storage is what the verifier keeps in the database.
type Storage interface {
	store.Sums
	store.SumDBState
	store.Tiles
	// TreeSizes records the sizes of the database's verified tree heads
	// as they are first seen, which date the versions it vouches for.
	store.TreeSizes
	// AuditEvents reads the pin records of the audit chain, against which a
	// recorded hash is checked before it vouches for anything.
	AuditEvents(ctx context.Context, q store.AuditQuery) ([]*store.AuditEvent, error)
}

// Options configure a Verifier. Store is required.
type Options struct {
	Store Storage
	// SumDB is the checksum database public modules are verified against; Off
	// (or a zero value) verifies every module against the checksum store only,
	// pinning hashes on first use.
	SumDB SumDB
	// Remote reads the database where the go command would (see [Remote]);
	// nil means from URL only.
	Remote *Remote
	// URL is where the database is reached when Remote is nil (its own URL,
	// or a proxy's /sumdb/<name> endpoint).
	URL string
	// Client makes the requests; nil means a client with a 30s timeout.
	Client *http.Client
	// NoSumDB lists module path patterns (GONOSUMDB/GOPRIVATE syntax) that are
	// never looked up in the checksum database; they are pinned on first use.
	NoSumDB string
	// AllowUnknown serves public versions the checksum database does not know
	// (pinning them on first use) instead of refusing them.
	AllowUnknown bool
	// FailOpen serves artifacts that cannot be verified because the checksum
	// database is unreachable (pinning them on first use) instead of refusing them.
	FailOpen bool
	// Logger receives logs; nil means slog.Default().
	Logger *slog.Logger
	// OnSecurityError is called once when the checksum database is caught
	// misbehaving (a forked or rolled-back log); nil means only logging.
	OnSecurityError func(msg string)
	// Now is the clock that dates the tree heads seen; nil means time.Now.
	Now func() time.Time
	// ClientBudget bounds the bytes of tiles and records the sumdb client
	// holds in memory (see [Verifier]); 0 means DefaultClientBudget.
	ClientBudget int64
}

// DefaultClientBudget is how many bytes of tiles and records one sumdb client
// reads before a new one takes its place. golang.org/x/mod/sumdb's Client
// keeps every tile and record it read for its lifetime, and the tree of the
// public database has hundreds of thousands of tiles: a gate that runs for
// months would hold whatever its builds ever looked up (7 MB after one cold
// fill of the hugo graph, most of the live heap after it). A new client reads
// the tree head from the store and the tiles it needs from the store's
// verified cache (no network), and checks them again.
const DefaultClientBudget = 1 << 20

// Verifier checks artifacts' h1: hashes before modgate stores them: against the
// checksum database (its signed tree heads, inclusion proofs and tiles checked
// by golang.org/x/mod/sumdb's Client, with the latest verified tree head kept in
// the database shared by replicas) for public modules, and against the checksum
// store for everything, pinning hashes on first use where no database vouches.
type Verifier struct {
	opts Options
	log  *slog.Logger
	// client is nil when no database is used. The sumdb Client remembers
	// every lookup's result, failures included, for its lifetime, so after a
	// failed lookup it is replaced: its state worth keeping is in the database.
	client atomic.Pointer[sumdb.Client]
	// clientBytes is about how many bytes the client in v.client has read
	// (tiles and records, from the store's cache or the network).
	clientBytes atomic.Int64
	// clients counts the clients made after the first.
	clients atomic.Int64
	useDB   bool
	http    *http.Client
	remote  *Remote

	notFound   sync.Map // remote lookup paths the database answered 404/410
	prefetches sync.Map // module.Version -> *prefetch in flight

	// secErr is the security error in force (a forked or rolled-back
	// checksum database), nil when all is well. The store keeps it durably
	// (store.SumDBFork), so it survives restarts and reaches every replica;
	// Refresh reads it back. secMu orders SecurityError's record against
	// Refresh's read, so a refresh never forgets a detection.
	secErr atomic.Pointer[string]
	secMu  sync.Mutex
	// unsaved is set while a detection could not be written to the store.
	unsaved bool
	// sizeSeeded is set once the stored latest tree head's size is recorded
	// (see [Verifier.Refresh]).
	sizeSeeded bool
	now        func() time.Time
}

// New returns a Verifier. It does no I/O.
func New(opts Options) (*Verifier, error) {
	if opts.Store == nil {
		return nil, errors.New("verify: Store is required")
	}
	v := &Verifier{opts: opts, log: opts.Logger, http: opts.Client, now: opts.Now}
	if v.now == nil {
		v.now = time.Now
	}
	if v.opts.ClientBudget <= 0 {
		v.opts.ClientBudget = DefaultClientBudget
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	if v.http == nil {
		v.http = &http.Client{Timeout: 30 * time.Second}
	}
	if !opts.SumDB.Off && opts.SumDB.Name != "" {
		v.remote = opts.Remote
		if v.remote == nil {
			if opts.URL == "" {
				return nil, errors.New("verify: the checksum database needs a Remote or a URL")
			}
			db := opts.SumDB
			db.URL = opts.URL
			r, err := NewRemote(RemoteOptions{SumDB: db, Client: v.http, Logger: v.log})
			if err != nil {
				return nil, err
			}
			v.remote = r
		}
		v.useDB = true
		v.client.Store(sumdb.NewClient(&ops{v: v}))
	}
	return v, nil
}

// Artifact is what Check verifies.
type Artifact struct {
	Module   module.Version
	Kind     store.Kind // KindZip or KindMod
	Hash     string     // the h1: hash of the bytes received
	Upstream string     // where the bytes came from
	Client   string     // who asked for them
}

// Result says how an artifact was verified.
type Result struct {
	// Source vouched for the hash: SourceSumDB+name, SourceTOFU or SourceGoSum+file.
	Source string
	// Warning is set when the artifact was let through unverified by a setting
	// (AllowUnknown, FailOpen); it belongs in the audit log.
	Warning string
	// Published, when not zero, is when modgate first saw a verified signed
	// tree head of the checksum database that holds the version's record
	// (store.TreeSizes): the version was published no later. Zero when the
	// database did not vouch for it, or no recorded tree size covers the
	// record.
	Published time.Time
}

// MismatchError reports bytes whose hash differs from the known-good one. They
// must never be stored or served.
type MismatchError struct {
	Artifact Artifact
	Want     string // the known-good hash
	Source   string // who vouched for Want
	// Tampered, when set, says why the checksum store's recorded hash cannot
	// be trusted: it differs from the hash the audit chain recorded for it
	// (Want, then), or the chain has no record of it (Want is then the
	// store's hash). The artifact is refused whatever its bytes.
	Tampered string
	// Explain, when set, is one line on why the bytes may differ, shown
	// second (the proxy sets it when the version's tag moved upstream:
	// "tag v1.2.3 now points to X; the checksum database recorded Y").
	Explain string
}

func (e *MismatchError) Error() string {
	a := e.Artifact
	if e.Tampered != "" {
		return fmt.Sprintf("%s@%s: .%s refused: modgate's recorded checksum cannot be trusted\n"+
			"%s\n"+
			"The bytes were neither stored nor served. Tell your security team (modgate checksum verify).",
			a.Module.Path, a.Module.Version, a.Kind, e.Tampered)
	}
	explain := ""
	if e.Explain != "" {
		explain = e.Explain + "\n"
	}
	return fmt.Sprintf("%s@%s: checksum mismatch for .%s: refused\n"+explain+
		"expected %s (from %s)\n"+
		"received %s (from %s)\n"+
		"The bytes were neither stored nor served: someone may be tampering with them. Tell your security team.",
		a.Module.Path, a.Module.Version, a.Kind, e.Want, e.Source, a.Hash, a.Upstream)
}

// Reasons an artifact could not be verified.
const (
	Unknown     = "unknown"     // the checksum database does not know the version
	Unreachable = "unreachable" // the checksum database could not be reached
	Misbehaving = "misbehaving" // the checksum database's log forked or rolled back
)

// UnverifiedError reports an artifact whose hash could not be checked.
type UnverifiedError struct {
	Artifact Artifact
	Reason   string // Unknown, Unreachable or Misbehaving
	Err      error
}

func (e *UnverifiedError) Error() string {
	a := e.Artifact
	var why string
	switch e.Reason {
	case Unknown:
		why = "the checksum database does not know this version, so its content cannot be verified"
	case Unreachable:
		why = "the checksum database could not be reached; try again later"
	default:
		why = "the checksum database is misbehaving (its log is inconsistent); modgate refuses everything it cannot verify until an operator investigates"
	}
	return fmt.Sprintf("%s@%s: .%s refused: %s\n%v", a.Module.Path, a.Module.Version, a.Kind, why, e.Err)
}

func (e *UnverifiedError) Unwrap() error { return e.Err }

// Err reports a security error seen since the process started (a forked or
// rolled-back checksum database), for readiness probes; nil when all is well.
func (v *Verifier) Err() error {
	if msg := v.secErr.Load(); msg != nil {
		return fmt.Errorf("checksum database %s is misbehaving: %s", v.opts.SumDB.Name, firstLine(*msg))
	}
	return nil
}

// Refresh reads the checksum database's recorded misbehaviour (see
// [store.SumDBFork]) from the store: a fork detected by another replica or
// before a restart is in force from now on, and one an operator cleared
// (`modgate checksum reset-fork`) is lifted. Call it before serving and then
// periodically ([Verifier.Watch]). A detection the store could not take is
// written again first. It does nothing without a checksum database.
func (v *Verifier) Refresh(ctx context.Context) error {
	if !v.useDB {
		return nil
	}
	v.secMu.Lock()
	defer v.secMu.Unlock()
	if !v.sizeSeeded {
		if err := v.seedTreeSize(ctx); err != nil {
			return fmt.Errorf("recording the checksum database's tree size: %w", err)
		}
		v.sizeSeeded = true
	}
	if v.unsaved {
		if msg := v.secErr.Load(); msg != nil {
			if _, err := v.opts.Store.PutSumDBFork(ctx, &store.SumDBFork{DB: v.opts.SumDB.Name, Detail: *msg}); err != nil {
				return fmt.Errorf("recording the checksum database's misbehaviour: %w", err)
			}
		}
		v.unsaved = false
	}
	f, err := v.opts.Store.SumDBFork(ctx, v.opts.SumDB.Name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if old := v.secErr.Swap(nil); old != nil {
			v.log.Warn("checksum database misbehaviour cleared by an operator: verifying against it again", "db", v.opts.SumDB.Name)
		}
		return nil
	case err != nil:
		return err
	}
	if v.secErr.Load() == nil {
		msg := f.Detail
		v.secErr.Store(&msg)
		v.log.Error("SECURITY: checksum database misbehaving (recorded "+f.DetectedAt.Format(time.RFC3339)+
			"): refusing everything it would verify until an operator runs modgate checksum reset-fork",
			"db", v.opts.SumDB.Name, "detail", f.Detail)
	}
	return nil
}

// seedTreeSize records the size of the stored latest tree head as seen now,
// once a process: a modgate that verified heads before it recorded their
// sizes dates the records they hold from its first start with this code on.
// The stored head is checked against the database's key first.
func (v *Verifier) seedTreeSize(ctx context.Context) error {
	msg, err := v.opts.Store.SumDBConfig(ctx, v.opts.SumDB.Name+"/latest")
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(msg) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	verifier, err := note.NewVerifier(v.opts.SumDB.Key)
	if err != nil {
		return err
	}
	if _, err := note.Open(msg, note.VerifierList(verifier)); err != nil {
		v.log.Warn("the stored checksum database tree head does not verify: its size is not recorded", "err", err.Error())
		return nil
	}
	return v.recordTreeSize(ctx, msg)
}

// Watch calls Refresh every interval until ctx is done, logging failures.
func (v *Verifier) Watch(ctx context.Context, interval time.Duration) {
	if !v.useDB {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := v.Refresh(ctx); err != nil && ctx.Err() == nil {
				v.log.Error("reading the checksum database's recorded state", "err", err.Error())
			}
		}
	}
}

// usesSumDB reports whether path is verified against the checksum database.
func (v *Verifier) usesSumDB(path string) bool {
	return v.useDB && !module.MatchPrefixPatterns(v.opts.NoSumDB, path)
}

// Check verifies a's hash. A hash that differs from a known-good one gives a
// *MismatchError; one that cannot be verified gives an *UnverifiedError (unless
// a setting lets it through, with Result.Warning set). A verified hash is
// recorded in the checksum store, so every later ingest must match it.
func (v *Verifier) Check(ctx context.Context, a Artifact) (Result, error) {
	if a.Kind != store.KindZip && a.Kind != store.KindMod {
		return Result{}, fmt.Errorf("verify: cannot check .%s", a.Kind)
	}
	known, err := v.opts.Store.Checksum(ctx, a.Module, a.Kind)
	if corrupt := (*store.CorruptChecksumError)(nil); errors.As(err, &corrupt) {
		return Result{}, UnreadablePin(a, corrupt)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Result{}, err
	}
	if known != nil {
		if err := v.vouched(ctx, a, known); err != nil {
			return Result{}, err
		}
		if known.Hash != a.Hash {
			return Result{}, &MismatchError{Artifact: a, Want: known.Hash, Source: describe(known)}
		}
	}
	res := Result{Source: store.SourceTOFU}
	if v.usesSumDB(a.Module.Path) {
		want, published, err := v.lookup(ctx, a)
		switch {
		case err == nil:
			if want != a.Hash {
				return Result{}, &MismatchError{Artifact: a, Want: want, Source: "checksum database " + v.opts.SumDB.Name}
			}
			res.Source = store.SourceSumDB + v.opts.SumDB.Name
			res.Published = published
		case known != nil:
			// A hash imported from go.sum vouches for the bytes where the
			// database cannot (unknown, unreachable).
			if uv := (*UnverifiedError)(nil); errors.As(err, &uv) && uv.Reason == Misbehaving {
				return Result{}, err
			}
			return Result{Source: known.Source}, nil
		default:
			uv := (*UnverifiedError)(nil)
			if !errors.As(err, &uv) {
				return Result{}, err
			}
			if (uv.Reason == Unknown && v.opts.AllowUnknown) || (uv.Reason == Unreachable && v.opts.FailOpen) {
				res.Warning = fmt.Sprintf("not verified by the checksum database (%s), allowed by configuration; hash pinned on first use", uv.Reason)
			} else {
				return Result{}, err
			}
		}
	}
	if known != nil {
		return Result{Source: known.Source, Warning: res.Warning, Published: res.Published}, nil
	}
	rec, err := v.opts.Store.PutChecksum(ctx, &store.Checksum{Module: a.Module, Kind: a.Kind, Hash: a.Hash,
		Source: res.Source, Upstream: a.Upstream, Client: a.Client})
	if corrupt := (*store.CorruptChecksumError)(nil); errors.As(err, &corrupt) {
		return Result{}, UnreadablePin(a, corrupt)
	}
	if err != nil {
		return Result{}, err
	}
	if rec.Hash != a.Hash {
		// Another replica pinned different bytes a moment ago.
		return Result{}, &MismatchError{Artifact: a, Want: rec.Hash, Source: describe(rec)}
	}
	return res, nil
}

// UnreadablePin is the refusal of a whose recorded checksum cannot be read
// (a row of the checksum store edited behind modgate's back into something
// the store could not have written): a *MismatchError whose Tampered says
// so, in modgate's words. Such a pin vouches for nothing.
func UnreadablePin(a Artifact, corrupt *store.CorruptChecksumError) *MismatchError {
	return &MismatchError{Artifact: a, Source: "the checksum store", Tampered: fmt.Sprintf(
		"modgate's recorded checksum for %s@%s cannot be read: the checksum store was edited behind modgate's back; %s",
		a.Module.Path, a.Module.Version, corrupt.Detail)}
}

// vouched checks a recorded hash against the audit chain before it vouches
// for a's bytes: the store appends a pin record (store.PinEvent) with every
// hash it records, in the same transaction, so a recorded hash without one,
// or unlike the latest, was written behind modgate's back (`UPDATE checksums
// SET hash = ...` to make tampered bytes servable). Such a hash vouches for
// nothing: the artifact is refused with a *MismatchError whose Tampered says
// why. (Pins recorded before pins were audited need `modgate checksum
// attest` once.)
func (v *Verifier) vouched(ctx context.Context, a Artifact, known *store.Checksum) error {
	var latest *store.AuditEvent
	var hash string
	q := store.AuditQuery{Module: a.Module.Path, Version: a.Module.Version, Type: store.AuditChecksum,
		Decision: store.DecisionPinned, Limit: store.MaxAuditPage}
	for {
		page, err := v.opts.Store.AuditEvents(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range page {
			if m, k, h, ok := store.Pin(e); ok && m == a.Module && k == a.Kind {
				latest, hash = e, h
			}
		}
		if len(page) < q.PageLimit() {
			break
		}
		q.AfterSeq = page[len(page)-1].Seq
	}
	switch {
	case latest == nil:
		return &MismatchError{Artifact: a, Want: known.Hash, Source: describe(known), Tampered: fmt.Sprintf(
			"the checksum store records %s (%s), but the audit log has no record of that pin: it was written behind modgate's back, or before pins were audited (then an operator runs modgate checksum attest)",
			known.Hash, describe(known))}
	case hash != known.Hash:
		return &MismatchError{Artifact: a, Want: hash, Source: fmt.Sprintf("audit record %d", latest.Seq), Tampered: fmt.Sprintf(
			"the checksum store records %s, but audit record %d pinned %s: the pin was changed behind modgate's back",
			known.Hash, latest.Seq, hash)}
	}
	return nil
}

// describe says who vouched for a recorded hash, for error messages.
func describe(c *store.Checksum) string {
	switch {
	case strings.HasPrefix(c.Source, store.SourceSumDB):
		return "checksum database " + strings.TrimPrefix(c.Source, store.SourceSumDB)
	case strings.HasPrefix(c.Source, store.SourceGoSum):
		return "imported " + strings.TrimPrefix(c.Source, store.SourceGoSum)
	}
	s := "pinned on first fetch"
	if !c.CreatedAt.IsZero() {
		s += " " + c.CreatedAt.Format(time.RFC3339)
	}
	if c.Upstream != "" {
		s += " from " + c.Upstream
	}
	return s
}

// lookup asks the checksum database for a's hash, and dates its record (see
// [Result.Published]; zero when it cannot). A lookup of a.Module that
// [Verifier.Prefetch] started is waited for and its answer used.
func (v *Verifier) lookup(ctx context.Context, a Artifact) (string, time.Time, error) {
	if err := v.Err(); err != nil {
		return "", time.Time{}, &UnverifiedError{Artifact: a, Reason: Misbehaving, Err: err}
	}
	var rec record
	if p, ok := v.prefetches.Load(a.Module); ok {
		p := p.(*prefetch)
		<-p.done
		rec = p.rec
	} else {
		rec = v.lookupRecord(a.Module)
	}
	if rec.err != nil {
		return "", time.Time{}, &UnverifiedError{Artifact: a, Reason: rec.reason, Err: rec.err}
	}
	vers := a.Module.Version
	if a.Kind == store.KindMod {
		vers += "/go.mod"
	}
	prefix := a.Module.Path + " " + vers + " "
	for _, line := range rec.lines {
		if h, ok := strings.CutPrefix(line, prefix); ok {
			return h, v.dateRecord(ctx, a.Module), nil
		}
	}
	return "", time.Time{}, &UnverifiedError{Artifact: a, Reason: Unknown, Err: fmt.Errorf("no %s line in the database's record", vers)}
}

// dateRecord returns when modgate first saw a verified tree head holding m's
// record in the checksum database (zero when it cannot tell): m was published
// no later. It runs after a successful lookup, so the record is in the
// verified cache (the sumdb client writes it there only after checking it
// against a signed tree head) and the head that holds it is recorded (see
// [ops.WriteConfig]). A failure only loses the date, and is logged.
//
// A tree head carries no time, so this bounds publication from above only:
// a record beyond the sizes seen at T was added after its head was signed,
// which may be earlier than T. The upper bound is what min_age needs: it
// never makes a version look older than it is.
func (v *Verifier) dateRecord(ctx context.Context, m module.Version) time.Time {
	epath, err1 := module.EscapePath(m.Path)
	evers, err2 := module.EscapeVersion(m.Version)
	if err1 != nil || err2 != nil {
		return time.Time{}
	}
	db, path := cacheKey(v.opts.SumDB.Name + "/lookup/" + epath + "@" + evers)
	data, err := v.opts.Store.Tile(ctx, db, path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			v.log.Warn("dating a checksum database record", "module", m.Path, "version", m.Version, "err", err.Error())
		}
		return time.Time{}
	}
	id, _, _, err := tlog.ParseRecord(data)
	if err != nil {
		return time.Time{}
	}
	ts, err := v.opts.Store.TreeSizeCovering(ctx, v.opts.SumDB.Name, id)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			v.log.Warn("dating a checksum database record", "module", m.Path, "version", m.Version, "err", err.Error())
		}
		return time.Time{}
	}
	return ts.Seen
}

// recordTreeSize records the size of a verified signed tree head (a note, as
// the sumdb client stores it as "<name>/latest") as seen now.
func (v *Verifier) recordTreeSize(ctx context.Context, msg []byte) error {
	n := bytes.Index(msg, []byte("\n\n"))
	if n < 0 {
		return fmt.Errorf("tree head: no signature")
	}
	tree, err := tlog.ParseTree(msg[:n+1])
	if err != nil {
		return err
	}
	if tree.N <= 0 {
		return nil
	}
	return v.opts.Store.PutTreeSize(ctx, store.TreeSize{DB: v.opts.SumDB.Name, Size: tree.N, Seen: v.now().UTC()})
}

// record is the checksum database's answer for one module version: its
// verified lines (zip and go.mod), or why there are none.
type record struct {
	lines  []string
	err    error
	reason string // Unknown, Unreachable or Misbehaving, with err
}

// lookupRecord looks m up in the checksum database: the record, verified by
// the sumdb client (signed tree head, inclusion proof, tiles), and both its
// lines. On failure the client, which would remember the failure, is
// replaced, and the failure classified.
func (v *Verifier) lookupRecord(m module.Version) record {
	if err := v.Err(); err != nil {
		return record{err: err, reason: Misbehaving}
	}
	client := v.client.Load()
	lines, err := client.Lookup(m.Path, m.Version)
	if err == nil {
		// The same record, from the client's memory: no I/O.
		var mod []string
		if mod, err = client.Lookup(m.Path, m.Version+"/go.mod"); err == nil {
			if v.clientBytes.Load() > v.opts.ClientBudget {
				v.newClient(client)
			}
			return record{lines: append(lines, mod...)}
		}
	}
	v.newClient(client)
	reason := Unreachable
	epath, _ := module.EscapePath(m.Path)
	evers, _ := module.EscapeVersion(m.Version)
	if _, nf := v.notFound.LoadAndDelete("/lookup/" + epath + "@" + evers); nf {
		reason = Unknown
	}
	if v.Err() != nil {
		reason = Misbehaving
	}
	return record{err: err, reason: reason}
}

// newClient replaces old, the client in use, with a new one, which starts
// with nothing in memory (see [DefaultClientBudget]); nothing when another
// goroutine replaced old already. Lookups in flight on old end on it.
func (v *Verifier) newClient(old *sumdb.Client) {
	if v.client.CompareAndSwap(old, sumdb.NewClient(&ops{v: v})) {
		v.clientBytes.Store(0)
		v.clients.Add(1)
	}
}

// prefetch is a lookup started ahead of the Check that needs it.
type prefetch struct {
	done chan struct{} // closed when rec is set
	rec  record
}

// Prefetch registers a lookup of m in the checksum database and returns the
// function that runs it, or nil when m is not verified against the database.
// Run it in its own goroutine while m's .mod or .zip is downloaded: a Check of
// either that starts meanwhile waits for it and uses its answer (the lookup,
// the inclusion proof and the tiles it needed, all verified as by Check
// itself), so the database's round trips overlap the download instead of
// following it. A Check that comes after it finished finds the record in the
// sumdb client's memory; after a failure, it asks again. Every prefetch
// registered must be run.
func (v *Verifier) Prefetch(m module.Version) func() {
	if !v.usesSumDB(m.Path) {
		return nil
	}
	p := &prefetch{done: make(chan struct{})}
	if _, loaded := v.prefetches.LoadOrStore(m, p); loaded {
		return nil // one is in flight
	}
	return func() {
		p.rec = v.lookupRecord(m)
		close(p.done)
		v.prefetches.CompareAndDelete(m, p)
	}
}

// CacheKey is where the verifier's cache (sumdb.ClientOps.ReadCache) keeps
// the database name's file p ("lookup/...", "tile/..."), as a [store.Tiles]
// database and path. What is kept there was verified: a lookup record whose
// inclusion in a signed tree head was proven, tiles that hashed to it.
func CacheKey(name, p string) (db, path string) { return cacheKey(name + "/" + p) }

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// ops implements sumdb.ClientOps on the database and the HTTP client.
type ops struct{ v *Verifier }

// opTimeout bounds each database operation of the sumdb client, whose API has
// no context.
const opTimeout = 30 * time.Second

func (o *ops) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

func (o *ops) ReadRemote(path string) ([]byte, error) {
	ctx, cancel := o.ctx()
	defer cancel()
	data, err := o.v.remote.Get(ctx, path)
	o.v.clientBytes.Add(int64(len(data)))
	if errors.Is(err, fs.ErrNotExist) && strings.HasPrefix(path, "/lookup/") {
		o.v.notFound.Store(path, true)
	}
	return data, err
}

func (o *ops) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.v.opts.SumDB.Key), nil
	}
	ctx, cancel := o.ctx()
	defer cancel()
	data, err := o.v.opts.Store.SumDBConfig(ctx, file)
	if errors.Is(err, fs.ErrNotExist) {
		return []byte{}, nil
	}
	return data, err
}

func (o *ops) WriteConfig(file string, old, new []byte) error {
	ctx, cancel := o.ctx()
	defer cancel()
	err := o.v.opts.Store.SwapSumDBConfig(ctx, file, old, new)
	if errors.Is(err, store.ErrConflict) {
		return sumdb.ErrWriteConflict
	}
	if err == nil && file == o.v.opts.SumDB.Name+"/latest" {
		// The client writes a tree head only after verifying its signature
		// and that it extends the one before: record its size as seen now.
		if err := o.v.recordTreeSize(ctx, new); err != nil {
			o.v.log.Warn("recording the checksum database's tree size", "err", err.Error())
		}
	}
	return err
}

// cacheDB keeps the verified client's cache apart from the pass-through's tile
// cache, which holds tiles as the upstream served them, unverified.
func cacheKey(file string) (db, path string) {
	name, rest, _ := strings.Cut(file, "/")
	return "verified/" + name, rest
}

func (o *ops) ReadCache(file string) ([]byte, error) {
	ctx, cancel := o.ctx()
	defer cancel()
	db, path := cacheKey(file)
	data, err := o.v.opts.Store.Tile(ctx, db, path)
	o.v.clientBytes.Add(int64(len(data)))
	return data, err
}

func (o *ops) WriteCache(file string, data []byte) {
	ctx, cancel := o.ctx()
	defer cancel()
	db, path := cacheKey(file)
	if err := o.v.opts.Store.PutTile(ctx, db, path, data); err != nil {
		o.v.log.Warn("caching checksum database data", "file", file, "err", err.Error())
	}
}

func (o *ops) Log(msg string) { o.v.log.Debug("checksum database", "msg", msg) }

// SecurityError records the misbehaviour durably (every replica, and this
// one after a restart, refuses from then on; see [Verifier.Refresh]), logs it
// and reports the first one of this process to OnSecurityError.
func (o *ops) SecurityError(msg string) {
	v := o.v
	msg = strings.ToValidUTF8(strings.ReplaceAll(msg, "\x00", ""), "\uFFFD")
	v.secMu.Lock()
	first := v.secErr.CompareAndSwap(nil, &msg)
	ctx, cancel := o.ctx()
	_, err := v.opts.Store.PutSumDBFork(ctx, &store.SumDBFork{DB: v.opts.SumDB.Name, Detail: msg})
	cancel()
	if err != nil {
		v.unsaved = true
	}
	v.secMu.Unlock()
	v.log.Error("SECURITY: checksum database misbehaving", "db", v.opts.SumDB.Name, "detail", msg)
	if err != nil {
		v.log.Error("recording the checksum database's misbehaviour (retried on the next refresh)", "err", err.Error())
	}
	if first && v.opts.OnSecurityError != nil {
		v.opts.OnSecurityError(msg)
	}
}
