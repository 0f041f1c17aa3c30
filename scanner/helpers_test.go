package scanner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
)

func TestMain(m *testing.M) {
	testkit.Offline()
	os.Exit(m.Run())
}

// snapshotDir returns the vulnerability database the snapshot tests read:
// the directory named by MODGATE_VULNDB_SNAPSHOT (absolute, or relative to the
// repository root), the whole Go vulnerability database that .ci/run points
// at ../shared/vulndb; else the real subset of it in testdata/vulndb at the
// repository root (see its README.md), so a plain clone runs these tests.
func snapshotDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	snap := filepath.Join(dir, "testdata", "vulndb")
	if env := os.Getenv("MODGATE_VULNDB_SNAPSHOT"); env != "" {
		snap = env
		if !filepath.IsAbs(snap) {
			snap = filepath.Join(dir, snap)
		}
	}
	if _, err := os.Stat(filepath.Join(snap, "index", "modules.json")); err != nil {
		t.Fatalf("no vulnerability database at %s (MODGATE_VULNDB_SNAPSHOT=%q; unset, the subset in testdata/vulndb is used): %v",
			snap, os.Getenv("MODGATE_VULNDB_SNAPSHOT"), err)
	}
	abs, err := filepath.Abs(snap)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// snapshotEntries counts the entries (ID/*.json) of a database directory.
func snapshotEntries(t testing.TB, dir string) int {
	t.Helper()
	ids, err := filepath.Glob(filepath.Join(dir, "ID", "GO-*.json"))
	if err != nil || len(ids) == 0 {
		t.Fatalf("no entries in %s/ID: %v", dir, err)
	}
	return len(ids)
}

func fileURL(dir string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String()
}

func newStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// testLogger logs to the test, and records the messages.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newScanner(t testing.TB, st Store, source string, mod func(*Options)) (*Scanner, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	opts := Options{Store: st, Source: source, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		NotifyBackoff: 10 * time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scanner log:\n%s", logs.String())
		}
	})
	return s, logs
}

// testEntry reads an entry from testdata.
func testEntry(t testing.TB, id string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "vulndb", id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// writeDB writes a database in the documented layout to dir.
func writeDB(t testing.TB, dir string, entries ...[]byte) { testkit.WriteVulnDB(t, dir, entries...) }

func mustJSON(t testing.TB, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeEndpoint(t testing.TB, dir, endpoint string, data []byte) {
	testkit.WriteVulnDBEndpoint(t, dir, endpoint, data)
}

// dbServer serves a database directory over HTTP on loopback, counting
// requests, and failing those for which fail returns a status.
type dbServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests map[string]int
	fail     func(path string) int // 0: serve
}

func newDBServer(t testing.TB, dir string) *dbServer {
	d := &dbServer{requests: map[string]int{}}
	files := http.FileServer(http.Dir(dir))
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.requests[r.URL.Path]++
		fail := d.fail
		d.mu.Unlock()
		if fail != nil {
			if code := fail(r.URL.Path); code != 0 {
				http.Error(w, "injected failure", code)
				return
			}
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *dbServer) count(prefix string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for p, c := range d.requests {
		if strings.HasPrefix(p, prefix) {
			n += c
		}
	}
	return n
}

func (d *dbServer) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests = map[string]int{}
}

func (d *dbServer) setFail(f func(string) int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail = f
}

// withModified returns a copy of an entry with another modified time.
func withModified(t testing.TB, data []byte, modified time.Time) []byte {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["modified"] = modified.UTC().Format(time.RFC3339)
	return mustJSON(t, m)
}

// newEntry builds an entry affecting path in [introduced, fixed).
func newEntry(t testing.TB, id, path, introduced, fixed string, modified time.Time) []byte {
	events := []map[string]string{{"introduced": introduced}}
	if fixed != "" {
		events = append(events, map[string]string{"fixed": fixed})
	}
	return mustJSON(t, map[string]any{
		"schema_version": "1.3.1", "id": id, "modified": modified.UTC().Format(time.RFC3339),
		"published": modified.UTC().Format(time.RFC3339), "summary": fmt.Sprintf("test advisory %s", id),
		"affected": []any{map[string]any{"package": map[string]string{"name": path, "ecosystem": "Go"},
			"ranges": []any{map[string]any{"type": "SEMVER", "events": events}}, "ecosystem_specific": map[string]any{}}},
		"database_specific": map[string]string{"review_status": "UNREVIEWED"},
	})
}
