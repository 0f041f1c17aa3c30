package scanner

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/module"
)

// BenchmarkRecord measures the facts recorded at a version's ingest
// (Record without a zip, as for a .mod): a go.mod with hugo's 180
// requirements matched against the synced vulnerability database (the subset
// in testdata/vulndb, or MODGATE_VULNDB_SNAPSHOT's whole database), the
// facts stored. Each iteration records a new version:
//
//	go test ./scanner -run '^$' -bench Record -benchmem
//	MODGATE_VULNDB_SNAPSHOT=../shared/vulndb go test ./scanner -run '^$' -bench Record -benchmem
func BenchmarkRecord(b *testing.B) {
	ctx := context.Background()
	mod, err := os.ReadFile(filepath.Join("testdata", "hugo-requires.mod"))
	if err != nil {
		b.Fatal(err)
	}
	st := newStore(b)
	s, _ := newScanner(b, st, fileURL(snapshotDir(b)), func(o *Options) { o.Logger = slog.New(slog.DiscardHandler) })
	if _, err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		i++
		m := module.Version{Path: "example.com/proxybench-fixture", Version: fmt.Sprintf("v1.0.%d", i)}
		if err := s.Record(ctx, m, mod, ""); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time per op: far less disturbed by a shared machine's load
	// than the wall time.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
