package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
)

// zipFilesFor is a version's 300 files (about a hugo-graph module's), with
// contents of their own for each v.
func zipFilesFor(v int) []store.ZipFile {
	out := make([]store.ZipFile, 300)
	for i := range out {
		sum := sha256.Sum256(fmt.Appendf(nil, "%d/%d", v, i))
		out[i] = store.ZipFile{Name: fmt.Sprintf("pkg%d/file%03d.go", i/20, i), SHA256: hex.EncodeToString(sum[:]), Size: int64(100 * i)}
	}
	return out
}

// BenchmarkSimilarZips measures the clone check's lookup of a zip's 300
// files by content in an index of 1,000 versions' files, where another
// module's version holds 270 of them:
//
//	go test ./internal/store/sqlite -run '^$' -bench SimilarZips -benchmem
func BenchmarkSimilarZips(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "modgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for v := range 1000 {
		if err := s.PutZipFiles(ctx, module.Version{Path: fmt.Sprintf("example.com/seed%d", v), Version: "v1.0.0"}, zipFilesFor(v)); err != nil {
			b.Fatal(err)
		}
	}
	files := zipFilesFor(7)
	for i := range files[:30] {
		files[i] = zipFilesFor(5000)[i]
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		ms, err := s.SimilarZips(ctx, "example.com/clone", files, 20)
		if err != nil {
			b.Fatal(err)
		}
		if len(ms) != 1 || ms[0].Files != 270 {
			b.Fatalf("SimilarZips = %+v; want seed7 with 270 files", ms)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkPutZipFiles measures the clone index's insert of one zip's files
// (300, about a hugo-graph module's) into a database that already holds 100
// versions' worth, as at a cold fill's ingest:
//
//	go test ./internal/store/sqlite -run '^$' -bench PutZipFiles -benchmem
func BenchmarkPutZipFiles(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "modgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for v := range 100 {
		if err := s.PutZipFiles(ctx, module.Version{Path: "example.com/seed", Version: fmt.Sprintf("v1.0.%d", v)}, zipFilesFor(v)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	v := 1000
	for b.Loop() {
		v++
		m := module.Version{Path: fmt.Sprintf("example.com/m%d", v), Version: "v1.0.0"}
		if err := s.PutZipFiles(ctx, m, zipFilesFor(v)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
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
