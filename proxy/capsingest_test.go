package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy/verify"
	"github.com/modgate/modgate/scanner/caps"
)

// ingestCapsZips are real module zips (testdata of the packages that read
// them, with their attribution there) and zips built with golang.org/x/mod/zip
// holding what the capability pass treats specially.
func ingestCapsZips(t *testing.T) map[module.Version]string {
	t.Helper()
	zips := map[module.Version]string{}
	for _, f := range []string{
		"../scanner/caps/testdata/github.com_spf13_cobra@v1.10.1.zip",
		"../scanner/caps/testdata/github.com_mattn_go-pointer@v0.0.1.zip",
		"../cmd/modgate/testdata/origins/github.com_dustin_go-humanize@v1.1.0.zip",
		"verify/testdata/github.com_jackc_pgpassfile@v1.0.0.zip",
		"verify/testdata/modernc.org_opt@v0.2.0.zip",
	} {
		mod, ver, _ := strings.Cut(strings.TrimSuffix(filepath.Base(f), ".zip"), "@")
		zips[module.Version{Path: strings.ReplaceAll(mod, "_", "/"), Version: ver}] = f
	}
	elf := "\x7fELF\x02\x01\x01" + strings.Repeat("\x00", 9000)
	b := testkit.Build(t, testkit.Module{Path: "example.com/tricky", Version: "v1.2.0", Files: map[string]string{
		"a.go":                "package a\n\nimport \"os/exec\"\n\nfunc init() { exec.Command(\"x\").Run() }\n",
		"a_test.go":           "package a\n\nimport \"net\"\n\nvar _ = net.Dial\n",
		"empty.go":            "",
		"asm_amd64.s":         "TEXT ·f(SB),0,$0\n",
		"sub/sub.go":          "package sub\n\nimport \"os\"\n\nvar X = os.Getenv(\"HOME\")\n",
		"sub/big.go":          "package sub\n\n// " + strings.Repeat("x", caps.MaxGoFile) + "\n",
		"tool":                elf,
		"testdata/tool":       elf,
		"run.sh":              "#!/bin/sh\necho hi\n",
		"testdata/script.sh":  "#!/bin/sh\n",
		"_ignored/x.go":       "package x\n\nimport \"unsafe\"\n\nvar _ = unsafe.Pointer(nil)\n",
		"README.md":           "# tricky\n",
		"cmd/main/main.go":    "package main\n\nimport \"net/http\"\n\nfunc main() { http.Get(\"http://x\") }\n",
		"broken/broken.go":    "package broken\n\nfunc {\n",
		"gen/constraint.go":   "//go:build ignore\n\npackage gen\n\nimport \"os/exec\"\n\nvar _ = exec.Command\n",
		"sub/zz_generated.go": "package sub\n",
	}})
	f := filepath.Join(t.TempDir(), "tricky.zip")
	if err := os.WriteFile(f, b.Zip, 0o644); err != nil {
		t.Fatal(err)
	}
	zips[module.Version{Path: b.Path, Version: b.Version}] = f
	return zips
}

// TestIngestCapabilitiesEqualZipFile checks that the capability pass fed by
// the one read that verifies and hashes a zip at ingest reports exactly what
// caps.ZipFile, which reads the stored zip again, reports.
func TestIngestCapabilitiesEqualZipFile(t *testing.T) {
	for m, file := range ingestCapsZips(t) {
		t.Run(m.Path, func(t *testing.T) {
			want, err := caps.ZipFile(file, m)
			if err != nil {
				t.Fatal(err)
			}
			s := &Server{capsBudget: capsFedBudget}
			feed := s.newCapsFeed(m)
			h, files, err := verify.CheckHashZipFiles(m, file, feed)
			if err != nil {
				t.Fatal(err)
			}
			got := feed.report()
			if n := s.capsFed.Load(); n != 0 {
				t.Errorf("after the report the feeds hold %d bytes, want 0", n)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("report of the ingest pass differs from caps.ZipFile's (-want +got):\n%s", diff)
			}
			if len(want.Uses)+len(want.Binaries)+len(want.Skipped) == 0 && m.Path == "example.com/tricky" {
				t.Errorf("the tricky module's report is empty: %+v", want)
			}
			wantH, wantFiles, err := verify.HashZipFiles(file)
			if err != nil || h != wantH || !cmp.Equal(files, wantFiles) {
				t.Errorf("CheckHashZipFiles with the pass = %s, %d files; HashZipFiles = %s, %d files, %v", h, len(files), wantH, len(wantFiles), err)
			}
		})
	}
}

