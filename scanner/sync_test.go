package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

func ids(vs []store.Vuln) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID)
	}
	return out
}

func TestSyncSnapshot(t *testing.T) {
	snap := snapshotDir(t)
	ctx := context.Background()
	st := newStore(t)
	s, _ := newScanner(t, st, fileURL(snap), nil)
	start := time.Now()
	res, err := s.Sync(ctx)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	t.Logf("full sync of %s: %d entries in %v", snap, res.Entries, time.Since(start))
	if n := snapshotEntries(t, snap); res.Entries != n || len(res.Added) != n || len(res.Refused) != 0 {
		t.Errorf("Sync: %d entries, %d added, refused %v; want %d, %d, none", res.Entries, len(res.Added), res.Refused, n, n)
	}
	tests := []struct {
		mod  module.Version
		want []string
	}{
		{module.Version{Path: "golang.org/x/text", Version: "v0.3.5"}, []string{"GO-2021-0113", "GO-2022-1059", "GO-2026-5970"}},
		{module.Version{Path: "golang.org/x/text", Version: "v0.3.8"}, []string{"GO-2026-5970"}},
		{module.Version{Path: "golang.org/x/text", Version: "v0.39.0"}, nil},
		{module.Version{Path: "github.com/gin-gonic/gin", Version: "v1.6.0"}, []string{"GO-2021-0052", "GO-2023-1737"}},
	}
	for _, tt := range tests {
		got, err := s.Check(ctx, tt.mod)
		if err != nil {
			t.Fatalf("Check(%s): %v", tt.mod, err)
		}
		if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
			t.Errorf("Check(%s) (-want +got):\n%s", tt.mod, diff)
		}
	}
	// GO-2021-0113 at v0.3.5 is fixed in v0.3.7.
	got, _ := s.Check(ctx, module.Version{Path: "golang.org/x/text", Version: "v0.3.5"})
	if got[0].Fixed != "v0.3.7" || got[0].ReviewStatus != "REVIEWED" || !slices.Contains(got[0].Aliases, "CVE-2021-38561") {
		t.Errorf("GO-2021-0113 at v0.3.5 = %+v; want fixed v0.3.7, reviewed, alias CVE-2021-38561", got[0])
	}
	// Toolchains are checked against stdlib and toolchain entries.
	old, err := s.Check(ctx, module.Version{Path: "golang.org/toolchain", Version: "v0.0.1-go1.21.0.linux-amd64"})
	if err != nil {
		t.Fatal(err)
	}
	std, err := s.Check(ctx, module.Version{Path: "stdlib", Version: "go1.21.0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(old) <= len(std) || len(std) < 10 {
		t.Errorf("toolchain go1.21.0: %d findings, stdlib alone %d; want many, and more than stdlib alone (toolchain entries)", len(old), len(std))
	}

	// Nothing changed: the second sync fetches no entries.
	res, err = s.Sync(ctx)
	if err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	if !res.Unchanged {
		t.Errorf("second Sync of the same data: %+v, want Unchanged", res)
	}
}

func TestSyncHTTPIncremental(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e113, e1059 := testEntry(t, "GO-2021-0113"), testEntry(t, "GO-2022-1059")
	writeDB(t, dir, e113, e1059, testEntry(t, "GO-2020-0015"))
	srv := newDBServer(t, dir)
	st := newStore(t)
	s, _ := newScanner(t, st, srv.URL, nil)
	res, err := s.Sync(ctx)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if diff := cmp.Diff([]string{"GO-2020-0015", "GO-2021-0113", "GO-2022-1059"}, res.Added); diff != "" {
		t.Errorf("Added (-want +got):\n%s", diff)
	}
	if n := srv.count("/ID/"); n != 3 {
		t.Errorf("first sync fetched %d entries, want 3", n)
	}
	// One entry changes, one is added, one is removed: only two are fetched.
	later := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	writeDB(t, dir, withModified(t, e113, later), e1059, newEntry(t, "GO-2026-0001", "example.com/new", "0", "1.0.0", later))
	srv.reset()
	res, err = s.Sync(ctx)
	if err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	want := SyncResult{DBModified: later, Added: []string{"GO-2026-0001"}, Updated: []string{"GO-2021-0113"},
		Removed: []string{"GO-2020-0015"}, Entries: 3}
	if diff := cmp.Diff(want, res, cmpSyncResult); diff != "" {
		t.Errorf("second Sync (-want +got):\n%s", diff)
	}
	if n := srv.count("/ID/"); n != 2 {
		t.Errorf("second sync fetched %d entries, want 2", n)
	}
	if got := srv.count("/index/db.json.gz"); got != 1 {
		t.Errorf("index/db.json.gz fetched %d times, want 1", got)
	}
	// The gzip bytes are kept as served.
	f, err := st.VulnFile(ctx, "ID/GO-2022-1059.json")
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := os.ReadFile(filepath.Join(dir, "ID", "GO-2022-1059.json.gz"))
	if !slices.Equal(f.Gzip, gz) || !slices.Equal(f.JSON, e1059) {
		t.Errorf("stored GO-2022-1059 differs from what was served")
	}
	got, err := s.Check(ctx, module.Version{Path: "example.com/new", Version: "v0.9.0"})
	if err != nil || len(got) != 1 || got[0].ReviewStatus != "UNREVIEWED" || got[0].Fixed != "v1.0.0" {
		t.Errorf("Check(new advisory) = %+v, %v", got, err)
	}
}

