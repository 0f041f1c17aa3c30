package vulndb

import (
	"archive/zip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/modgate/modgate/internal/store"
)

// realFeed is the copy of real OpenSSF malicious-packages records (see
// testdata/malware/README.md for the attribution).
func realFeed(t *testing.T) string {
	dir, err := filepath.Abs("../../testdata/malware")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestFeedDirRealRecords(t *testing.T) {
	f, err := NewFeed("file://"+realFeed(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	recs, refused, err := f.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 0 {
		t.Errorf("refused %v", refused)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.Entry.ID)
	}
	if diff := cmp.Diff([]string{"MAL-2025-2544", "MAL-2025-2545", "MAL-2026-17453", "MAL-2026-3625"}, ids); diff != "" {
		t.Fatalf("ids (-want +got):\n%s", diff)
	}
	tests := []struct {
		id, path, version string
		want              bool
	}{
		{"MAL-2025-2545", "github.com/boltdb-go/bolt", "v1.3.1", true},
		{"MAL-2025-2545", "github.com/boltdb-go/bolt", "v0.0.0-20200101000000-abcdefabcdef", true},
		{"MAL-2025-2545", "github.com/boltdb/bolt", "v1.3.1", false},
		{"MAL-2026-3625", "github.com/BufferZoneCorp/go-stdlog", "v0.1.0", true},
		{"MAL-2026-3625", "github.com/bufferzonecorp/go-stdlog", "v0.1.0", true},
		{"MAL-2026-3625", "GITHUB.COM/bufferzonecorp/GO-STDLOG", "v0.1.0", true},
		{"MAL-2026-17453", "gocommunity.io/orderedbtree", "v1.0.0", true},
		{"MAL-2026-17453", "gocommunity.io/OrderedBtree", "v1.0.0", false}, // not a case-insensitive host
	}
	by := map[string]*Entry{}
	for _, r := range recs {
		by[r.Entry.ID] = r.Entry
		if !store.IsMalware(r.Entry.ID, r.Entry.Aliases) {
			t.Errorf("%s: not malware", r.Entry.ID)
		}
		if !strings.HasPrefix(r.Entry.Summary, "Malicious code in ") {
			t.Errorf("%s: summary %q", r.Entry.ID, r.Entry.Summary)
		}
	}
	for _, tt := range tests {
		if got := by[tt.id].Affects(tt.path, tt.version); got != tt.want {
			t.Errorf("%s.Affects(%s, %s) = %v, want %v", tt.id, tt.path, tt.version, got, tt.want)
		}
	}
}

func TestFeedZip(t *testing.T) {
	src := realFeed(t)
	zipPath := filepath.Join(t.TempDir(), "all.zip")
	out, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(out)
	// osv.dev's all.zip: flat <id>.json files; one from another ecosystem and
	// one that is not JSON.
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		data, _ := os.ReadFile(p)
		w, _ := zw.Create(filepath.Base(p))
		w.Write(data)
		return nil
	})
	w, _ := zw.Create("MAL-2024-1.json")
	w.Write([]byte(`{"id":"MAL-2024-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"left-pad"}}]}`))
	w, _ = zw.Create("broken.json")
	w.Write([]byte(`{"id":`))
	zw.Close()
	out.Close()
	f, err := NewFeed("file://"+zipPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs, refused, err := f.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || len(refused) != 1 || !strings.HasPrefix(refused[0], "broken.json") {
		t.Fatalf("got %d records, refused %v; want 4 and broken.json", len(recs), refused)
	}
}

func TestAffectsOSV(t *testing.T) {
	const m = "github.com/evil/x"
	withVersions := func(vs ...string) *Entry {
		e := entry(m)
		e.Affected[0].Versions = vs
		return e
	}
	tests := []struct {
		name    string
		e       *Entry
		path    string
		version string
		want    bool
	}{
		{"explicit version listed", withVersions("1.0.0", "v1.0.2"), m, "v1.0.2", true},
		{"explicit version without v", withVersions("1.0.0"), m, "v1.0.0", true},
		{"explicit version not listed", withVersions("1.0.0"), m, "v1.0.1", false},
		{"ECOSYSTEM range as semver", entry(m, Range{Type: "ECOSYSTEM", Events: []Event{intro("1.2.0"), fixed("1.3.0")}}), m, "v1.2.5", true},
		{"ECOSYSTEM range outside", entry(m, Range{Type: "ECOSYSTEM", Events: []Event{intro("1.2.0"), fixed("1.3.0")}}), m, "v1.3.0", false},
		{"GIT range alone: every version", entry(m, Range{Type: "GIT", Events: []Event{intro("0")}}), m, "v9.0.0", true},
		{"mixed-case record, lower-case request", entry("github.com/Evil/X"), m, "v1.0.0", true},
		{"gitlab folds", entry("gitlab.com/Evil/X"), "gitlab.com/evil/x", "v1.0.0", true},
		{"other host does not fold", entry("example.com/Evil/X"), "example.com/evil/x", "v1.0.0", false},
		{"other ecosystem never", &Entry{Affected: []Affected{{Package: Package{Name: m, Ecosystem: "npm"}}}}, m, "v1.0.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Affects(tt.path, tt.version); got != tt.want {
				t.Errorf("Affects(%s, %s) = %v, want %v", tt.path, tt.version, got, tt.want)
			}
		})
	}
}

// TestFeedURLRedacted: a feed's password and query values (a token) are
// never in its URL as shown, nor in the text of a read's error, though the
// request carries them.
func TestFeedURLRedacted(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		got.Store(user + ":" + pass + " " + r.URL.Query().Get("token"))
		// Drop the connection: the client's error then quotes the URL.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	raw := strings.Replace(srv.URL, "http://", "http://reader:pw-s3cret@", 1) + "/Go/all.zip?token=tok-s3cret&v=1"
	f, err := NewFeed(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(srv.URL, "http://", "http://reader:xxxxx@", 1) + "/Go/all.zip?token=xxxxx&v=xxxxx"
	if f.URL() != want {
		t.Errorf("URL() = %q, want %q", f.URL(), want)
	}
	_, _, err = f.Read(context.Background())
	if err == nil {
		t.Fatal("Read of a dropped connection succeeded")
	}
	if got.Load() != "reader:pw-s3cret tok-s3cret" {
		t.Errorf("the request carried %q, want the credentials", got.Load())
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows a credential: %v", err)
	}
}
