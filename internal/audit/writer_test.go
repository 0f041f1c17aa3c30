package audit_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
)

// flaky wraps a store to inject failures and delays into appends.
type flaky struct {
	audit.Appender
	mu       sync.Mutex
	failures int           // fail this many appends first
	delay    time.Duration // before each append
	gate     chan struct{} // if not nil, each append waits for it to be closed
	calls    atomic.Int64
	sizes    []int
}

func (f *flaky) AppendAudit(ctx context.Context, events []*store.AuditEvent) error {
	f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	time.Sleep(f.delay)
	f.mu.Lock()
	if f.failures > 0 {
		f.failures--
		f.mu.Unlock()
		return errors.New("injected failure")
	}
	f.sizes = append(f.sizes, len(events))
	f.mu.Unlock()
	return f.Appender.AppendAudit(ctx, events)
}

func openSQLite(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func event(i int) *store.AuditEvent {
	return &store.AuditEvent{Type: store.AuditFetch, Module: "example.com/m", Version: fmt.Sprintf("v1.0.%d", i),
		Bytes: int64(i), Decision: store.DecisionServed}
}

// checkAll checks that s holds records with Bytes 0..n-1 in order, in a valid chain.
func checkAll(t *testing.T, s audit.Source, n int) {
	t.Helper()
	ctx := context.Background()
	var i int64
	for after := int64(0); ; {
		page, err := s.AuditEvents(ctx, store.AuditQuery{AfterSeq: after, Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Bytes != i {
				t.Fatalf("record %d has Bytes %d, want %d: records lost or reordered", e.Seq, e.Bytes, i)
			}
			i++
		}
		after = page[len(page)-1].Seq
	}
	if i != int64(n) {
		t.Fatalf("%d records stored, want %d", i, n)
	}
	rep, err := audit.Verify(ctx, s)
	if err != nil || rep.Problem != nil {
		t.Fatalf("Verify: %+v, %v", rep, err)
	}
}

func TestWriterCloseFlushesAll(t *testing.T) {
	tests := []struct {
		name  string
		opts  audit.Options
		store func(s *sqlite.Store) *flaky
	}{
		{"batched", audit.Options{FlushInterval: 20 * time.Millisecond, QueueSize: 100, MaxBatch: 64},
			func(s *sqlite.Store) *flaky { return &flaky{Appender: s} }},
		{"slow database, small queue", audit.Options{FlushInterval: time.Hour, QueueSize: 10, MaxBatch: 7},
			func(s *sqlite.Store) *flaky { return &flaky{Appender: s, delay: 2 * time.Millisecond} }},
		{"failing database recovers", audit.Options{FlushInterval: 5 * time.Millisecond, QueueSize: 50},
			func(s *sqlite.Store) *flaky { return &flaky{Appender: s, failures: 3} }},
		{"synchronous", audit.Options{FlushInterval: 0},
			func(s *sqlite.Store) *flaky { return &flaky{Appender: s, failures: 2} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openSQLite(t)
			f := tt.store(s)
			opts := tt.opts
			opts.Store = f
			w, err := audit.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			const n = 500
			var wg sync.WaitGroup
			var mu sync.Mutex // Log in order of i
			next := 0
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						mu.Lock()
						if next == n {
							mu.Unlock()
							return
						}
						w.Log(event(next))
						next++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if err := w.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			checkAll(t, s, n)
			for _, size := range f.sizes {
				if opts.MaxBatch > 0 && size > opts.MaxBatch {
					t.Errorf("an append of %d records, more than MaxBatch %d", size, opts.MaxBatch)
				}
			}
			t.Logf("%d appends for %d records", f.calls.Load(), n)
		})
	}
}

func TestWriterSynchronousIsDurableAtReturn(t *testing.T) {
	s := openSQLite(t)
	w, err := audit.New(audit.Options{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	w.Log(event(0))
	got, err := s.AuditEvents(context.Background(), store.AuditQuery{})
	if err != nil || len(got) != 1 {
		t.Fatalf("after a synchronous Log: %d records, %v; want 1", len(got), err)
	}
}

// TestWriterBackpressure checks that a full queue makes Log wait rather than
// drop, and that it goes on when the database catches up.
func TestWriterBackpressure(t *testing.T) {
	s := openSQLite(t)
	gate := make(chan struct{})
	w, err := audit.New(audit.Options{Store: &flaky{Appender: s, gate: gate}, FlushInterval: time.Millisecond,
		QueueSize: 4, MaxBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The loop holds one batch of 2 in an append that waits on gate; 4 more
	// fill the queue; the next Log must wait.
	logged := make(chan int, 100)
	go func() {
		for i := range 20 {
			w.Log(event(i))
			logged <- i
		}
	}()
	deadline := time.After(10 * time.Second)
	count := 0
wait:
	for {
		select {
		case <-logged:
			count++
		case <-time.After(300 * time.Millisecond):
			break wait
		case <-deadline:
			t.Fatal("no progress")
		}
	}
	if count >= 20 || count > 2+4+1 {
		t.Fatalf("%d of 20 Logs returned while the database was stuck; want Log to wait once the queue is full", count)
	}
	close(gate)
	for count < 20 {
		select {
		case <-logged:
			count++
		case <-deadline:
			t.Fatal("Logs still blocked after the database caught up")
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkAll(t, s, 20)
}

func TestWriterCloseGivesUp(t *testing.T) {
	s := openSQLite(t)
	w, err := audit.New(audit.Options{Store: &flaky{Appender: s, failures: 1 << 30}, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		w.Log(event(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = w.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a dead database = %v, want a deadline error", err)
	}
	t.Logf("Close: %v", err)
	w.Log(event(10)) // after Close: dropped and logged, no panic
}

// TestWriterCrashLoss kills a process that logs a record every millisecond
// with SIGKILL, and measures what it lost: at most the records of the last
// flush interval (plus an append in flight).
func TestWriterCrashLoss(t *testing.T) {
	if os.Getenv("AUDIT_CRASH_CHILD") != "" {
		crashChild()
		return
	}
	const flush = 200 * time.Millisecond
	for _, mode := range []struct {
		interval time.Duration
		spool    bool
	}{{flush, false}, {0, false}, {0, true}} {
		interval := mode.interval
		t.Run(fmt.Sprintf("flush=%v/spool=%v", interval, mode.spool), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "modgate.db")
			spoolDir := ""
			if mode.spool {
				spoolDir = filepath.Join(filepath.Dir(path), "audit-spool")
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestWriterCrashLoss$")
			cmd.Env = append(os.Environ(), "AUDIT_CRASH_CHILD="+path, "AUDIT_CRASH_FLUSH="+interval.String(),
				"AUDIT_CRASH_SPOOL="+spoolDir)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			last := -1
			for sc.Scan() {
				if n, err := strconv.Atoi(sc.Text()); err == nil {
					last = n
				}
				if last >= 1500 {
					break
				}
			}
			// Kill right after Log returned for record `last`.
			cmd.Process.Signal(syscall.SIGKILL)
			for sc.Scan() {
				if n, err := strconv.Atoi(sc.Text()); err == nil {
					last = n
				}
			}
			cmd.Wait()
			if last < 1500 {
				t.Fatalf("child logged only %d records", last+1)
			}
			s, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if mode.spool {
				// What the next modgate does when it starts.
				sp, n, err := audit.OpenSpool(context.Background(), spoolDir, s, nil)
				if err != nil {
					t.Fatalf("OpenSpool after the kill: %v", err)
				}
				t.Logf("the spool replayed %d records", n)
				if n == 0 {
					t.Errorf("the spool replayed no records: the test did not kill the process with records only in the spool")
				}
				w, err := audit.New(audit.Options{Store: s, Spool: sp})
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			chain, err := s.AuditChain(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			rep, err := audit.Verify(context.Background(), s)
			if err != nil || rep.Problem != nil {
				t.Fatalf("Verify after a crash: %+v, %v", rep, err)
			}
			persisted := chain.HeadSeq
			var lostSpan time.Duration
			if persisted > 0 {
				recs, err := s.AuditEvents(context.Background(), store.AuditQuery{AfterSeq: persisted - 1, Limit: 1})
				if err != nil || len(recs) != 1 {
					t.Fatal(recs, err)
				}
				if recs[0].Bytes != persisted-1 {
					t.Fatalf("last record persisted is %d, at Seq %d: records are missing in the middle", recs[0].Bytes, persisted)
				}
			}
			lost := int64(last+1) - persisted
			// Records are logged 1ms apart (a little more): lost records
			// span about lost milliseconds.
			lostSpan = time.Duration(lost) * time.Millisecond
			t.Logf("flush %v: logged %d, persisted %d, lost %d (about %v of records)", interval, last+1, persisted, lost, lostSpan)
			if lost < 0 {
				t.Fatalf("more persisted than logged")
			}
			limit := int64(2*interval/time.Millisecond) + 50 // the window, an append in flight, and slack
			if interval == 0 {
				limit = 0 // Log returned only after its record was committed
			}
			if lost > limit {
				t.Errorf("lost %d records, more than the flush window allows (%d)", lost, limit)
			}
		})
	}
}

// slowSpools is a store whose spooled appends take 100 ms.
type slowSpools struct{ *sqlite.Store }

func (s slowSpools) AppendAuditSpooled(ctx context.Context, spool string, through int64, events []*store.AuditEvent) error {
	time.Sleep(100 * time.Millisecond)
	return s.Store.AppendAuditSpooled(ctx, spool, through, events)
}

// crashChild logs a record about every millisecond and prints each index
// once Log has returned, until it is killed.
func crashChild() {
	interval, _ := time.ParseDuration(os.Getenv("AUDIT_CRASH_FLUSH"))
	s, err := sqlite.Open(context.Background(), os.Getenv("AUDIT_CRASH_CHILD"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var sp *audit.Spool
	if dir := os.Getenv("AUDIT_CRASH_SPOOL"); dir != "" {
		// A database slower than the requests (100 ms an append), so that
		// many records are only in the spool when the process is killed.
		if sp, _, err = audit.OpenSpool(context.Background(), dir, slowSpools{s}, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	w, err := audit.New(audit.Options{Store: s, FlushInterval: interval, Spool: sp})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		w.Log(event(i))
		fmt.Fprintln(os.Stdout, i)
		time.Sleep(time.Millisecond)
	}
}

// TestWriterGroupCommit checks group commit on both drivers: many goroutines
// of two Writers (two replicas of one database) log at once; every Log
// returns with its record committed, concurrent records share transactions,
// and the one chain verifies.
func TestWriterGroupCommit(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d db) {
		ctx := context.Background()
		const writers, goroutines, perGoroutine = 2, 16, 40
		var appends [writers]*flaky
		var ws [writers]*audit.Writer
		for i := range ws {
			appends[i] = &flaky{Appender: d.Store}
			w, err := audit.New(audit.Options{Store: appends[i]})
			if err != nil {
				t.Fatal(err)
			}
			ws[i] = w
		}
		var wg sync.WaitGroup
		var notCommitted atomic.Int64
		for g := range writers * goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := ws[g%writers]
				for i := range perGoroutine {
					e := &store.AuditEvent{Type: store.AuditFetch, Module: "example.com/m", Version: "v1.0.0",
						UserAgent: fmt.Sprintf("g%d-%d", g, i), Decision: store.DecisionServed}
					w.Log(e)
					// Log returned: the record is in the chain, sealed and committed.
					got, err := d.AuditEvents(ctx, store.AuditQuery{AfterSeq: e.Seq - 1, ThroughSeq: e.Seq})
					if err != nil || e.Seq == 0 || len(got) != 1 || got[0].UserAgent != e.UserAgent {
						notCommitted.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		for _, w := range ws {
			if err := w.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := notCommitted.Load(); n > 0 {
			t.Errorf("%d records not readable when their Log returned", n)
		}
		const total = writers * goroutines * perGoroutine
		chain, err := d.AuditChain(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if chain.HeadSeq != total {
			t.Errorf("chain head at %d, want %d records", chain.HeadSeq, total)
		}
		rep, err := audit.Verify(ctx, d.Store)
		if err != nil || rep.Problem != nil {
			t.Fatalf("Verify: %+v, %v", rep, err)
		}
		calls := appends[0].calls.Load() + appends[1].calls.Load()
		if calls >= total {
			t.Errorf("%d appends for %d records from %d concurrent goroutines: no group commit", calls, total, writers*goroutines)
		}
		t.Logf("%d appends for %d records", calls, total)
	})
}
