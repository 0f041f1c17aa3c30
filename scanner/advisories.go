package scanner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner/vulndb"
)

// FeedResult is the outcome of one feed's sync.
type FeedResult struct {
	Source                  string
	Added, Updated, Removed []string
	Unchanged               int      // records not rewritten (same id and modified)
	Refused                 []string // files refused (corrupt, bad id)
	Skipped                 []string // ids the Go vulnerability database already has
	Entries                 int
	Learnt                  []store.Finding
	NotifyErr               error
	Duration                time.Duration
}

// SyncAdvisories syncs every --advisories feed in turn (see [Scanner.SyncFeed])
// and returns their results; the error joins the failures (a failed feed keeps
// its last good copy and does not stop the others).
func (s *Scanner) SyncAdvisories(ctx context.Context) ([]FeedResult, error) {
	var out []FeedResult
	var errs []error
	for _, f := range s.feeds {
		res, err := s.syncFeed(ctx, f)
		out = append(out, res)
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// syncFeed brings the stored copy of one feed up to date: it reads the whole
// feed, stores the records that are new or whose modified time changed and
// removes those no longer in it, in one transaction, then re-evaluates stored
// versions against the changed records and announces new findings like a
// database sync. A record whose id the Go vulnerability database has is left
// to the database (one advisory, one finding). A failure leaves the last good
// copy as it was and is recorded in the feed's state.
func (s *Scanner) syncFeed(ctx context.Context, f *vulndb.Feed) (res FeedResult, err error) {
	start := s.now()
	res.Source = f.URL()
	defer func() {
		res.Duration = s.now().Sub(start)
		if err != nil {
			// The state is recorded per feed: its error need not repeat the
			// URL (a 403 shows it after the URL, in few bytes).
			msg := strings.TrimPrefix(err.Error(), "advisories "+f.URL()+": ")
			err = fmt.Errorf("advisories sync from %s: %w", f.URL(), err)
			if rerr := s.st.RecordAdvisorySyncError(context.WithoutCancel(ctx), f.URL(), s.now(), msg); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	unlock, err := s.st.Lock(ctx, "advisories "+f.URL())
	if err != nil {
		return res, err
	}
	defer unlock()
	recs, refused, err := f.Read(ctx)
	if err != nil {
		return res, err
	}
	for _, r := range refused {
		s.log.Warn("advisories: refused record", "source", f.URL(), "file", r)
	}
	res.Refused = refused
	stored, err := s.st.AdvisoryEntries(ctx, f.URL())
	if err != nil {
		return res, err
	}
	dbEntries, err := s.st.VulnEntries(ctx)
	if err != nil {
		return res, err
	}
	inDB := map[string]bool{}
	for _, e := range dbEntries {
		inDB[e.ID] = true
	}
	old := map[string]store.VulnEntry{}
	for _, e := range stored {
		old[e.ID] = e
	}
	as := &store.AdvisorySync{Source: f.URL()}
	changed := map[string]*vulndb.Entry{}
	seen := map[string]bool{}
	for _, r := range recs {
		id := r.Entry.ID
		if inDB[id] {
			res.Skipped = append(res.Skipped, id)
			continue
		}
		seen[id] = true
		if o, ok := old[id]; ok && o.Modified.Equal(r.Entry.Modified.UTC()) {
			res.Unchanged++
			continue
		}
		row := recordOf(r.Entry)
		row.ReviewStatus = vulndb.Reviewed
		row.JSON = r.JSON
		var keys []string
		for _, m := range row.Modules {
			if k := vulndb.PathKey(m); !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		as.Put = append(as.Put, row)
		as.Keys = append(as.Keys, keys)
		changed[id] = r.Entry
		if _, ok := old[id]; ok {
			res.Updated = append(res.Updated, id)
		} else {
			res.Added = append(res.Added, id)
		}
	}
	for _, e := range stored {
		if !seen[e.ID] {
			res.Removed = append(res.Removed, e.ID)
		}
	}
	as.Delete = res.Removed
	now := s.now().UTC()
	as.State = store.AdvisoryState{Source: f.URL(), SyncedAt: now, AttemptedAt: now, Refused: refused}
	if err := s.st.ApplyAdvisorySync(ctx, as); err != nil {
		return res, err
	}
	res.Entries = len(stored) + len(res.Added) - len(res.Removed)
	sort.Strings(res.Removed)
	s.log.Info("advisories: synced", "source", f.URL(), "added", len(res.Added), "updated", len(res.Updated),
		"removed", len(res.Removed), "unchanged", res.Unchanged, "refused", len(res.Refused), "skipped", len(res.Skipped))
	if len(changed) == 0 && len(res.Removed) == 0 {
		return res, nil
	}
	learnStart := s.now().UTC()
	if _, err := s.reevaluate(ctx, old, changed, res.Removed, true); err != nil {
		return res, fmt.Errorf("re-evaluation: %w", err)
	}
	learnt, err := s.st.LearntFindings(ctx, learnStart)
	if err != nil {
		return res, err
	}
	for _, lf := range learnt {
		if e := changed[lf.VulnID]; e == nil || e.Withdrawn != nil {
			continue // another sync's finding, or a withdrawn record
		}
		res.Learnt = append(res.Learnt, lf)
	}
	if len(res.Learnt) > 0 {
		s.log.Warn("advisories: stored versions newly known to be affected", "source", f.URL(), "findings", len(res.Learnt))
		if s.opts.NotifyURL != "" {
			res.NotifyErr = s.notify(ctx, f.URL(), now, res.Learnt)
		}
	}
	return res, nil
}

// RunAdvisories syncs the feeds at once and then every interval until ctx is
// done; a failed feed is retried sooner, as [Scanner.Run] does. It returns at
// once when there are no feeds.
func (s *Scanner) RunAdvisories(ctx context.Context, interval time.Duration) {
	if len(s.feeds) == 0 {
		return
	}
	retry := time.Duration(0)
	for {
		_, err := s.SyncAdvisories(ctx)
		if ctx.Err() != nil {
			return
		}
		s.feedAttempts.Add(1)
		next := interval
		if err != nil {
			s.feedFailures.Add(1)
			retry = min(max(retry*2, s.opts.RetryMin), interval)
			next = retry
			s.log.Error("advisories: sync failed; keeping the last good copy", "err", err.Error(), "retry_in", next)
		} else {
			retry = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// FeedCounts returns how many rounds of feed syncs [Scanner.RunAdvisories]
// attempted and how many of them failed (some feed failed).
func (s *Scanner) FeedCounts() (attempts, failures int64) {
	return s.feedAttempts.Load(), s.feedFailures.Load()
}

// FeedStatus is the state of one feed for /vulndb-status and /metrics.
type FeedStatus struct {
	Source      string    `json:"source"`
	SyncedAt    time.Time `json:"synced_at"`
	AttemptedAt time.Time `json:"attempted_at"`
	LastError   string    `json:"last_error,omitempty"`
	Entries     int       `json:"entries"`
	Refused     []string  `json:"refused,omitempty"`
	// Failing is set when the last attempt failed: the last good copy (if
	// any) is in use.
	Failing bool `json:"failing"`
}

// FeedStatus returns the state of every configured feed, in the order given;
// a feed never attempted has zero times.
func (s *Scanner) FeedStatus(ctx context.Context) ([]FeedStatus, error) {
	if len(s.feeds) == 0 {
		return nil, nil // no store read for every decision's data state
	}
	states, err := s.st.AdvisoryStates(ctx)
	if err != nil {
		return nil, err
	}
	by := map[string]store.AdvisoryState{}
	for _, st := range states {
		by[st.Source] = st
	}
	var out []FeedStatus
	for _, f := range s.feeds {
		st := by[f.URL()]
		out = append(out, FeedStatus{Source: f.URL(), SyncedAt: st.SyncedAt, AttemptedAt: st.AttemptedAt,
			LastError: st.LastError, Entries: st.Entries, Refused: st.Refused, Failing: st.LastError != ""})
	}
	return out, nil
}

// MaybeMalicious reports whether some stored record that is not withdrawn
// calls a version of path malicious ([store.IsMalware]): only then do version
// lists need a decision per version to leave malicious versions out.
func (s *Scanner) MaybeMalicious(ctx context.Context, path string) (bool, error) {
	rows, err := s.st.AdvisoryEntriesFor(ctx, vulndb.PathKey(path))
	if err != nil {
		return false, err
	}
	db, err := s.st.VulnEntriesFor(ctx, path)
	if err != nil {
		return false, err
	}
	for _, r := range append(rows, db...) {
		if r.Withdrawn.IsZero() && store.IsMalware(r.ID, r.Aliases) {
			return true, nil
		}
	}
	return false, nil
}