var cmpSyncResult = cmp.FilterPath(func(p cmp.Path) bool {
	switch p.Last().String() {
	case ".Duration", ".Reevaluated":
		return true
	}
	return false
}, cmp.Ignore())

func TestSyncCorruptEntry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeDB(t, dir, testEntry(t, "GO-2021-0113"), testEntry(t, "GO-2022-1059"), testEntry(t, "GO-2020-0015"))
	// GO-2022-1059 is corrupt: truncated JSON in both forms.
	writeEndpoint(t, dir, "ID/GO-2022-1059", []byte(`{"schema_version":"1.3.1","id":"GO-20`))
	// GO-2020-0015 claims another id.
	writeEndpoint(t, dir, "ID/GO-2020-0015", testEntry(t, "GO-2021-0113"))
	for _, source := range []string{"file", "http"} {
		t.Run(source, func(t *testing.T) {
			url := fileURL(dir)
			if source == "http" {
				url = newDBServer(t, dir).URL
			}
			st := newStore(t)
			s, logs := newScanner(t, st, url, nil)
			res, err := s.Sync(ctx)
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if diff := cmp.Diff([]string{"GO-2020-0015", "GO-2022-1059"}, res.Refused); diff != "" {
				t.Errorf("Refused (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"GO-2021-0113"}, res.Added); diff != "" {
				t.Errorf("Added (-want +got):\n%s", diff)
			}
			for _, id := range []string{"GO-2022-1059", "GO-2020-0015"} {
				if !strings.Contains(logs.String(), "refused corrupt entry") || !strings.Contains(logs.String(), id) {
					t.Errorf("log does not mention refusing %s:\n%s", id, logs.String())
				}
			}
			stt, err := s.Status(ctx)
			if err != nil || stt.Entries != 1 || len(stt.Refused) != 2 {
				t.Errorf("Status = %+v, %v; want 1 entry and 2 refused", stt, err)
			}
			// The next sync retries the refused entries although the database did not change.
			res, err = s.Sync(ctx)
			if err != nil || res.Unchanged || len(res.Refused) != 2 {
				t.Errorf("second Sync = %+v, %v; want the refused entries retried", res, err)
			}
		})
	}
}

