// Package index follows the Go module index (https://index.golang.org), the
// feed of every module version the public mirror proxy.golang.org has served,
// each with the time the mirror first served it. That time is a publication
// time no module author can set or backdate (unlike the .info Time, which is
// the commit time), so the policy's min_age counts from it.
//
// The feed is read in pages: GET <URL>?since=<RFC 3339 time>&limit=<n>
// answers up to n lines (at most 2000), oldest first, from since on
// (inclusive), each a JSON object {"Path", "Version", "Timestamp"}:
//
//	{"Path":"golang.org/x/text","Version":"v0.3.0","Timestamp":"2019-04-10T19:08:52.997264Z"}
//
// A [Follower] stores each page (store.ModuleIndex) and resumes from the
// Timestamp of the newest entry stored, so a restart or another replica
// carries on where the last read ended. It starts from the feed's first
// entry: a version the index listed before modgate started must be found
// too.
package index

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// DefaultURL is the public module index feed.
const DefaultURL = "https://index.golang.org/index"

// MaxPage is the most lines the feed answers per request.
const MaxPage = 2000

// maxLine bounds one line of the feed: a module path and version are far
// shorter; a longer line is a broken feed.
const maxLine = 8 << 10

// lockKey excludes replicas sharing a database from reading the same page.
const lockKey = "module-index"

// Store is what a Follower needs from the database.
type Store interface {
	store.ModuleIndex
	store.Locker
}

// Options configure a Follower. Store and URL are required.
type Options struct {
	Store Store
	// URL is the feed (DefaultURL, or an http(s) URL of a copy with the same
	// protocol).
	URL string
	// HTTPClient reads the feed. Nil means a client with a 1 minute timeout.
	HTTPClient *http.Client
	// Logger receives progress and failures. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// PageSize is the lines asked for per request; 0 (or above MaxPage)
	// means MaxPage.
	PageSize int
	// Interval is the wait after a page that reached the end of the feed;
	// 0 means 1 minute.
	Interval time.Duration
	// PageGap is the least wait between two pages while catching up (the
	// rate limit towards the feed); 0 means 1s, negative none.
	PageGap time.Duration
	// RetryMin is the wait after a failed read, doubled after each further
	// failure up to RetryMax; 0 means 1s. RetryMax 0 means 10 minutes.
	RetryMin, RetryMax time.Duration
	// Wanted, if set, is asked before each read: while it reports false, Run
	// reads nothing and asks again after Interval. The whole index is
	// millions of lines (gigabytes once stored): it is read only while
	// something decides with it. Nil means always.
	Wanted func() bool
}

// Follower reads the feed into the store. It is safe for concurrent use.
type Follower struct {
	opts Options
	base *url.URL
	hc   *http.Client
	log  *slog.Logger
	now  func() time.Time
}

