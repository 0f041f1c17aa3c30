package scanner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// writeFeed10k writes n records to dir in the malicious-packages layout,
// each the real MAL-2025-2545 (testdata/malware) with only its id and module
// path changed.
func writeFeed10k(b *testing.B, dir string, n int) {
	b.Helper()
	src, err := os.ReadFile("../testdata/malware/osv/malicious/go/github.com/boltdb-go/bolt/MAL-2025-2545.json")
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		path := fmt.Sprintf("github.com/typo%05d/bolt", i)
		id := fmt.Sprintf("MAL-2025-%d", 100000+i)
		rec := strings.ReplaceAll(strings.ReplaceAll(string(src), "MAL-2025-2545", id), "github.com/boltdb-go/bolt", path)
		p := filepath.Join(dir, path, id+".json")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(rec), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyncFeed10k measures the first sync of a 10,000-record feed
// directory (read, decode, store, re-evaluate) and then a sync where nothing
// changed (read and compare only), with the peak heap during each, sampled.
func BenchmarkSyncFeed10k(b *testing.B) {
	const n = 10000
	ctx := context.Background()
	db := b.TempDir()
	writeDB(b, db, newEntry(b, "GO-2020-0001", "example.com/unrelated", "0", "", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	feed := b.TempDir()
	writeFeed10k(b, feed, n)
	for b.Loop() {
		b.StopTimer()
		st := newStore(b)
		s, _ := newScanner(b, st, fileURL(db), func(o *Options) { o.Advisories = []string{fileURL(feed)} })
		if _, err := s.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, phase := range []string{"first", "unchanged"} {
			runtime.GC()
			var peak atomic.Uint64
			done := make(chan struct{})
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				var ms runtime.MemStats
				t := time.NewTicker(10 * time.Millisecond)
				defer t.Stop()
				for {
					runtime.ReadMemStats(&ms)
					if ms.HeapAlloc > peak.Load() {
						peak.Store(ms.HeapAlloc)
					}
					select {
					case <-done:
						return
					case <-t.C:
					}
				}
			}()
			start := time.Now()
			res, err := s.SyncAdvisories(ctx)
			d := time.Since(start)
			close(done)
			<-stopped
			if err != nil {
				b.Fatal(err)
			}
			if phase == "first" && len(res[0].Added) != n || phase == "unchanged" && res[0].Unchanged != n {
				b.Fatalf("%s sync: %+v", phase, res[0])
			}
			b.ReportMetric(d.Seconds(), phase+"-s")
			b.ReportMetric(float64(peak.Load())/(1<<20), phase+"-peak-heap-MiB")
		}
	}
}