func TestSyncFailureKeepsLastGood(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e113 := testEntry(t, "GO-2021-0113")
	writeDB(t, dir, e113, testEntry(t, "GO-2022-1059"))
	srv := newDBServer(t, dir)
	st := newStore(t)
	s, _ := newScanner(t, st, srv.URL, nil)
	if _, err := s.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	before, _ := st.VulnFile(ctx, "index/modules.json")

	later := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	writeDB(t, dir, withModified(t, e113, later), testEntry(t, "GO-2022-1059"), newEntry(t, "GO-2026-0001", "example.com/new", "0", "", later))
	// The server fails half-way: the indexes are served, one entry is not.
	srv.setFail(func(p string) int {
		if p == "/ID/GO-2026-0001.json.gz" {
			return http.StatusInternalServerError
		}
		return 0
	})
	_, err := s.Sync(ctx)
	if err == nil {
		t.Fatal("Sync against a failing server succeeded")
	}
	st2, _ := s.Status(ctx)
	if st2.Entries != 2 || !strings.Contains(st2.LastError, "500") || st2.DBModified.Equal(later) {
		t.Errorf("after a failed sync: %+v; want the 2 old entries, the error recorded, the old modified", st2)
	}
	after, _ := st.VulnFile(ctx, "index/modules.json")
	if !slices.Equal(before.JSON, after.JSON) {
		t.Errorf("a failed sync changed the stored index")
	}
	if got, _ := s.Check(ctx, module.Version{Path: "example.com/new", Version: "v1.0.0"}); len(got) != 0 {
		t.Errorf("a failed sync stored part of its data: %v", got)
	}
	// The server recovers: the next sync completes.
	srv.setFail(nil)
	res, err := s.Sync(ctx)
	if err != nil || len(res.Added) != 1 || len(res.Updated) != 1 {
		t.Errorf("Sync after recovery = %+v, %v", res, err)
	}
	if st3, _ := s.Status(ctx); st3.LastError != "" {
		t.Errorf("LastError after a good sync = %q", st3.LastError)
	}
	// An unreachable source.
	s2, _ := newScanner(t, st, "http://127.0.0.1:1", nil)
	if _, err := s2.Sync(ctx); err == nil {
		t.Errorf("Sync from an unreachable source succeeded")
	}
	if st4, _ := s.Status(ctx); st4.Entries != 3 {
		t.Errorf("unreachable source: %d entries left, want 3", st4.Entries)
	}
}

func TestReevaluation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeDB(t, dir, testEntry(t, "GO-2021-0113"))
	st := newStore(t)
	var mu sync.Mutex
	var posts []Notification
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		var n Notification
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &n); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		posts = append(posts, n)
	}))
	defer hook.Close()
	clock := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	s, _ := newScanner(t, st, fileURL(dir), func(o *Options) {
		o.NotifyURL = hook.URL
		o.Now = func() time.Time { return clock }
	})
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	ingested := clock
	for _, m := range []module.Version{
		{Path: "example.com/lib", Version: "v1.0.0"},
		{Path: "example.com/lib", Version: "v1.1.0"},
		{Path: "example.com/lib", Version: "v1.2.0"},
	} {
		if _, err := s.Facts(ctx, m, []byte("module example.com/lib\n"), ""); err != nil {
			t.Fatal(err)
		}
	}
	app := module.Version{Path: "example.com/app", Version: "v0.1.0"}
	if _, err := s.Facts(ctx, app, []byte("module example.com/app\nrequire example.com/lib v1.0.0\n"), ""); err != nil {
		t.Fatal(err)
	}
	// A new advisory affects example.com/lib below v1.2.0.
	clock = clock.Add(time.Hour)
	writeDB(t, dir, testEntry(t, "GO-2021-0113"), newEntry(t, "GO-2026-0001", "example.com/lib", "0", "1.2.0", clock))
	res, err := s.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Finding{
		{Module: app, Via: module.Version{Path: "example.com/lib", Version: "v1.0.0"}, VulnID: "GO-2026-0001", Fixed: "v1.2.0", LearntAt: clock},
		{Module: module.Version{Path: "example.com/lib", Version: "v1.0.0"}, VulnID: "GO-2026-0001", Fixed: "v1.2.0", LearntAt: clock},
		{Module: module.Version{Path: "example.com/lib", Version: "v1.1.0"}, VulnID: "GO-2026-0001", Fixed: "v1.2.0", LearntAt: clock},
	}
	if diff := cmp.Diff(want, res.Learnt); diff != "" {
		t.Errorf("Learnt (-want +got):\n%s", diff)
	}
	if res.NotifyErr != nil {
		t.Errorf("NotifyErr = %v", res.NotifyErr)
	}
	mu.Lock()
	if calls != 2 || len(posts) != 1 || len(posts[0].Findings) != 3 || posts[0].Findings[0].Via != "example.com/lib@v1.0.0" {
		t.Errorf("webhook: %d calls, posts %+v; want a retry and one post of 3 findings", calls, posts)
	}
	mu.Unlock()
	f, err := s.Lookup(ctx, module.Version{Path: "example.com/lib", Version: "v1.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Vulns) != 1 || f.Vulns[0].AtIngest || !f.Vulns[0].LearntAt.Equal(clock) || f.Vulns[0].Summary == "" {
		t.Errorf("Lookup after re-evaluation: %+v", f.Vulns)
	}
	if !f.Published.Equal(ingested) || f.PublishedSource != store.PublishedFirstSeen {
		t.Errorf("Published = %v (%s), want first seen %v", f.Published, f.PublishedSource, ingested)
	}
	// The advisory is narrowed: v1.0.0 only. v1.1.0's finding goes away.
	clock = clock.Add(time.Hour)
	writeDB(t, dir, testEntry(t, "GO-2021-0113"), newEntry(t, "GO-2026-0001", "example.com/lib", "0", "1.1.0", clock))
	res, err = s.Sync(ctx)
	if err != nil || len(res.Learnt) != 0 {
		t.Fatalf("third Sync = %+v, %v; want nothing learnt", res, err)
	}
	f, _ = s.Lookup(ctx, module.Version{Path: "example.com/lib", Version: "v1.1.0"})
	if len(f.Vulns) != 0 {
		t.Errorf("v1.1.0 after narrowing: %+v, want no findings", f.Vulns)
	}
	f, _ = s.Lookup(ctx, module.Version{Path: "example.com/lib", Version: "v1.0.0"})
	if len(f.Vulns) != 1 || !f.Vulns[0].LearntAt.Equal(clock.Add(-time.Hour)) {
		t.Errorf("v1.0.0 after narrowing: %+v, want the finding kept with its first time", f.Vulns)
	}
}

