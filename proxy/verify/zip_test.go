package verify_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy/verify"
)

// realZips are module zips copied from the Go module mirror (testdata/README.md)
// with the h1: hashes go.sum records for them.
var realZips = []struct {
	file string
	mod  module.Version
	h1   string
}{
	{"github.com_jackc_pgpassfile@v1.0.0.zip", module.Version{Path: "github.com/jackc/pgpassfile", Version: "v1.0.0"}, "h1:/6Hmqy13Ss2zCq62VdNG8tM1wchn8zjSGOBJ6icpsIM="},
	{"modernc.org_opt@v0.2.0.zip", module.Version{Path: "modernc.org/opt", Version: "v0.2.0"}, "h1:tGyef5ApycA7FSEOMraay9SaTk5zmbx7Tu+cJs4QKZg="},
}

func TestRealZipsPass(t *testing.T) {
	for _, z := range realZips {
		t.Run(z.file, func(t *testing.T) {
			path := filepath.Join("testdata", z.file)
			if err := verify.CheckZip(z.mod, path); err != nil {
				t.Fatalf("CheckZip: %v", err)
			}
			if h, err := verify.HashZip(path); err != nil || h != z.h1 {
				t.Errorf("HashZip = %s, %v; want %s (go.sum)", h, err, z.h1)
			}
		})
	}
}

func writeZip(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.zip")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckZipEntries adds entries by hand (archive/zip: x/mod/zip never
// writes them) to a module zip built with x/mod/zip, and checks which the gate
// refuses. Every refused case passes golang.org/x/mod/zip.CheckZip.
func TestCheckZipEntries(t *testing.T) {
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	const p = "example.com/m@v1.0.0/"
	base := testkit.Build(t, testkit.Module{Path: m.Path, Version: m.Version, Files: map[string]string{"a.go": "package a\n"}}).Zip
	tests := []struct {
		name    string
		entries []testkit.ZipEntry
		refuse  string // the entry named in the refusal; "" if the zip passes
		reason  string
	}{
		{"plain zip", nil, "", ""},
		{"executable file", []testkit.ZipEntry{{Name: p + "run.sh", Mode: 0o755, Body: "#!/bin/sh\n"}}, "", ""},
		{"directory entry", []testkit.ZipEntry{{Name: p + "sub/", Mode: fs.ModeDir | 0o755}, {Name: p + "sub/b.go", Body: "package sub\n"}}, "", ""},
		{"names that only look like VCS", []testkit.ZipEntry{
			{Name: p + ".gitignore", Body: "*.o\n"}, {Name: p + ".github/workflows/ci.yml", Body: "on: push\n"},
			{Name: p + ".hgtags", Body: ""}, {Name: p + "x.git/a", Body: ""}, {Name: p + "git/a", Body: ""}, {Name: p + "svn/a", Body: ""}}, "", ""},
		{"symlink to a file outside", []testkit.ZipEntry{{Name: p + "passwd", Mode: fs.ModeSymlink | 0o777, Body: "../../../../../etc/passwd"}}, p + "passwd", "symbolic link"},
		{"symlinked directory", []testkit.ZipEntry{{Name: p + "lib/", Mode: fs.ModeSymlink | 0o777}}, p + "lib/", "symbolic link"},
		{"named pipe", []testkit.ZipEntry{{Name: p + "fifo", Mode: fs.ModeNamedPipe | 0o644}}, p + "fifo", "not a regular file"},
		{"device", []testkit.ZipEntry{{Name: p + "sda", Mode: fs.ModeDevice | 0o600}}, p + "sda", "not a regular file"},
		{"socket", []testkit.ZipEntry{{Name: p + "sock", Mode: fs.ModeSocket | 0o600}}, p + "sock", "not a regular file"},
		{"directory mode on a file name", []testkit.ZipEntry{{Name: p + "d", Mode: fs.ModeDir | 0o755}}, p + "d", "not a regular file"},
		{".git config", []testkit.ZipEntry{{Name: p + ".git/config", Body: "[core]\n\tfsmonitor = touch /tmp/pwned\n"}}, p + ".git/config", "version control"},
		{".git directory entry", []testkit.ZipEntry{{Name: p + ".git/", Mode: fs.ModeDir | 0o755}}, p + ".git/", "version control"},
		{".git file", []testkit.ZipEntry{{Name: p + ".git", Body: "gitdir: /tmp/evil\n"}}, p + ".git", "version control"},
		{"nested .git", []testkit.ZipEntry{{Name: p + "vendorish/dep/.git/hooks/post-checkout", Body: "#!/bin/sh\n"}}, p + "vendorish/dep/.git/hooks/post-checkout", "version control"},
		{".GIT in capitals", []testkit.ZipEntry{{Name: p + ".GIT/config", Body: "[core]\n"}}, p + ".GIT/config", "version control"},
		{".hg", []testkit.ZipEntry{{Name: p + ".hg/hgrc", Body: "[hooks]\nupdate = touch /tmp/pwned\n"}}, p + ".hg/hgrc", "version control"},
		{".svn", []testkit.ZipEntry{{Name: p + "sub/.svn/entries", Body: "12\n"}}, p + "sub/.svn/entries", "version control"},
		{".bzr", []testkit.ZipEntry{{Name: p + ".bzr/branch/branch.conf", Body: ""}}, p + ".bzr/branch/branch.conf", "version control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeZip(t, testkit.AddZipEntries(t, base, tt.entries...))
			err := verify.CheckZip(m, path)
			if tt.refuse == "" {
				if err != nil {
					t.Fatalf("CheckZip: %v; want it accepted", err)
				}
				if _, err := verify.HashZip(path); err != nil {
					t.Errorf("HashZip: %v", err)
				}
				return
			}
			var ze *verify.ZipError
			if !errors.As(err, &ze) {
				t.Fatalf("CheckZip = %v; want a *verify.ZipError", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.refuse+": ") || !strings.Contains(msg, tt.reason) {
				t.Errorf("CheckZip = %q; want it to name %q and say %q", msg, tt.refuse, tt.reason)
			}
		})
	}
}

// TestCheckZipManyEntries checks that a refusal listing many entries stays
// within what the go command shows of an error body.
func TestCheckZipManyEntries(t *testing.T) {
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	base := testkit.Build(t, testkit.Module{Path: m.Path, Version: m.Version}).Zip
	var entries []testkit.ZipEntry
	for _, n := range []string{"HEAD", "config", "description", "hooks/pre-commit", "index", "info/exclude", "objects/pack/x.pack"} {
		entries = append(entries, testkit.ZipEntry{Name: "example.com/m@v1.0.0/.git/" + n, Body: "x"})
	}
	err := verify.CheckZip(m, writeZip(t, testkit.AddZipEntries(t, base, entries...)))
	if err == nil {
		t.Fatal("CheckZip accepted a zip with a .git directory")
	}
	msg := err.Error()
	if lines := strings.Count(msg, "\n") + 1; lines > 8 || len(msg) > 648 || !strings.Contains(msg, "(and 4 more)") {
		t.Errorf("refusal is %d lines, %d bytes: %q; want at most 8 lines and 648 bytes, naming 3 entries and 4 more", lines, len(msg), msg)
	}
}
