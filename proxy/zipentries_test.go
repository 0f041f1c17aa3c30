package proxy_test

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
)

// TestZipEntriesTheGoCommandNeverWrites serves real module zips with a
// symbolic link or version control metadata added by hand: each is refused
// with 403 (never 404, so a client's GOPROXY fallback does not fetch it
// elsewhere), says which entry, and nothing is stored.
func TestZipEntriesTheGoCommandNeverWrites(t *testing.T) {
	const p = "example.com/m@v1.0.0/"
	tests := []struct {
		name  string
		entry testkit.ZipEntry
	}{
		{"symlink", testkit.ZipEntry{Name: p + "id_rsa", Mode: fs.ModeSymlink | 0o777, Body: "../../../../.ssh/id_rsa"}},
		{".git directory", testkit.ZipEntry{Name: p + ".git/config", Body: "[core]\n\tfsmonitor = touch /tmp/pwned\n"}},
		{".hg directory", testkit.ZipEntry{Name: p + "sub/.hg/hgrc", Body: "[hooks]\nupdate = touch /tmp/pwned\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testkit.Build(t, mod("example.com/m", "v1.0.0"))
			hostile := testkit.AddZipEntries(t, b.Zip, tt.entry)
			h := newHarness(t, []*testkit.Built{b})
			h.up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, ".zip") {
					return false
				}
				w.Write(hostile)
				return true
			}
			refused := func() {
				t.Helper()
				r := h.get("/example.com/m/@v/v1.0.0.zip")
				if r.code != http.StatusForbidden || !strings.Contains(string(r.body), "invalid module zip") || !strings.Contains(string(r.body), tt.entry.Name) {
					t.Fatalf("zip with %s = %d %q; want 403 invalid module zip naming %s", tt.name, r.code, r.body, tt.entry.Name)
				}
			}
			// Refused again from memory: each request must not pull the
			// whole zip from upstream once more.
			for range 3 {
				refused()
			}
			if n := h.up.Requests("/example.com/m/@v/v1.0.0.zip"); n != 1 {
				t.Errorf("upstream zip fetches after 3 requests = %d, want 1 (the refusal is remembered)", n)
			}
			// Some minutes later it is downloaded (and refused) again.
			h.advance(11 * time.Minute)
			refused()
			if _, err := h.st.Artifact(context.Background(), module.Version{Path: "example.com/m", Version: "v1.0.0"}, store.KindZip); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("refused zip was stored: %v", err)
			}
			if n := h.up.Requests("/example.com/m/@v/v1.0.0.zip"); n != 2 {
				t.Errorf("upstream zip fetches = %d, want 2 (fetched again once the refusal expired)", n)
			}
		})
	}
}
