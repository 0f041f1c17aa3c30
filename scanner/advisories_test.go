package scanner

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"
)

// copyFeed copies the real OpenSSF records of testdata/malware (see its
// README.md) to a fresh directory.
func copyFeed(t testing.TB) string {
	t.Helper()
	src, _ := filepath.Abs("../testdata/malware/osv")
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755)
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// editRecord rewrites a record file with changes to its top-level fields.
func editRecord(t testing.TB, file string, set map[string]any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		m[k] = v
	}
	if err := os.WriteFile(file, mustJSON(t, m), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSyncFeed(t *testing.T) {
	ctx := context.Background()
	db := t.TempDir()
	writeDB(t, db, testEntry(t, "GO-2021-0113"))
	feed := copyFeed(t)
	st := newStore(t)
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	posts := make(chan Notification, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n Notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		posts <- n
	}))
	defer hook.Close()
	s, _ := newScanner(t, st, fileURL(db), func(o *Options) {
		o.Advisories = []string{fileURL(feed)}
		o.Now = func() time.Time { return clock }
		o.NotifyURL = hook.URL
	})
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Served before modgate knew: the lower-case spelling of a record written
	// github.com/BufferZoneCorp/go-stdlog.
	served := module.Version{Path: "github.com/bufferzonecorp/go-stdlog", Version: "v0.1.0"}
	if _, err := s.Facts(ctx, served, []byte("module github.com/bufferzonecorp/go-stdlog\n"), ""); err != nil {
		t.Fatal(err)
	}
	res, err := s.SyncAdvisories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"MAL-2025-2544", "MAL-2025-2545", "MAL-2026-17453", "MAL-2026-3625"}, res[0].Added); diff != "" {
		t.Errorf("added (-want +got):\n%s", diff)
	}
	if len(res[0].Learnt) != 1 || res[0].Learnt[0].VulnID != "MAL-2026-3625" || res[0].Learnt[0].Module != served {
		t.Errorf("learnt %+v, want MAL-2026-3625 for %s", res[0].Learnt, served)
	}
	select {
	case n := <-posts:
		if n.Source != fileURL(feed) || len(n.Findings) != 1 || n.Findings[0].ID != "MAL-2026-3625" || n.Findings[0].Module != served.Path {
			t.Errorf("webhook: %+v", n)
		}
	default:
		t.Errorf("no webhook for the finding learnt from the feed (NotifyErr %v)", res[0].NotifyErr)
	}
	f, err := s.Lookup(ctx, served)
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Affecting(); len(v) != 1 || v[0].ID != "MAL-2026-3625" || v[0].Summary != "Malicious code in github.com/BufferZoneCorp/go-stdlog (Go)" {
		t.Errorf("facts vulns %+v", f.Vulns)
	}
	// Never ingested: matched by Check, by range "introduced 0".
	got, err := s.Check(ctx, module.Version{Path: "github.com/boltdb-go/bolt", Version: "v1.3.1"})
	if err != nil || len(got) != 1 || got[0].ID != "MAL-2025-2545" {
		t.Errorf("Check boltdb-go = %+v, %v", got, err)
	}

	// Incremental: nothing rewritten.
	clock = clock.Add(time.Hour)
	res, err = s.SyncAdvisories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Unchanged != 4 || len(res[0].Added)+len(res[0].Updated)+len(res[0].Removed) != 0 {
		t.Errorf("second sync %+v, want 4 unchanged", res[0])
	}

	// Withdrawn: the finding stays for history and no longer counts.
	clock = clock.Add(time.Hour)
	editRecord(t, filepath.Join(feed, "malicious/go/github.com/bufferzonecorp/go-stdlog/MAL-2026-3625.json"),
		map[string]any{"modified": clock.Format(time.RFC3339), "withdrawn": clock.Format(time.RFC3339)})
	res, err = s.SyncAdvisories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"MAL-2026-3625"}, res[0].Updated); diff != "" || len(res[0].Learnt) != 0 {
		t.Errorf("updated (-want +got):\n%s; learnt %v", diff, res[0].Learnt)
	}
	if f, err := s.Lookup(ctx, served); err != nil || len(f.Affecting()) != 0 {
		t.Errorf("after withdrawal: %+v, %v", f, err)
	}

	// A failing feed keeps its last good copy, and says so.
	os.RemoveAll(feed)
	clock = clock.Add(time.Hour)
	if _, err := s.SyncAdvisories(ctx); err == nil {
		t.Fatal("sync of a missing feed succeeded")
	}
	sts, err := s.FeedStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || !sts[0].Failing || sts[0].Entries != 4 || sts[0].LastError == "" {
		t.Errorf("status %+v, want failing with 4 entries", sts)
	}
	if got, err := s.Check(ctx, module.Version{Path: "github.com/boltdb-go/bolt", Version: "v1.3.1"}); err != nil || len(got) != 1 {
		t.Errorf("after a failed sync, Check = %+v, %v", got, err)
	}
}