func TestHandler(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeDB(t, dir, testEntry(t, "GO-2021-0113"), testEntry(t, "GO-2024-2730"))
	src := newDBServer(t, dir)
	st := newStore(t)
	s, _ := newScanner(t, st, src.URL, nil)
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/vulndb/", http.StripPrefix("/vulndb", s.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, p := range []string{"index/db.json", "index/db.json.gz", "index/modules.json", "index/modules.json.gz",
		"index/vulns.json.gz", "ID/GO-2021-0113.json", "ID/GO-2024-2730.json.gz"} {
		resp, err := http.Get(srv.URL + "/vulndb/" + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if resp.StatusCode != 200 || !slices.Equal(body, want) {
			t.Errorf("GET %s: %s, %d bytes; want 200 and the %d bytes read", p, resp.Status, len(body), len(want))
		}
		if ce := resp.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("GET %s: Content-Encoding %q, want none", p, ce)
		}
	}
	for _, p := range []string{"ID/GO-2099-0001.json", "ID/GO-2021-0113", "ID/x.json", "index/other.json", ""} {
		resp, err := http.Get(srv.URL + "/vulndb/" + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %q: %s, want 404", p, resp.Status)
		}
	}
	resp, err := http.Head(srv.URL + "/vulndb/index/modules.json.gz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("HEAD index/modules.json.gz: %v %v", resp, err)
	}
	_ = errors.New
}

// TestRunRetriesWithBackoff: a sync that fails is retried after RetryMin,
// then twice as long, ..., not after the interval; the failures are counted
// and logged, and the data is there once the source answers.
func TestRunRetriesWithBackoff(t *testing.T) {
	dir := t.TempDir()
	writeDB(t, dir, testEntry(t, "GO-2021-0113"))
	srv := newDBServer(t, dir)
	var mu sync.Mutex
	failures := 3
	srv.setFail(func(p string) int {
		mu.Lock()
		defer mu.Unlock()
		if p == "/index/db.json.gz" && failures > 0 {
			failures--
			return http.StatusServiceUnavailable
		}
		return 0
	})
	st := newStore(t)
	s, logs := newScanner(t, st, srv.URL, func(o *Options) { o.RetryMin = 5 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		if a, _ := s.SyncCounts(); a >= 4 {
			break
		}
		if time.Now().After(deadline) {
			a, f := s.SyncCounts()
			t.Fatalf("after 30s: %d attempts, %d failures (an interval of 1h means no retry with backoff)", a, f)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if a, f := s.SyncCounts(); a != 4 || f != 3 {
		t.Errorf("SyncCounts = %d attempts, %d failures; want 4, 3", a, f)
	}
	status, err := s.Status(context.Background())
	if err != nil || status.SyncedAt.IsZero() || status.Entries != 1 || status.LastError != "" {
		t.Errorf("Status after the retries = %+v, %v", status, err)
	}
	for _, want := range []string{"retry_in=5ms", "retry_in=10ms", "retry_in=20ms"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