// BenchmarkZipPasses compares, on a real module zip, the verify pass then a
// capability pass that reads the zip again (before) with the one read that
// feeds both (now).
//
//	go test ./proxy -run '^$' -bench ZipPasses -benchmem
func BenchmarkZipPasses(b *testing.B) {
	file := "../scanner/caps/testdata/github.com_spf13_cobra@v1.10.1.zip"
	m := module.Version{Path: "github.com/spf13/cobra", Version: "v1.10.1"}
	b.Run("two reads", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := verify.CheckHashZipFiles(m, file, nil); err != nil {
				b.Fatal(err)
			}
			if _, err := caps.ZipFile(file, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one read", func(b *testing.B) {
		s := &Server{capsBudget: capsFedBudget}
		b.ReportAllocs()
		for b.Loop() {
			feed := s.newCapsFeed(m)
			if _, _, err := verify.CheckHashZipFiles(m, file, feed); err != nil {
				b.Fatal(err)
			}
			feed.report()
		}
	})
}

// TestCapsFeedBudget checks that the passes fed at ingest hold no more
// together than their budget (caps.Pass.Held): a zip whose pass does not
// fit is dropped (its capabilities are then computed from the stored blob),
// and what a feed counted is given back when it ends, either way.
func TestCapsFeedBudget(t *testing.T) {
	file := "../scanner/caps/testdata/github.com_spf13_cobra@v1.10.1.zip"
	m := module.Version{Path: "github.com/spf13/cobra", Version: "v1.10.1"}
	s := &Server{capsBudget: 8 << 10} // cobra's pass holds about 37 KB
	other := s.newCapsFeed(module.Version{Path: "example.com/a", Version: "v1.0.0"})
	src := []byte("package a\n\nimport \"os\"\n\nvar X = os.Getenv(\"A\")\n")
	other.File("a.go", int64(len(src)), src)
	small := s.capsFed.Load()
	if small <= 0 || small > s.capsBudget {
		t.Fatalf("a one-line package's pass holds %d bytes; want some, within the budget", small)
	}
	feed := s.newCapsFeed(m)
	if _, _, err := verify.CheckHashZipFiles(m, file, feed); err != nil {
		t.Fatal(err)
	}
	if feed.pass != nil || feed.report() != nil {
		t.Errorf("a pass over the budget was kept; want it dropped")
	}
	if n := s.capsFed.Load(); n != small {
		t.Errorf("the feeds hold %d bytes, want the other feed's %d", n, small)
	}
	if other.report() == nil {
		t.Errorf("the pass within the budget has no report")
	}
	if n := s.capsFed.Load(); n != 0 {
		t.Errorf("after both feeds ended they hold %d bytes, want 0", n)
	}
	s.capsBudget = capsFedBudget
	feed = s.newCapsFeed(m)
	if _, _, err := verify.CheckHashZipFiles(m, file, feed); err != nil {
		t.Fatal(err)
	}
	if n := s.capsFed.Load(); n != feed.pass.Held() || n < 8<<10 {
		t.Errorf("within the budget the feeds hold %d bytes, want cobra's pass's %d", n, feed.pass.Held())
	}
	if feed.report() == nil {
		t.Errorf("within the budget: no report")
	}
	if n := s.capsFed.Load(); n != 0 {
		t.Errorf("after the report the feeds hold %d bytes, want 0", n)
	}
}
