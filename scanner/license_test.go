package scanner

import (
	"archive/zip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/licensecheck"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/testkit"
)

// allLicenses is a scanner over every license licensecheck knows: what the
// scanner used before CommonLicenses.
func allLicenses() *licenseScanner {
	var ids []string
	for _, l := range licensecheck.BuiltinLicenses() {
		ids = append(ids, l.ID)
	}
	return newLicenseScanner(ids)
}

// realZips lists real module zips: the copies in proxy/verify/testdata and,
// when the go command reports a module cache, every zip in it (the modules
// modgate is built from, at least).
func realZips(t *testing.T) []string {
	zips, err := filepath.Glob("../proxy/verify/testdata/*.zip")
	if err != nil || len(zips) == 0 {
		t.Fatalf("no real zips in ../proxy/verify/testdata: %v", err)
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Logf("go env GOMODCACHE: %v; only the zips of testdata", err)
		return zips
	}
	root := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".zip") {
			zips = append(zips, p)
		}
		return nil
	})
	return zips
}

// zipModule returns the module a module zip holds, from its first file name.
func zipModule(t *testing.T, p string) (module.Version, bool) {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return module.Version{}, false // a partial download in the cache
	}
	defer zr.Close()
	if len(zr.File) == 0 {
		return module.Version{}, false
	}
	path, rest, ok := strings.Cut(zr.File[0].Name, "@")
	version, _, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		return module.Version{}, false
	}
	return module.Version{Path: path, Version: version}, true
}

// TestLicensesAsFullSet checks that detecting over CommonLicenses finds what
// detecting over all of licensecheck's licenses finds, on real module zips.
func TestLicensesAsFullSet(t *testing.T) {
	full, common := allLicenses(), newLicenseScanner(nil)
	n := 0
	seen := map[string]int{}
	for _, p := range realZips(t) {
		m, ok := zipModule(t, p)
		if !ok {
			continue
		}
		want, err := licenses(m, p, full)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got, err := licenses(m, p, common)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: licenses over CommonLicenses differ from all licenses (-all +common):\n%s", m, diff)
		}
		for _, id := range want {
			seen[id]++
		}
		n++
	}
	t.Logf("%d real zips, licenses found: %v", n, seen)
}

// TestLicensesFromPolicy checks that a license outside CommonLicenses is not
// recognised until the policy names it, and then is.
func TestLicensesFromPolicy(t *testing.T) {
	text, err := os.ReadFile("testdata/licenses/Sleepycat.txt")
	if err != nil {
		t.Fatal(err)
	}
	b := testkit.Build(t, testkit.Module{Path: "example.com/sleepy", Version: "v1.0.0",
		Files: map[string]string{"LICENSE": string(text), "s.go": "package sleepy\n"}})
	zipPath := filepath.Join(t.TempDir(), "m.zip")
	if err := os.WriteFile(zipPath, b.Zip, 0o644); err != nil {
		t.Fatal(err)
	}
	m := module.Version{Path: "example.com/sleepy", Version: "v1.0.0"}
	s := &Scanner{}
	var denied []string
	s.LicensesFrom(func() []string { return denied })
	for _, tt := range []struct {
		name   string
		denied []string
		want   []string
	}{
		{"not named", nil, []string{Unknown}},
		{"named by the policy", []string{"sleepycat"}, []string{"Sleepycat"}},
		{"no longer named", nil, []string{"Sleepycat"}}, // the larger scanner stays
	} {
		t.Run(tt.name, func(t *testing.T) {
			denied = tt.denied
			got, err := licenses(m, zipPath, s.licenseScanner())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("licenses (-want +got):\n%s", diff)
			}
		})
	}
	if !slices.Contains(s.licenseScanner().ids, "Sleepycat") {
		t.Errorf("scanner ids %v lack Sleepycat", s.licenseScanner().ids)
	}
}

// BenchmarkLicenseScanner measures building the license scanner and one
// scan (what the first zip's license file costs), over CommonLicenses and
// over all of licensecheck's licenses:
//
//	go test ./scanner -run '^$' -bench LicenseScanner -benchmem -benchtime 3x
func BenchmarkLicenseScanner(b *testing.B) {
	for _, set := range []struct {
		name string
		new  func() *licenseScanner
	}{
		{"common", func() *licenseScanner { return newLicenseScanner(nil) }},
		{"all", allLicenses},
	} {
		b.Run(set.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := set.new().scan([]byte(mitText)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
