package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// feed is a local module index server: the protocol of index.golang.org
// (since inclusive, limit at most 2000, oldest first) over lines.
type feed struct {
	mu     sync.Mutex
	lines  []line
	raw    map[int]string // line index -> raw text served instead
	status int            // answer this status instead, when not 0
	asked  []string       // since of each request ("" when none)
	onGet  func(n int)    // called with the request count, after answering
}

func (f *feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	since := r.URL.Query().Get("since")
	f.asked = append(f.asked, since)
	n, status := len(f.asked), f.status
	var body bytes.Buffer
	if status == 0 {
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || limit <= 0 || limit > MaxPage {
			limit = MaxPage
		}
		var from time.Time
		if since != "" {
			if from, err = time.Parse(time.RFC3339Nano, since); err != nil {
				f.mu.Unlock()
				http.Error(w, "bad since", http.StatusBadRequest)
				return
			}
		}
		i := sort.Search(len(f.lines), func(i int) bool { return !f.lines[i].Timestamp.Before(from) })
		for ; i < len(f.lines) && limit > 0; i, limit = i+1, limit-1 {
			if s, ok := f.raw[i]; ok {
				body.WriteString(s + "\n")
				continue
			}
			b, _ := json.Marshal(f.lines[i])
			body.Write(append(b, '\n'))
		}
	}
	onGet := f.onGet
	f.mu.Unlock()
	if status != 0 {
		http.Error(w, "unavailable", status)
	} else {
		w.Write(body.Bytes())
	}
	if onGet != nil {
		onGet(n)
	}
}

func (f *feed) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.asked...)
}

