package proxy

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy/verify"
	"github.com/modgate/modgate/scanner"
	"github.com/modgate/modgate/scanner/caps"
)

// TestZipVisitor checks that the one read of a zip at ingest gives the
// capability pass what it gave it alone (its report equals caps.ZipFile's)
// and keeps the zip's license files as the scanner reads them from the
// stored zip: every root file named as a license (a Go file so named too,
// which the pass wants whole), at most scanner.MaxLicenseFile of each.
func TestZipVisitor(t *testing.T) {
	zips := ingestCapsZips(t)
	b := testkit.Build(t, testkit.Module{Path: "example.com/licensed", Version: "v1.0.0", Files: map[string]string{
		"LICENSE":      "MIT License\n\nCopyright (c) 2024 Example\n",
		"COPYING.md":   "GNU GENERAL PUBLIC LICENSE\n",
		"LICENSE.go":   "package licensed\n\nimport \"os/exec\"\n\nvar _ = exec.Command\n" + strings.Repeat("// x\n", 100),
		"LICENCE-big":  strings.Repeat("Permission is hereby granted. ", scanner.MaxLicenseFile/29+10),
		"sub/LICENSE":  "not the module's license\n",
		"a.go":         "package licensed\n",
		"NOTICE":       "not a license file\n",
		"UNLICENSE":    "This is free and unencumbered software released into the public domain.\n",
		"MIT-LICENSE":  "MIT\n",
		"license.txt":  "lower case\n",
		"LICENSE_test": "",
	}})
	f := filepath.Join(t.TempDir(), "licensed.zip")
	if err := os.WriteFile(f, b.Zip, 0o644); err != nil {
		t.Fatal(err)
	}
	zips[module.Version{Path: b.Path, Version: b.Version}] = f
	for m, file := range zips {
		t.Run(m.Path, func(t *testing.T) {
			wantCaps, err := caps.ZipFile(file, m)
			if err != nil {
				t.Fatal(err)
			}
			s := &Server{capsBudget: capsFedBudget}
			v := &zipVisitor{caps: s.newCapsFeed(m)}
			if _, _, err := verify.CheckHashZipFiles(m, file, v); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantCaps, v.caps.report()); diff != "" {
				t.Errorf("capability report (-caps.ZipFile +ingest):\n%s", diff)
			}
			if diff := cmp.Diff(licenseFiles(t, m, file), v.licenses); diff != "" {
				t.Errorf("license files (-read from the zip +kept at ingest):\n%s", diff)
			}
		})
	}
	if got := len(licenseFiles(t, module.Version{Path: b.Path, Version: b.Version}, f)); got != 8 {
		t.Errorf("the licensed module has %d license files; want 8", got)
	}
}

// licenseFiles reads the license files of the zip at file as the scanner
// does from a stored zip.
func licenseFiles(t *testing.T, m module.Version, file string) []scanner.LicenseText {
	t.Helper()
	zr, err := zip.OpenReader(file)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out []scanner.LicenseText
	for _, zf := range zr.File {
		name := strings.TrimPrefix(zf.Name, m.Path+"@"+m.Version+"/")
		if !scanner.IsLicenseFile(name) {
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		text, err := io.ReadAll(io.LimitReader(rc, scanner.MaxLicenseFile))
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, scanner.LicenseText{Name: name, Text: text})
	}
	return out
}
