package scanner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/sync/errgroup"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner/vulndb"
)

// syncLock is the store lock key that keeps replicas from syncing at once.
const syncLock = "modgate/vulndb-sync"

// SyncResult says what a sync did.
type SyncResult struct {
	DBModified time.Time // index/db.json modified of the copy now stored
	Unchanged  bool      // the database had not changed: nothing was fetched
	Added      []string  // new entry ids
	Updated    []string  // changed entry ids
	Removed    []string  // ids no longer in the database
	Refused    []string  // entries refused as corrupt (logged; retried next sync)
	Entries    int       // entries stored after the sync
	// Reevaluated counts the stored (version, advisory) pairs re-matched, and
	// Learnt the findings that re-evaluation added: versions newly known to be
	// affected (withdrawn advisories excluded).
	Reevaluated int
	Learnt      []store.Finding
	// NotifyErr is the webhook's last error when every attempt failed.
	NotifyErr error
	Duration  time.Duration
}

// Sync brings the stored copy of the database up to date: it reads
// index/db.json, index/modules.json and index/vulns.json, fetches the entries
// whose modified time changed, and stores everything in one transaction. An
// entry that does not decode, or whose id is not the one asked for, is refused
// and logged, and the sync goes on without it. Any other failure (the source
// unreachable, a 5xx half-way) leaves the last good copy as it was and is
// recorded in the state. After storing, stored versions are re-evaluated
// against the changed advisories and new findings are announced.
func (s *Scanner) Sync(ctx context.Context) (res SyncResult, err error) {
	start := s.now()
	defer func() {
		res.Duration = s.now().Sub(start)
		if err != nil {
			err = fmt.Errorf("vulndb sync from %s: %w", s.client.URL(), err)
			if rerr := s.st.RecordVulnSyncError(context.WithoutCancel(ctx), s.now(), err.Error()); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	unlock, err := s.st.Lock(ctx, syncLock)
	if err != nil {
		return res, err
	}
	defer unlock()

	state, err := s.st.VulnState(ctx)
	if err != nil {
		return res, err
	}
	dbFile, err := s.client.Get(ctx, vulndb.DBEndpoint)
	if err != nil {
		return res, err
	}
	var meta vulndb.DBMeta
	if err := json.Unmarshal(dbFile.JSON, &meta); err != nil || meta.Modified.IsZero() {
		return res, fmt.Errorf("index/db.json: not a database index (%v)", err)
	}
	res.DBModified = meta.Modified
	now := s.now().UTC()
	if meta.Modified.Equal(state.DBModified) && len(state.Refused) == 0 && state.Source == s.client.URL() && state.Entries > 0 {
		res.Unchanged, res.Entries = true, state.Entries
		st := *state
		st.SyncedAt, st.AttemptedAt = now, now
		if err := s.st.ApplyVulnSync(ctx, &store.VulnSync{State: st}); err != nil {
			return res, err
		}
		return res, nil
	}

	modFile, err := s.client.Get(ctx, vulndb.ModulesEndpoint)
	if err != nil {
		return res, err
	}
	var mods []vulndb.ModuleMeta
	if err := json.Unmarshal(modFile.JSON, &mods); err != nil {
		return res, fmt.Errorf("index/modules.json: %w", err)
	}
	want := map[string]time.Time{} // id -> modified per the index
	for _, m := range mods {
		for _, v := range m.Vulns {
			want[v.ID] = v.Modified
		}
	}
	index := []store.VulnFile{file("index/db.json", dbFile), file("index/modules.json", modFile)}
	switch vulnsFile, err := s.client.Get(ctx, vulndb.VulnsEndpoint); {
	case err == nil:
		var vulns []vulndb.VulnMeta
		if err := json.Unmarshal(vulnsFile.JSON, &vulns); err != nil {
			return res, fmt.Errorf("index/vulns.json: %w", err)
		}
		for _, v := range vulns {
			want[v.ID] = v.Modified
		}
		index = append(index, file("index/vulns.json", vulnsFile))
	case errors.Is(err, errNotExist):
		// Optional: older mirrors and govulncheck's own file:// format lack it.
	default:
		return res, err
	}

	stored, err := s.st.VulnEntries(ctx)
	if err != nil {
		return res, err
	}
	old := map[string]store.VulnEntry{}
	for _, e := range stored {
		old[e.ID] = e
	}
	var fetch []string
	for id, mod := range want {
		if !vulndb.ValidID(id) {
			s.log.Warn("vulndb: refused entry id", "id", id)
			res.Refused = append(res.Refused, id)
			continue
		}
		if e, ok := old[id]; !ok || !e.Modified.Equal(mod) || slices.Contains(state.Refused, id) {
			fetch = append(fetch, id)
		}
	}
	sort.Strings(fetch)
	for _, e := range stored {
		if _, ok := want[e.ID]; !ok {
			res.Removed = append(res.Removed, e.ID)
		}
	}

	vs := &store.VulnSync{Index: index, Delete: res.Removed}
	changed := map[string]*vulndb.Entry{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.Fetchers)
	for _, id := range fetch {
		g.Go(func() error {
			f, err := s.client.Get(gctx, vulndb.EntryEndpoint(id))
			var e *vulndb.Entry
			if err == nil || errors.Is(err, vulndb.ErrCorrupt) {
				e, err = decodeEntry(id, f.JSON, err)
				if err != nil {
					s.log.Warn("vulndb: refused corrupt entry", "id", id, "err", err.Error())
					mu.Lock()
					res.Refused = append(res.Refused, id)
					mu.Unlock()
					return nil
				}
			}
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			changed[id] = e
			vs.Files = append(vs.Files, file("ID/"+id+".json", f))
			vs.Put = append(vs.Put, recordOf(e))
			if _, ok := old[id]; ok {
				res.Updated = append(res.Updated, id)
			} else {
				res.Added = append(res.Added, id)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	sort.Strings(res.Added)
	sort.Strings(res.Updated)
	sort.Strings(res.Refused)
	vs.State = store.VulnState{Source: s.client.URL(), DBModified: meta.Modified, SyncedAt: s.now().UTC(),
		AttemptedAt: s.now().UTC(), Refused: res.Refused}
	if err := s.st.ApplyVulnSync(ctx, vs); err != nil {
		return res, err
	}
	res.Entries = len(stored) + len(res.Added) - len(res.Removed)
	s.log.Info("vulndb: synced", "source", s.client.URL(), "modified", meta.Modified,
		"added", len(res.Added), "updated", len(res.Updated), "removed", len(res.Removed), "refused", len(res.Refused))

	// Re-evaluate what the stored versions are affected by.
	learnStart := s.now().UTC()
	n, err := s.reevaluate(ctx, old, changed, res.Removed, false)
	res.Reevaluated = n
	if err != nil {
		return res, fmt.Errorf("re-evaluation: %w", err)
	}
	learnt, err := s.st.LearntFindings(ctx, learnStart)
	if err != nil {
		return res, err
	}
	for _, f := range learnt {
		if e := changed[f.VulnID]; e != nil && e.Withdrawn != nil {
			continue
		}
		res.Learnt = append(res.Learnt, f)
	}
	if len(res.Learnt) > 0 {
		s.log.Warn("vulndb: stored versions newly known to be affected", "findings", len(res.Learnt))
		if s.opts.NotifyURL != "" {
			res.NotifyErr = s.notify(ctx, s.client.URL(), meta.Modified, res.Learnt)
		}
	}
	return res, nil
}

var errNotExist = vulndb.ErrNotExist

func file(path string, f vulndb.File) store.VulnFile {
	return store.VulnFile{Path: path, JSON: f.JSON, Gzip: f.Gzip}
}

// decodeEntry decodes and checks an entry fetched as id.
func decodeEntry(id string, data []byte, fetchErr error) (*vulndb.Entry, error) {
	if fetchErr != nil {
		return nil, fetchErr
	}
	var e vulndb.Entry
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&e); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data after the entry")
	}
	if e.ID != id {
		return nil, fmt.Errorf("entry says id %q", e.ID)
	}
	if e.Modified.IsZero() {
		return nil, errors.New("no modified time")
	}
	for _, a := range e.Affected {
		if a.Package.Name == "" {
			return nil, errors.New("affected block without a module path")
		}
	}
	return &e, nil
}

func recordOf(e *vulndb.Entry) store.VulnEntry {
	r := store.VulnEntry{ID: e.ID, Modified: e.Modified.UTC(), Published: e.Published.UTC(), Aliases: e.Aliases,
		Summary: e.Summary, ReviewStatus: e.ReviewStatus(), Modules: e.Modules()}
	if e.Withdrawn != nil {
		r.Withdrawn = e.Withdrawn.UTC()
	}
	return r
}

// reevaluate re-matches the stored versions of every module that a changed or
// removed advisory names (before or after the change), and the stored versions
// that require such a module, against those advisories. It returns how many
// (version, advisory) pairs it matched.
//
// fold is set for a feed's records: a path on a case-insensitive host then
// names every stored spelling of it.
func (s *Scanner) reevaluate(ctx context.Context, old map[string]store.VulnEntry, changed map[string]*vulndb.Entry, removed []string, fold bool) (int, error) {
	byPath := map[string][]string{} // module path -> changed or removed ids naming it
	note := func(path, id string) {
		if !slices.Contains(byPath[path], id) {
			byPath[path] = append(byPath[path], id)
		}
	}
	for id, e := range changed {
		for _, p := range e.Modules() {
			note(p, id)
		}
		for _, p := range old[id].Modules {
			note(p, id)
		}
	}
	for _, id := range removed {
		for _, p := range old[id].Modules {
			note(p, id)
		}
	}
	now := s.now().UTC()
	var add, remove []store.Finding
	n := 0
	// match decides one (version, advisory) pair for target t (the database
	// module and version that stand for m).
	match := func(m, via, t module.Version, id string) {
		n++
		f := store.Finding{Module: m, Via: via, VulnID: id, LearntAt: now}
		e := changed[id]
		if e != nil && e.Affects(t.Path, t.Version) {
			f.Fixed = e.FixedIn(t.Path, t.Version)
			add = append(add, f)
			return
		}
		if _, existed := old[id]; existed {
			remove = append(remove, f)
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		ids := byPath[p]
		// Stored versions of p itself; for stdlib and toolchain, the stored
		// golang.org/toolchain versions.
		owner := p
		if p == vulndb.Stdlib || p == vulndb.Toolchain {
			owner = vulndb.ToolchainModule
		}
		owners := []string{owner}
		if fold && vulndb.CaseInsensitive(p) {
			// A feed's record for a case-insensitive host names every
			// stored spelling of the path.
			folded, err := s.st.FactPathsFold(ctx, strings.ToLower(p))
			if err != nil {
				return n, err
			}
			owners = folded
		}
		for _, owner := range owners {
			versions, err := s.st.FactVersions(ctx, owner)
			if err != nil {
				return n, err
			}
			for _, v := range versions {
				m := module.Version{Path: owner, Version: v}
				for _, t := range targets(m) {
					if !vulndb.SamePath(t.Path, p) {
						continue
					}
					for _, id := range ids {
						match(m, module.Version{}, t, id)
					}
				}
			}
		}
		if owner != p {
			continue
		}
		var deps []store.Requirement
		var err error
		if fold && vulndb.CaseInsensitive(p) {
			// Every spelling of the path that a stored go.mod requires.
			deps, err = s.st.DependentsFold(ctx, strings.ToLower(p))
		} else {
			deps, err = s.st.Dependents(ctx, p)
		}
		if err != nil {
			return n, err
		}
		for _, d := range deps {
			if checkVersion(d.Requires) != nil {
				continue
			}
			for _, id := range ids {
				match(d.Module, d.Requires, d.Requires, id)
			}
		}
	}
	if len(add) == 0 && len(remove) == 0 {
		return n, nil
	}
	return n, s.st.UpdateFindings(ctx, add, remove)
}

// Notification is the JSON body posted to the webhook after a sync that found
// stored versions newly affected by advisories.
type Notification struct {
	Source     string                `json:"source"`
	DBModified time.Time             `json:"db_modified"`
	Findings   []NotificationFinding `json:"findings"`
}

// NotificationFinding is one newly affected version, or (with Finding set)
// a version a recheck of its upstream found withdrawn, back, or with its
// origin changed.
type NotificationFinding struct {
	Module   string    `json:"module"`
	Version  string    `json:"version"`
	Via      string    `json:"via,omitempty"` // "path@version" of the vulnerable requirement, if not the version itself
	ID       string    `json:"id"`            // the advisory; for upstream findings withdrawn-upstream, returned-upstream or origin-changed
	Fixed    string    `json:"fixed,omitempty"`
	LearntAt time.Time `json:"learnt_at"`
	// Finding and Detail are set for upstream findings: "withdrawn upstream",
	// "returned upstream" or "origin changed", and what the upstream answered.
	Finding string `json:"finding,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// notify posts the findings to the webhook, retrying with exponential backoff
// on a transport error or a non-2xx answer. It logs the outcome and returns the
// last error when every attempt failed.
func (s *Scanner) notify(ctx context.Context, source string, modified time.Time, learnt []store.Finding) error {
	n := Notification{Source: source, DBModified: modified}
	for _, f := range learnt {
		nf := NotificationFinding{Module: f.Module.Path, Version: f.Module.Version, ID: f.VulnID, Fixed: f.Fixed, LearntAt: f.LearntAt}
		if f.Via.Path != "" {
			nf.Via = f.Via.String()
		}
		n.Findings = append(n.Findings, nf)
	}
	return s.deliver(ctx, n)
}

// notifyUpstream posts upstream findings to the webhook, as notify does
// (source "upstream recheck").
func (s *Scanner) notifyUpstream(ctx context.Context, events []UpstreamEvent) error {
	n := Notification{Source: "upstream recheck"}
	for _, ev := range events {
		n.Findings = append(n.Findings, NotificationFinding{Module: ev.Module.Path, Version: ev.Module.Version,
			ID: strings.ReplaceAll(ev.Finding, " ", "-"), LearntAt: ev.At, Finding: ev.Finding, Detail: ev.Detail})
	}
	return s.deliver(ctx, n)
}

// deliver posts n with retries (see notify).
func (s *Scanner) deliver(ctx context.Context, n Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	wait := s.opts.NotifyBackoff
	for attempt := 1; ; attempt++ {
		err = s.post(ctx, body)
		if err == nil {
			s.log.Info("webhook notified", "source", n.Source, "findings", len(n.Findings), "attempt", attempt)
			return nil
		}
		if attempt >= s.opts.NotifyAttempts {
			break
		}
		s.log.Warn("webhook failed, retrying", "source", n.Source, "attempt", attempt, "wait", wait, "err", err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
	s.log.Error("webhook failed; giving up", "source", n.Source, "attempts", s.opts.NotifyAttempts, "findings", len(n.Findings), "err", err.Error())
	return err
}

func (s *Scanner) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.NotifyURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "modgate")
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// Run syncs at once and then every interval until ctx is done. A failed sync
// is logged (the last good copy stays in use) and retried sooner: after
// Options.RetryMin, doubling after each further failure, up to interval.
// Attempts and failures are counted ([Scanner.SyncCounts]).
func (s *Scanner) Run(ctx context.Context, interval time.Duration) {
	retry := time.Duration(0) // the wait after the last failure; 0 after a success
	for {
		res, err := s.Sync(ctx)
		if ctx.Err() != nil {
			return
		}
		s.attempts.Add(1)
		next := interval
		if err != nil {
			s.failures.Add(1)
			retry = min(max(retry*2, s.opts.RetryMin), interval)
			next = retry
			s.log.Error("vulndb: sync failed; keeping the last good copy", "err", err.Error(), "retry_in", next)
		} else {
			retry = 0
			if res.NotifyErr == nil && !res.Unchanged {
				s.log.Debug("vulndb: sync done", "duration", res.Duration, "reevaluated", res.Reevaluated)
			}
		}
		if st, err := s.Status(ctx); err == nil && st.Stale {
			s.log.Error("vulndb: vulnerability data is stale", "age", st.Age.Round(time.Minute), "max_age", s.opts.MaxAge,
				"db_modified", st.DBModified, "last_success", st.SyncedAt, "last_error", st.LastError)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// SyncCounts returns how many syncs [Scanner.Run] attempted and how many of
// them failed, since the process started.
func (s *Scanner) SyncCounts() (attempts, failures int64) {
	return s.attempts.Load(), s.failures.Load()
}

// Status describes the stored copy for /metrics and the status endpoint.
type Status struct {
	Source      string    `json:"source"`
	DBModified  time.Time `json:"db_modified"`
	SyncedAt    time.Time `json:"synced_at"`
	AttemptedAt time.Time `json:"attempted_at"`
	LastError   string    `json:"last_error,omitempty"`
	Entries     int       `json:"entries"`
	Refused     []string  `json:"refused,omitempty"`
	// Age is now minus the database's modified time, or minus the last
	// successful sync when that is longer ago; Stale is Age > MaxAge or no
	// sync ever succeeded.
	Age    time.Duration `json:"age_ns"`
	MaxAge time.Duration `json:"max_age_ns"`
	Stale  bool          `json:"stale"`
}

// Status reads the state of the stored copy.
func (s *Scanner) Status(ctx context.Context) (*Status, error) {
	st, err := s.st.VulnState(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := &Status{Source: st.Source, DBModified: st.DBModified, SyncedAt: st.SyncedAt, AttemptedAt: st.AttemptedAt,
		LastError: st.LastError, Entries: st.Entries, Refused: st.Refused, MaxAge: s.opts.MaxAge}
	if st.SyncedAt.IsZero() {
		out.Stale = true
		return out, nil
	}
	out.Age = max(now.Sub(st.DBModified), now.Sub(st.SyncedAt))
	out.Stale = out.Age > s.opts.MaxAge
	return out, nil
}