// New returns a Follower. It does no I/O.
func New(opts Options) (*Follower, error) {
	if opts.Store == nil {
		return nil, errors.New("index: no store")
	}
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("index: %q: want an http(s) URL (%s) or off", opts.URL, DefaultURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("index: %s: a password in the URL would be stored and logged", u.Redacted())
	}
	f := &Follower{opts: opts, base: u, hc: opts.HTTPClient, log: opts.Logger, now: opts.Now}
	if f.hc == nil {
		f.hc = &http.Client{Timeout: time.Minute}
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.opts.PageSize <= 0 || f.opts.PageSize > MaxPage {
		f.opts.PageSize = MaxPage
	}
	if f.opts.Interval <= 0 {
		f.opts.Interval = time.Minute
	}
	if f.opts.PageGap == 0 {
		f.opts.PageGap = time.Second
	}
	if f.opts.RetryMin <= 0 {
		f.opts.RetryMin = time.Second
	}
	if f.opts.RetryMax <= 0 {
		f.opts.RetryMax = 10 * time.Minute
	}
	return f, nil
}

// Interval is the wait between reads once the feed is caught up.
func (f *Follower) Interval() time.Duration { return f.opts.Interval }

// State returns how far the feed has been followed.
func (f *Follower) State(ctx context.Context) (store.IndexState, error) {
	return f.opts.Store.IndexState(ctx)
}

// Page is the outcome of one read.
type Page struct {
	// Stored is the number of entries stored, Skipped the lines naming no
	// valid module version (left out).
	Stored, Skipped int
	// CaughtUp is set when the page reached the end of the feed.
	CaughtUp bool
	// Since is the Timestamp of the newest entry stored so far.
	Since time.Time
}

// Next reads and stores the page after the newest entry stored. A failure
// is recorded in the state (LastError) and returned; what was stored before
// stays.
func (f *Follower) Next(ctx context.Context) (_ Page, err error) {
	unlock, err := f.opts.Store.Lock(ctx, lockKey)
	if err != nil {
		return Page{}, err
	}
	defer unlock()
	st, err := f.opts.Store.IndexState(ctx)
	if err != nil {
		return Page{}, err
	}
	st.Source = f.base.String()
	entries, page, err := f.read(ctx, st.Since)
	st.AttemptedAt = f.now().UTC()
	if err != nil {
		st.LastError = err.Error()
		if serr := f.opts.Store.PutIndexState(ctx, st); serr != nil {
			return Page{}, errors.Join(err, serr)
		}
		return Page{}, err
	}
	st.LastError, st.ReadAt, st.CaughtUp = "", st.AttemptedAt, page.CaughtUp
	st.Entries += int64(len(entries))
	if page.Since.After(st.Since) {
		st.Since = page.Since
	}
	page.Since = st.Since
	if err := f.opts.Store.PutIndexPage(ctx, entries, st); err != nil {
		return Page{}, err
	}
	return page, nil
}

// line is one line of the feed.
type line struct {
	Path, Version string
	Timestamp     time.Time
}

// read fetches the page from since on and parses it.
func (f *Follower) read(ctx context.Context, since time.Time) ([]store.IndexEntry, Page, error) {
	u := *f.base
	q := u.Query()
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	q.Set("limit", strconv.Itoa(f.opts.PageSize))
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, Page{}, err
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return nil, Page{}, fmt.Errorf("index: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, Page{}, fmt.Errorf("index: %s: %s", f.base.Redacted(), resp.Status)
	}
	var entries []store.IndexEntry
	var page Page
	sc := bufio.NewScanner(io.LimitReader(resp.Body, int64(f.opts.PageSize+1)*maxLine))
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	lines := 0
	for sc.Scan() {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		lines++
		var l line
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, Page{}, fmt.Errorf("index: line %d: %w", lines, err)
		}
		if l.Timestamp.IsZero() {
			return nil, Page{}, fmt.Errorf("index: line %d: no Timestamp", lines)
		}
		ts := l.Timestamp.UTC().Truncate(time.Microsecond) // as the store keeps it
		if ts.After(page.Since) {
			page.Since = ts
		}
		if module.Check(l.Path, l.Version) != nil {
			page.Skipped++ // not a version the go command could ask for
			continue
		}
		entries = append(entries, store.IndexEntry{Module: module.Version{Path: l.Path, Version: l.Version}, Timestamp: ts})
	}
	if err := sc.Err(); err != nil {
		return nil, Page{}, fmt.Errorf("index: after line %d: %w", lines, err)
	}
	page.Stored, page.CaughtUp = len(entries), lines < f.opts.PageSize
	if !page.CaughtUp && !page.Since.After(since) {
		// A full page that does not move past since: asking again would
		// answer the same page forever.
		return nil, Page{}, fmt.Errorf("index: %d entries at %s, more than a page: cannot move past them", lines, since.Format(time.RFC3339Nano))
	}
	return entries, page, nil
}

// Run follows the feed until ctx is done: pages back to back (PageGap
// apart) while catching up, then every Interval; after a failure it waits
// RetryMin, doubled after each further failure up to RetryMax.
func (f *Follower) Run(ctx context.Context) {
	retry := f.opts.RetryMin
	caughtUp, idle := false, false
	for {
		if f.opts.Wanted != nil && !f.opts.Wanted() {
			if !idle {
				f.log.Info("index: not read while no policy rule uses publication times", "url", f.base.Redacted())
				idle = true
			}
			if !sleep(ctx, f.opts.Interval) {
				return
			}
			continue
		}
		idle = false
		page, err := f.Next(ctx)
		wait := f.opts.PageGap
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			f.log.Error("index: read failed; keeping what was read", "url", f.base.Redacted(), "err", err.Error(), "retry_in", retry)
			wait, retry = retry, min(2*retry, f.opts.RetryMax)
		case page.CaughtUp:
			if !caughtUp {
				f.log.Info("index: caught up", "url", f.base.Redacted(), "since", page.Since)
			}
			caughtUp, retry, wait = true, f.opts.RetryMin, f.opts.Interval
		default:
			f.log.Debug("index: page stored", "entries", page.Stored, "skipped", page.Skipped, "since", page.Since)
			caughtUp, retry = false, f.opts.RetryMin
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// sleep waits d (not at all when d <= 0); false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
