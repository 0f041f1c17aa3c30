package verify_test

import (
	"archive/zip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy/verify"
)

// FuzzCheckZip feeds bytes, as an upstream's .zip answer, through the path the
// proxy's ingest takes (verify.CheckHashZip: the zip rules, then the h1: hash, checked against dirhash.HashZip)
// and holds what it accepts to the go command's standard: golang.org/x/mod/zip
// must extract it (as the go command does into the module cache), the tree it
// extracts must hold only regular files outside any version control
// directory, one per file entry, and hash (dirhash.HashDir, as go mod verify
// does) to the h1: the gate recorded. A refusal must be a *verify.ZipError,
// which the proxy answers with 403.
//
// Seeds: real module zips from the Go module mirror (testdata), zips made with
// x/mod/zip, and hostile variants of them.
func FuzzCheckZip(f *testing.F) {
	for _, z := range realZips {
		data, err := os.ReadFile(filepath.Join("testdata", z.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(z.mod.Path, z.mod.Version, data)
	}
	const p = "example.com/m@v1.0.0/"
	b := testkit.Build(f, testkit.Module{Path: "example.com/m", Version: "v1.0.0", Files: map[string]string{
		"a.go": "package a\n", "sub/b.go": "package sub\n", "LICENSE": "BSD\n"}})
	f.Add(b.Path, b.Version, b.Zip)
	for _, e := range []testkit.ZipEntry{
		{Name: p + "link", Mode: fs.ModeSymlink | 0o777, Body: "../../etc/passwd"},
		{Name: p + ".git/config", Body: "[core]\n"},
		{Name: p + "sub/", Mode: fs.ModeDir | 0o755},
		{Name: p + "run.sh", Mode: 0o755, Body: "#!/bin/sh\n"},
	} {
		f.Add(b.Path, b.Version, testkit.AddZipEntries(f, b.Zip, e))
	}
	f.Add("example.com/m", "v1.0.0", []byte("PK\x05\x06"+strings.Repeat("\x00", 18)))

	f.Fuzz(func(t *testing.T, path, version string, data []byte) {
		m := module.Version{Path: path, Version: version}
		dir := t.TempDir()
		file := filepath.Join(dir, "m.zip")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		err := verify.CheckZip(m, file)
		if err != nil {
			var ze *verify.ZipError
			if !errors.As(err, &ze) {
				t.Fatalf("CheckZip = %v (%T); want a *verify.ZipError", err, err)
			}
			return
		}
		h, err := verify.CheckHashZip(m, file)
		if err != nil {
			var ze *verify.ZipError
			if !errors.As(err, &ze) {
				t.Fatalf("CheckHashZip = %v (%T); want a *verify.ZipError", err, err)
			}
			return
		}
		if want, err := dirhash.HashZip(file, dirhash.Hash1); err != nil || h != want {
			t.Fatalf("CheckHashZip = %s; dirhash.HashZip = %s, %v", h, want, err)
		}

		// Accepted: extract it as the go command does.
		out := filepath.Join(dir, "out")
		if err := modzip.Unzip(out, m, file); err != nil {
			t.Fatalf("accepted zip (%s) does not extract: %v", h, err)
		}
		files, dirEntries := 0, 0
		names, err := entryNames(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			switch {
			case strings.HasSuffix(name, "/"):
				dirEntries++
			case name != m.Path+"@"+m.Version+"/":
				files++
			}
		}
		extracted := 0
		err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(d.Name()) {
			case ".git", ".hg", ".svn", ".bzr":
				t.Errorf("accepted zip extracts version control metadata: %s", p)
			}
			if d.Type()&fs.ModeType != 0 && !d.IsDir() {
				t.Errorf("accepted zip extracts a %v: %s", d.Type(), p)
			}
			if d.Type().IsRegular() {
				extracted++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if extracted != files {
			t.Errorf("accepted zip has %d file entries but extracts %d files", files, extracted)
		}
		if dirEntries == 0 && files > 0 {
			// dirhash.HashZip also hashes directory entries, which the
			// extracted tree cannot show; without them both hashes agree.
			dh, err := dirhash.HashDir(out, m.Path+"@"+m.Version, dirhash.Hash1)
			if err != nil {
				t.Fatal(err)
			}
			if dh != h {
				t.Errorf("extracted tree hashes to %s, the zip to %s", dh, h)
			}
		}
	})
}

// entryNames returns the entry names of the zip at path.
func entryNames(path string) ([]string, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	return names, nil
}
