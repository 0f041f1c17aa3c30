package main

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modgate/modgate/internal/testkit"
)

// TestZipEntriesRefusedEndToEnd serves, through modgate, a module zip that an
// upstream changed by hand to hold a symbolic link and a .git directory. The
// real go command gets modgate's 403 with the reason, and does not fall
// through to the next GOPROXY entry (which serves the same zip), so nothing
// of it reaches the module cache.
func TestZipEntriesRefusedEndToEnd(t *testing.T) {
	b := testkit.Build(t, testkit.Module{Path: "example.com/hostile", Version: "v1.0.0", Files: map[string]string{"a.go": "package hostile\n"}})
	const p = "example.com/hostile@v1.0.0/"
	zip := testkit.AddZipEntries(t, b.Zip,
		testkit.ZipEntry{Name: p + "id_rsa", Mode: fs.ModeSymlink | 0o777, Body: "../../../../.ssh/id_rsa"},
		testkit.ZipEntry{Name: p + ".git/config", Body: "[core]\n\tfsmonitor = touch /tmp/pwned\n"})
	up := testkit.NewUpstream(t, b)
	up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".zip") {
			return false
		}
		w.Write(zip)
		return true
	}
	base, _ := serveInProcess(t, t.TempDir(), "--upstream", up.URL, "--sumdb", "off")

	dir := t.TempDir()
	env := testkit.GoEnv(t, dir, base+","+up.URL, "GOSUMDB=off")
	out := testkit.RunGo(t, t.TempDir(), env, true, "mod", "download", "example.com/hostile@v1.0.0")
	for _, want := range []string{"403 Forbidden", "invalid module zip", p + "id_rsa: is a symbolic link"} {
		if !strings.Contains(out, want) {
			t.Errorf("go mod download: output does not say %q:\n%s", want, out)
		}
	}
	if n := up.Requests("/example.com/hostile/@v/v1.0.0.zip"); n != 1 {
		t.Errorf("upstream served the zip %d times, want 1 (to modgate only: the go command must not fall through)", n)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "modcache", "example.com", "hostile@*"))
	if len(matches) > 0 {
		t.Errorf("the module reached the module cache: %v", matches)
	}
	if _, err := os.Stat(filepath.Join(dir, "modcache", "cache", "download", "example.com", "hostile", "@v", "v1.0.0.zip")); err == nil {
		t.Errorf("the zip reached the module cache's download directory")
	}
}