// TestSyncFeedHTTPZip: a feed that is a zip over http (osv.dev's Go/all.zip
// layout: flat <id>.json files), served on loopback; a 500 keeps the last
// good copy and is recorded.
func TestSyncFeedHTTPZip(t *testing.T) {
	ctx := context.Background()
	db := t.TempDir()
	writeDB(t, db, testEntry(t, "GO-2021-0113"))
	src := copyFeed(t)
	var zipBuf bytes.Buffer
	zw := zip.NewWriter(&zipBuf)
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, _ := zw.Create(filepath.Base(p))
		_, err = w.Write(data)
		return err
	})
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		w.Write(zipBuf.Bytes())
	}))
	defer srv.Close()
	st := newStore(t)
	s, _ := newScanner(t, st, fileURL(db), func(o *Options) { o.Advisories = []string{srv.URL + "/Go/all.zip"} })
	res, err := s.SyncAdvisories(ctx)
	if err != nil || len(res[0].Added) != 4 {
		t.Fatalf("sync of the zip: %+v, %v", res, err)
	}
	fail.Store(true)
	if _, err := s.SyncAdvisories(ctx); err == nil {
		t.Fatal("a 500 was not an error")
	}
	sts, err := s.FeedStatus(ctx)
	if err != nil || len(sts) != 1 || !sts[0].Failing || sts[0].Entries != 4 || !strings.Contains(sts[0].LastError, "500") {
		t.Errorf("status after a 500: %+v, %v", sts, err)
	}
	if got, err := s.Check(ctx, module.Version{Path: "github.com/BufferZoneCorp/go-stdlog", Version: "v1.0.0"}); err != nil || len(got) != 1 {
		t.Errorf("Check after a failed sync: %+v, %v", got, err)
	}
}

// TestFeedReachesRequirementsAnyCase: a feed record for a path on a
// case-insensitive host reaches the go.mod requirements of stored versions
// whatever their spelling: the record for github.com/BufferZoneCorp/go-stdlog
// flags a version that requires github.com/bufferzonecorp/go-stdlog (or
// GitHub.com/BUFFERZONECORP/go-stdlog) once the feed syncs, as a requirement
// finding learnt after ingest; a requirement at a version the record does
// not cover, and a path on a case-sensitive host, are not flagged.
func TestFeedReachesRequirementsAnyCase(t *testing.T) {
	ctx := context.Background()
	db := t.TempDir()
	writeDB(t, db, testEntry(t, "GO-2021-0113"))
	st := newStore(t)
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	s, _ := newScanner(t, st, fileURL(db), func(o *Options) {
		o.Advisories = []string{fileURL(copyFeed(t))}
		o.Now = func() time.Time { return clock }
	})
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	apps := map[string]string{
		"example.com/lower": "github.com/bufferzonecorp/go-stdlog v0.1.0",
		"example.com/upper": "github.com/BUFFERZONECORP/go-stdlog v0.1.0",
		"example.com/other": "github.com/bufferzonecorp/go-stdlog/v2 v2.0.0", // another module
	}
	for app, req := range apps {
		mod := "module " + app + "\n\nrequire " + req + "\n"
		if _, err := s.Facts(ctx, module.Version{Path: app, Version: "v1.0.0"}, []byte(mod), ""); err != nil {
			t.Fatal(err)
		}
	}
	clock = clock.Add(time.Hour)
	res, err := s.SyncAdvisories(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var learnt []string
	for _, f := range res[0].Learnt {
		learnt = append(learnt, f.Module.Path+" via "+f.Via.String()+": "+f.VulnID)
	}
	slices.Sort(learnt)
	want := []string{
		"example.com/lower via github.com/bufferzonecorp/go-stdlog@v0.1.0: MAL-2026-3625",
		"example.com/upper via github.com/BUFFERZONECORP/go-stdlog@v0.1.0: MAL-2026-3625",
	}
	if diff := cmp.Diff(want, learnt); diff != "" {
		t.Errorf("learnt (-want +got):\n%s", diff)
	}
	f, err := s.Lookup(ctx, module.Version{Path: "example.com/lower", Version: "v1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.VulnerableRequires) != 1 || len(f.VulnerableRequires[0].Vulns) != 1 || f.VulnerableRequires[0].Vulns[0].ID != "MAL-2026-3625" ||
		f.VulnerableRequires[0].Vulns[0].AtIngest {
		t.Errorf("example.com/lower's vulnerable requirements: %+v", f.VulnerableRequires)
	}
	// A version ingested after the sync is flagged at ingest, any spelling.
	late := module.Version{Path: "example.com/late", Version: "v1.0.0"}
	f, err = s.Facts(ctx, late, []byte("module example.com/late\n\nrequire github.com/BufferZoneCorp/Go-Stdlog v0.1.0\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.VulnerableRequires) != 1 || f.VulnerableRequires[0].Vulns[0].ID != "MAL-2026-3625" {
		t.Errorf("ingested after the sync: vulnerable requirements %+v", f.VulnerableRequires)
	}
}
