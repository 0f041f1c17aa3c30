package proxy

import (
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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
// the one read that verifies and hashes a zip at ingest, which reads the
// files the feed kept after the hash (capsFeed), reports exactly what
// caps.ZipFile, which reads the stored zip again, reports: with the budget
// of a server, and with one so tight that the pass reads the files kept
// and then the others as they are hashed.
func TestIngestCapabilitiesEqualZipFile(t *testing.T) {
	zips := ingestCapsZips(t)
	// A real zip with more Go source than a feed keeps (capsKeepMax),
	// when the module cache has it (modgate requires it).
	sys := module.Version{Path: "golang.org/x/sys", Version: "v0.49.0"}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		file := filepath.Join(strings.TrimSpace(string(out)), "cache", "download", sys.Path, "@v", sys.Version+".zip")
		if _, err := os.Stat(file); err == nil {
			zips[sys] = file
		} else {
			t.Logf("LOUDLY: %s is not in the module cache (%v): not compared; run `go mod download %s`", sys, err, sys)
		}
	}
	for m, file := range zips {
		t.Run(m.Path, func(t *testing.T) {
			want, err := caps.ZipFile(file, m)
			if err != nil {
				t.Fatal(err)
			}
			if len(want.Uses)+len(want.Binaries)+len(want.Skipped) == 0 && m.Path == "example.com/tricky" {
				t.Errorf("the tricky module's report is empty: %+v", want)
			}
			wantH, wantFiles, err := verify.HashZipFiles(file)
			if err != nil {
				t.Fatal(err)
			}
			budget := int64(capsFedBudget)
			for _, name := range []string{"budget", "tight"} {
				s := &Server{capsBudget: budget}
				feed := s.newCapsFeed(m)
				h, files, err := verify.CheckHashZipFiles(m, file, feed)
				if err != nil {
					t.Fatal(err)
				}
				if h != wantH || !cmp.Equal(files, wantFiles) {
					t.Errorf("%s: CheckHashZipFiles with the pass = %s, %d files; HashZipFiles = %s, %d files", name, h, len(files), wantH, len(wantFiles))
				}
				if name == "budget" && m.Path == "github.com/spf13/cobra" && (len(feed.kept) == 0 || feed.inline) {
					t.Errorf("%s: the feed kept none of cobra's files for later, or read them as they were hashed", name)
				}
				inline := feed.inline
				feed.readKept()
				// Next: room for the pass's summaries and half a
				// batch kept: the pass reads the files kept, then the
				// others as they are hashed, sooner.
				budget = s.capsFed.Load() + capsChunk/2
				got := feed.report()
				if n, k := s.capsFed.Load(), s.capsKept.Load(); n != 0 || k != 0 {
					t.Errorf("%s: after the report the feeds hold %d bytes and keep %d, want 0", name, n, k)
				}
				if got == nil {
					t.Fatalf("%s: the pass was dropped", name)
				}
				if name == "tight" && !inline && len(files) > 10 {
					t.Errorf("%s: the pass read none of the files as they were hashed", name)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: report of the ingest pass differs from caps.ZipFile's (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

// TestCapsFeedDropped checks that a feed dropped while it keeps files (its
// zip was refused after the hash, say) gives back what it counted and kept,
// and reports nothing.
func TestCapsFeedDropped(t *testing.T) {
	file := "../scanner/caps/testdata/github.com_spf13_cobra@v1.10.1.zip"
	m := module.Version{Path: "github.com/spf13/cobra", Version: "v1.10.1"}
	s := &Server{capsBudget: capsFedBudget}
	feed := s.newCapsFeed(m)
	if _, _, err := verify.CheckHashZipFiles(m, file, feed); err != nil {
		t.Fatal(err)
	}
	if s.capsKept.Load() == 0 {
		t.Fatalf("the feed keeps none of cobra's files")
	}
	feed.drop()
	if n, k := s.capsFed.Load(), s.capsKept.Load(); n != 0 || k != 0 {
		t.Errorf("a dropped feed holds %d bytes and keeps %d, want 0", n, k)
	}
	if feed.report() != nil {
		t.Errorf("a dropped feed reported")
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
		s := &Server{capsBudget: capsFedBudget, capsPool: &capsPool{}}
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
// and what a feed counted or kept is given back when it ends, either way.
func TestCapsFeedBudget(t *testing.T) {
	file := "../scanner/caps/testdata/github.com_spf13_cobra@v1.10.1.zip"
	m := module.Version{Path: "github.com/spf13/cobra", Version: "v1.10.1"}
	s := &Server{capsBudget: 8 << 10} // cobra's pass holds about 37 KB
	other := s.newCapsFeed(module.Version{Path: "example.com/a", Version: "v1.0.0"})
	src := []byte("package a\n\nimport \"os\"\n\nvar X = os.Getenv(\"A\")\n")
	other.File("a.go", int64(len(src)), src) // read at once: a batch kept is over the budget
	small := s.capsFed.Load()
	if small <= 0 || small > s.capsBudget || len(other.kept) != 0 {
		t.Fatalf("a one-line package's pass holds %d bytes, %d batches kept; want some, within the budget, none kept", small, len(other.kept))
	}
	feed := s.newCapsFeed(m)
	if _, _, err := verify.CheckHashZipFiles(m, file, feed); err != nil {
		t.Fatal(err)
	}
	if feed.pass != nil || feed.report() != nil {
		t.Errorf("a pass over the budget was kept; want it dropped")
	}
	if n, k := s.capsFed.Load(), s.capsKept.Load(); n != small || k != 0 {
		t.Errorf("the feeds hold %d bytes and keep %d, want the other feed's %d and 0", n, k, small)
	}
	if other.report() == nil {
		t.Errorf("the pass within the budget has no report")
	}
	if n, k := s.capsFed.Load(), s.capsKept.Load(); n != 0 || k != 0 {
		t.Errorf("after both feeds ended they hold %d bytes and keep %d, want 0", n, k)
	}
	s.capsBudget = capsFedBudget
	feed = s.newCapsFeed(m)
	if _, _, err := verify.CheckHashZipFiles(m, file, feed); err != nil {
		t.Fatal(err)
	}
	if n, k := s.capsFed.Load(), s.capsKept.Load(); n != 0 || k != capsChunk {
		t.Errorf("within the budget the feeds hold %d bytes and keep %d, want 0 and one batch of %d (cobra's files, unread)", n, k, capsChunk)
	}
	feed.readKept()
	if n, k := s.capsFed.Load(), s.capsKept.Load(); n != feed.pass.Held() || n < 8<<10 || k != 0 {
		t.Errorf("once read, the feeds hold %d bytes and keep %d, want cobra's pass's %d and 0", n, k, feed.pass.Held())
	}
	if feed.report() == nil {
		t.Errorf("within the budget: no report")
	}
	if n, k := s.capsFed.Load(), s.capsKept.Load(); n != 0 || k != 0 {
		t.Errorf("after the report the feeds hold %d bytes and keep %d, want 0", n, k)
	}
}

// TestIngestCapabilitiesCompare is TestIngestCapabilitiesEqualZipFile over
// every zip of a module cache (MODGATE_CAPS_COMPARE, as for scanner/caps's
// TestCompareOld: $B/modcache/cache/download of ../shared/bench), with
// feeds of one server hashing four zips at a time, as a cold fill does.
// Skipped without the variable.
func TestIngestCapabilitiesCompare(t *testing.T) {
	root := os.Getenv("MODGATE_CAPS_COMPARE")
	if root == "" {
		t.Skip("MODGATE_CAPS_COMPARE not set")
	}
	zips := map[string]module.Version{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".zip") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		dir, file := path.Split(filepath.ToSlash(rel))
		mp, err1 := module.UnescapePath(strings.TrimSuffix(dir, "/@v/"))
		v, err2 := module.UnescapeVersion(strings.TrimSuffix(file, ".zip"))
		if err1 == nil && err2 == nil {
			zips[p] = module.Version{Path: mp, Version: v}
		}
		return nil
	})
	if err != nil || len(zips) == 0 {
		t.Fatalf("no zips under %s: %v", root, err)
	}
	s := &Server{capsBudget: capsFedBudget, capsPool: &capsPool{}}
	var same, dropped atomic.Int64
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for file := range work {
				m := zips[file]
				feed := s.newCapsFeed(m)
				_, _, err := verify.CheckHashZipFiles(m, file, &zipVisitor{caps: feed})
				if err != nil {
					feed.drop()
					t.Errorf("%s: %v", m, err) // the fixture's zips are all valid
					continue
				}
				got := feed.report()
				if got == nil {
					dropped.Add(1) // over the budget: analysed from the blob at ingest
					continue
				}
				want, err := caps.ZipFile(file, m)
				if err != nil {
					t.Errorf("%s: %v", m, err)
					continue
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: report of the ingest pass differs from caps.ZipFile's (-want +got):\n%s", m, diff)
					continue
				}
				same.Add(1)
			}
		}()
	}
	for file := range zips {
		work <- file
	}
	close(work)
	wg.Wait()
	if n, k := s.capsFed.Load(), s.capsKept.Load(); n != 0 || k != 0 {
		t.Errorf("after every report the feeds hold %d bytes and keep %d, want 0", n, k)
	}
	t.Logf("%d of %d zips: the same report; %d dropped over the budget", same.Load(), len(zips), dropped.Load())
}
