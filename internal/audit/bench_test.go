package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
)

// BenchmarkWriterSQLite measures audit inserts through the Writer from 64
// concurrent requests (as wrk -c64 against cached files), on SQLite in WAL
// mode: group commit (serve's default: each Log waits for its record's
// commit) beside the old 1s flush window (Log returns at once):
//
//	go test ./internal/audit -run '^$' -bench WriterSQLite -benchmem
func BenchmarkWriterSQLite(b *testing.B) {
	for _, mode := range []struct {
		name  string
		flush time.Duration
	}{
		{"group-commit", 0},
		{"flush-1s", time.Second},
	} {
		b.Run(mode.name, func(b *testing.B) {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "modgate.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			counted := &flaky{Appender: s}
			w, err := audit.New(audit.Options{Store: counted, FlushInterval: mode.flush})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(32) // 64 goroutines on 2 CPUs
			cpu0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w.Log(&store.AuditEvent{Type: store.AuditFetch, ClientIP: "127.0.0.1", UserAgent: "Go-http-client/1.1",
						Module: "github.com/example/mod", Version: "v1.2.3", Kind: "info", Decision: store.DecisionServed,
						Source: "cache", Bytes: 150, Duration: time.Millisecond})
				}
			})
			if err := w.Close(context.Background()); err != nil { // the window's records are appended inside the timing
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/float64(counted.calls.Load()), "records/append")
			// CPU time (user+system, the whole process) per record: on a
			// shared machine it is disturbed far less than wall time.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/record")
		})
	}
}

// BenchmarkAppendSQLite measures the store's append alone, in batches of a
// fixed size (what group commit hands it under load), without the Writer:
//
//	go test ./internal/audit -run '^$' -bench AppendSQLite -benchmem
func BenchmarkAppendSQLite(b *testing.B) {
	for _, batch := range []int{1, 16, 64, 256, 1000} {
		b.Run(fmt.Sprintf("batch-%d", batch), func(b *testing.B) {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "modgate.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			events := make([]*store.AuditEvent, batch)
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				for i := range events {
					events[i] = &store.AuditEvent{Type: store.AuditFetch, ClientIP: "127.0.0.1", UserAgent: "Go-http-client/1.1",
						Module: "github.com/example/mod", Version: "v1.2.3", Kind: "info", Decision: store.DecisionServed,
						Source: "cache", Bytes: 150, Duration: time.Millisecond}
				}
				if err := s.AppendAudit(context.Background(), events); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/record")
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