// realHead reads the feed's first lines, copied from index.golang.org
// (testdata/README.md).
func realHead(t testing.TB) []line {
	data, err := os.ReadFile(filepath.Join("testdata", "index-head.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []line
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e line
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// lines returns the real head then n generated lines, a millisecond apart.
func lines(t testing.TB, n int) []line {
	out := realHead(t)
	ts := out[len(out)-1].Timestamp
	for i := 0; i < n; i++ {
		ts = ts.Add(time.Millisecond)
		out = append(out, line{Path: fmt.Sprintf("example.com/m%d", i/3), Version: fmt.Sprintf("v1.0.%d", i%3), Timestamp: ts})
	}
	return out
}

func openStore(t testing.TB) *sqlite.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newFollower(t testing.TB, st Store, url string, pageSize int) *Follower {
	f, err := New(Options{Store: st, URL: url, PageSize: pageSize, PageGap: -1, RetryMin: time.Millisecond,
		RetryMax: time.Millisecond, Now: func() time.Time { return time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestNextPages(t *testing.T) {
	ctx := context.Background()
	fd := &feed{lines: lines(t, 4500)}
	srv := httptest.NewServer(fd)
	defer srv.Close()
	st := openStore(t)
	f := newFollower(t, st, srv.URL+"/index", 2000)

	var pages []Page
	for {
		p, err := f.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
		if p.CaughtUp || len(pages) > 5 {
			break
		}
	}
	last := fd.lines[len(fd.lines)-1].Timestamp
	// 4502 lines: 2000, then 2000 from the last one's time (inclusive, so
	// one again), then the remaining 504 with the repeated one.
	want := []Page{
		{Stored: 2000, Since: fd.lines[1999].Timestamp},
		{Stored: 2000, Since: fd.lines[3998].Timestamp},
		{Stored: 504, CaughtUp: true, Since: last},
	}
	if diff := cmp.Diff(want, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	wantAsked := []string{"", fd.lines[1999].Timestamp.Format(time.RFC3339Nano), fd.lines[3998].Timestamp.Format(time.RFC3339Nano)}
	if diff := cmp.Diff(wantAsked, fd.requests()); diff != "" {
		t.Errorf("since of each request (-want +got):\n%s", diff)
	}
	for _, l := range []line{fd.lines[0], fd.lines[1], fd.lines[2000], fd.lines[len(fd.lines)-1]} {
		got, err := st.IndexTime(ctx, module.Version{Path: l.Path, Version: l.Version})
		if err != nil || !got.Equal(l.Timestamp) {
			t.Errorf("IndexTime(%s@%s) = %v, %v; want %v", l.Path, l.Version, got, err, l.Timestamp)
		}
	}
	state, err := f.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantState := store.IndexState{Source: srv.URL + "/index", Since: last, Entries: 4504, ReadAt: f.now().UTC(),
		CaughtUp: true, AttemptedAt: f.now().UTC()}
	if diff := cmp.Diff(wantState, state); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}

	// A new follower (a restart, another replica) resumes from the store.
	fd.mu.Lock()
	fd.lines = append(fd.lines, line{Path: "example.com/new", Version: "v0.1.0", Timestamp: last.Add(time.Hour)})
	fd.mu.Unlock()
	p, err := newFollower(t, st, srv.URL+"/index", 2000).Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stored != 2 || !p.CaughtUp || !p.Since.Equal(last.Add(time.Hour)) {
		t.Errorf("resumed page = %+v, want the last entry again and the new one", p)
	}
	if got := fd.requests(); got[len(got)-1] != last.Format(time.RFC3339Nano) {
		t.Errorf("resumed from since=%q, want %q", got[len(got)-1], last.Format(time.RFC3339Nano))
	}
}

func TestNextFailures(t *testing.T) {
	ctx := context.Background()
	head := realHead(t)
	for _, tc := range []struct {
		name string
		feed *feed
		want string
	}{
		{"unavailable", &feed{lines: head, status: http.StatusServiceUnavailable}, "503 Service Unavailable"},
		{"truncated line", &feed{lines: head, raw: map[int]string{1: `{"Path":"github.com/FiloSottile/mkcert","Vers`}}, "line 2: unexpected end of JSON input"},
		{"no timestamp", &feed{lines: head, raw: map[int]string{1: `{"Path":"github.com/FiloSottile/mkcert","Version":"v1.3.0"}`}}, "line 2: no Timestamp"},
		{"line too long", &feed{lines: head, raw: map[int]string{0: `{"Path":"` + strings.Repeat("a", maxLine) + `"}`}}, "token too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.feed)
			defer srv.Close()
			st := openStore(t)
			f := newFollower(t, st, srv.URL, 2000)
			if _, err := f.Next(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Next: err = %v, want it to say %q", err, tc.want)
			}
			// Nothing of the page is stored, and the state says why.
			if _, err := st.IndexTime(ctx, module.Version{Path: head[0].Path, Version: head[0].Version}); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("an entry of a failed page was stored (err %v)", err)
			}
			state, err := f.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(state.LastError, tc.want) || !state.Since.IsZero() || state.AttemptedAt.IsZero() || !state.ReadAt.IsZero() {
				t.Errorf("state after a failure = %+v", state)
			}
		})
	}
}

// A line naming no valid module version is left out, and the feed is read
// past it.
func TestNextSkipsInvalid(t *testing.T) {
	ctx := context.Background()
	ls := realHead(t)
	bad := line{Path: "../../etc/passwd", Version: "v1.0.0", Timestamp: ls[1].Timestamp.Add(time.Second)}
	ls = append(ls, bad, line{Path: "example.com/m", Version: "not-a-version", Timestamp: bad.Timestamp.Add(time.Second)})
	srv := httptest.NewServer(&feed{lines: ls})
	defer srv.Close()
	st := openStore(t)
	p, err := newFollower(t, st, srv.URL, 2000).Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Page{Stored: 2, Skipped: 2, CaughtUp: true, Since: ls[3].Timestamp}); p != want {
		t.Errorf("page = %+v, want %+v", p, want)
	}
}

// A full page of entries at one time cannot be read past: an error, not a
// loop.
func TestNextStuck(t *testing.T) {
	ts := realHead(t)[0].Timestamp
	var ls []line
	for i := 0; i < 3; i++ {
		ls = append(ls, line{Path: "example.com/m", Version: fmt.Sprintf("v1.0.%d", i), Timestamp: ts})
	}
	srv := httptest.NewServer(&feed{lines: ls})
	defer srv.Close()
	f := newFollower(t, openStore(t), srv.URL, 2)
	ctx := context.Background()
	if _, err := f.Next(ctx); err != nil {
		t.Fatal(err) // the first page moves from zero to ts
	}
	if _, err := f.Next(ctx); err == nil || !strings.Contains(err.Error(), "cannot move past them") {
		t.Errorf("second page: err = %v, want the stuck error", err)
	}
}

// Run retries a failing feed and then follows it page by page.
func TestRunRetries(t *testing.T) {
	fd := &feed{lines: lines(t, 5), status: http.StatusInternalServerError}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fd.onGet = func(n int) {
		switch n {
		case 2:
			fd.mu.Lock()
			fd.status = 0 // the third request succeeds
			fd.mu.Unlock()
		case 5:
			cancel() // the fourth stored its page before the fifth was sent
		}
	}
	srv := httptest.NewServer(fd)
	defer srv.Close()
	st := openStore(t)
	f := newFollower(t, st, srv.URL, 3)
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	<-done
	asked := fd.requests()
	if len(asked) < 5 || asked[0] != "" || asked[1] != "" || asked[2] != "" ||
		asked[3] != fd.lines[2].Timestamp.Format(time.RFC3339Nano) || asked[4] != fd.lines[4].Timestamp.Format(time.RFC3339Nano) {
		t.Errorf("requests' since = %q", asked)
	}
	for _, l := range fd.lines[:5] {
		if _, err := st.IndexTime(context.Background(), module.Version{Path: l.Path, Version: l.Version}); err != nil {
			t.Errorf("%s@%s: %v", l.Path, l.Version, err)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	st := openStore(t)
	for _, u := range []string{"", "file:///tmp/index", "index.golang.org/index", "https://user:secret@index.example/index"} {
		if _, err := New(Options{Store: st, URL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("New(%q): error shows the password: %v", u, err)
		}
	}
}

// BenchmarkFollow100k reads 100,000 lines from a local feed into SQLite in
// pages of 2000 (report lines/s with -benchtime=1x), and the database's size
// per line (this test's paths are short: example.com/mN).
func BenchmarkFollow100k(b *testing.B) {
	const n = 100_000
	fd := &feed{lines: lines(b, n-2)}
	srv := httptest.NewServer(fd)
	defer srv.Close()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		st, err := sqlite.Open(context.Background(), filepath.Join(dir, "modgate.db"))
		if err != nil {
			b.Fatal(err)
		}
		f := newFollower(b, st, srv.URL, MaxPage)
		start := time.Now()
		for {
			p, err := f.Next(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if p.CaughtUp {
				break
			}
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "lines/s")
		st.Close() // checkpoints the WAL into the file
		var size int64
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if info, err := e.Info(); err == nil {
				size += info.Size()
			}
		}
		b.ReportMetric(float64(size)/n, "db-bytes/line")
	}
}

// TestRunOnlyWhileWanted: while no rule uses publication times the feed is
// not read at all (the whole index is gigabytes once stored); once one does,
// reading starts.
func TestRunOnlyWhileWanted(t *testing.T) {
	fd := &feed{lines: lines(t, 3)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := httptest.NewServer(fd)
	defer srv.Close()
	var wanted atomic.Bool
	asks := make(chan struct{}, 100)
	f, err := New(Options{Store: openStore(t), URL: srv.URL, PageSize: 2, PageGap: -1, Interval: time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: time.Millisecond,
		Wanted: func() bool { asks <- struct{}{}; return wanted.Load() }})
	if err != nil {
		t.Fatal(err)
	}
	fd.onGet = func(n int) {
		if n == 2 {
			cancel() // the first two pages hold every line
		}
	}
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	for range 5 { // asked five times, told no each time
		<-asks
	}
	if n := len(fd.requests()); n != 0 {
		t.Fatalf("the feed was read %d times while not wanted", n)
	}
	wanted.Store(true)
	go func() {
		for range asks {
		}
	}()
	<-done
	if n := len(fd.requests()); n < 2 {
		t.Errorf("the feed was read %d times once wanted, want the pages", n)
	}
}
