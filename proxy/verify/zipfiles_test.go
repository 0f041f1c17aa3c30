package verify

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
)

// TestHashZipFiles checks, on real module zips, that the one pass that
// hashes every file gives dirhash's h1: hash and each file's SHA-256 without
// the module@version/ prefix.
func TestHashZipFiles(t *testing.T) {
	for _, name := range []string{"github.com_jackc_pgpassfile@v1.0.0.zip", "modernc.org_opt@v0.2.0.zip"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			want, err := dirhash.HashZip(path, dirhash.Hash1)
			if err != nil {
				t.Fatal(err)
			}
			got, files, err := HashZipFiles(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("h1 = %s, want %s (dirhash.HashZip)", got, want)
			}
			mod, ver, _ := strings.Cut(strings.TrimSuffix(name, ".zip"), "@")
			checked, files2, err := CheckHashZipFiles(module.Version{Path: strings.ReplaceAll(mod, "_", "/"), Version: ver}, path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if checked != want || !slices.Equal(files, files2) {
				t.Errorf("CheckHashZipFiles = %s, %d files; want %s and HashZipFiles' %d", checked, len(files2), want, len(files))
			}
			if len(files) < 3 {
				t.Fatalf("files = %v, want every file of the zip", files)
			}
			hasMod := false
			for i, f := range files {
				if strings.Contains(f.Name, "@") || len(f.SHA256) != 64 || f.Size < 0 {
					t.Errorf("file %d = %+v: want a name without module@version/, a hex SHA-256", i, f)
				}
				hasMod = hasMod || f.Name == "go.mod"
				if i > 0 && files[i-1].Name >= f.Name {
					t.Errorf("files not sorted by name: %q before %q", files[i-1].Name, f.Name)
				}
			}
			if !hasMod {
				t.Errorf("no go.mod among %v", files)
			}
		})
	}
}
