package verify_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy/verify"
)

// hashZips are zips whose h1: modgate's hash must agree with dirhash's on:
// the real zips of testdata, a zip made by x/mod/zip, and variants with
// entries dirhash treats specially (directories, a name given twice).
func hashZips(t testing.TB) map[string][]byte {
	zips := map[string][]byte{}
	for _, z := range realZips {
		data, err := os.ReadFile(filepath.Join("testdata", z.file))
		if err != nil {
			t.Fatal(err)
		}
		zips[z.file] = data
	}
	const p = "example.com/m@v1.0.0/"
	b := testkit.Build(t, testkit.Module{Path: "example.com/m", Version: "v1.0.0", Files: map[string]string{
		"a.go": "package a\n", "sub/b.go": "package sub\n", "LICENSE": "BSD\n", "big.txt": strings.Repeat("x", 100<<10)}})
	zips["built"] = b.Zip
	zips["dir entry"] = testkit.AddZipEntries(t, b.Zip, testkit.ZipEntry{Name: p + "sub/", Mode: fs.ModeDir | 0o755})
	zips["duplicate"] = testkit.AddZipEntries(t, b.Zip, testkit.ZipEntry{Name: p + "a.go", Body: "package b\n"})
	zips["empty file"] = testkit.AddZipEntries(t, b.Zip, testkit.ZipEntry{Name: p + "empty"})
	return zips
}

func TestHashZipMatchesDirhash(t *testing.T) {
	for name, data := range hashZips(t) {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "m.zip")
			if err := os.WriteFile(file, data, 0o644); err != nil {
				t.Fatal(err)
			}
			want, err := dirhash.HashZip(file, dirhash.Hash1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := verify.HashZip(file)
			if err != nil || got != want {
				t.Errorf("HashZip = %s, %v; dirhash.HashZip = %s", got, err, want)
			}
		})
	}
	for _, z := range realZips {
		file := filepath.Join("testdata", z.file)
		got, err := verify.CheckHashZip(z.mod, file)
		if err != nil || got != z.h1 {
			t.Errorf("CheckHashZip(%s) = %s, %v; go.sum says %s", z.file, got, err, z.h1)
		}
	}
}

// TestHashZipCorpus compares HashZip with dirhash over every zip of a module
// cache's download tree named by MODGATE_ZIP_CORPUS (such as the bench
// fixture: bench/README.md), and checks each against the ziphash the go
// command recorded beside it.
func TestHashZipCorpus(t *testing.T) {
	root := os.Getenv("MODGATE_ZIP_CORPUS")
	if root == "" {
		t.Skip("MODGATE_ZIP_CORPUS is not set: no corpus of real zips to compare over")
	}
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".zip") {
			return err
		}
		want, err := dirhash.HashZip(p, dirhash.Hash1)
		if err != nil {
			return err
		}
		got, err := verify.HashZip(p)
		if err != nil || got != want {
			t.Errorf("%s: HashZip = %s, %v; dirhash.HashZip = %s", p, got, err, want)
		}
		if zh, err := os.ReadFile(strings.TrimSuffix(p, ".zip") + ".ziphash"); err == nil && strings.TrimSpace(string(zh)) != got {
			t.Errorf("%s: HashZip = %s; the go command recorded %s", p, got, zh)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no zips under %s", root)
	}
	t.Logf("%d zips hash as dirhash hashes them", n)
}

// FuzzHashZip holds HashZip to dirhash.HashZip on any bytes: both fail, or
// both give the same hash.
func FuzzHashZip(f *testing.F) {
	for _, data := range hashZips(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(t.TempDir(), "m.zip")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		want, werr := dirhash.HashZip(file, dirhash.Hash1)
		got, err := verify.HashZip(file)
		if (werr != nil) != (err != nil) || got != want {
			t.Fatalf("HashZip = %q, %v; dirhash.HashZip = %q, %v", got, err, want, werr)
		}
	})
}

// BenchmarkHashZip compares dirhash with modgate's hash on a small real zip,
// and measures the hash, zip checks and per-file sums of the clone index
// (CheckHashZipFiles, as at ingest) on a larger one, github.com/spf13/cobra
// v1.10.1 (235 KiB):
//
//	go test ./proxy/verify -run '^$' -bench HashZip -benchmem
func BenchmarkHashZip(b *testing.B) {
	file := filepath.Join("testdata", realZips[1].file)
	b.Run("dirhash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := dirhash.HashZip(file, dirhash.Hash1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("modgate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := verify.CheckHashZip(module.Version{Path: realZips[1].mod.Path, Version: realZips[1].mod.Version}, file); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cobra", func(b *testing.B) {
		file := filepath.Join("..", "..", "scanner", "caps", "testdata", "github.com_spf13_cobra@v1.10.1.zip")
		m := module.Version{Path: "github.com/spf13/cobra", Version: "v1.10.1"}
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			if _, _, err := verify.CheckHashZipFiles(m, file, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	})
}

// cpuTime is the process's user+system CPU time so far: far less disturbed
// by a shared machine's load than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
