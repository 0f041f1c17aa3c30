package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
)

// spoolFiles lists the segment files in dir.
func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.spool"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func openSpool(t *testing.T, dir string, st store.AuditSpools) (*audit.Spool, int) {
	t.Helper()
	sp, n, err := audit.OpenSpool(context.Background(), dir, st, nil)
	if err != nil {
		t.Fatalf("OpenSpool: %v", err)
	}
	return sp, n
}

// TestSpoolWriter logs records from many goroutines through a Writer with a
// spool, on both drivers: Sync makes every acknowledged record visible, the
// chain verifies, records keep the order of their Logs within a goroutine,
// and Close leaves no spool file behind.
func TestSpoolWriter(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d db) {
		dir := filepath.Join(t.TempDir(), "spool")
		sp, n := openSpool(t, dir, d)
		if n != 0 {
			t.Fatalf("a new spool replayed %d records", n)
		}
		w, err := audit.New(audit.Options{Store: d, Spool: sp})
		if err != nil {
			t.Fatal(err)
		}
		const goroutines, per = 16, 50
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range per {
					e := event(g*per + i)
					e.ClientIP = "10.0.0.1"
					e.UserAgent = "bad\xffutf8\x00" // normalized as the store would
					w.Log(e)
				}
			})
		}
		wg.Wait()
		ctx := context.Background()
		if err := w.Sync(ctx); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		got, err := d.AuditEvents(ctx, store.AuditQuery{Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != goroutines*per {
			t.Fatalf("after Sync %d records in the database, want %d", len(got), goroutines*per)
		}
		last := map[int64]int64{}
		for _, e := range got {
			g := e.Bytes / per
			if prev, ok := last[g]; ok && e.Bytes <= prev {
				t.Fatalf("record %d of goroutine %d appended after %d", e.Bytes, g, prev)
			}
			last[g] = e.Bytes
			if e.UserAgent != "bad\uFFFDutf8\uFFFD" {
				t.Fatalf("user agent %q, want it normalized", e.UserAgent)
			}
		}
		if rep, err := audit.Verify(ctx, d); err != nil || rep.Problem != nil {
			t.Fatalf("Verify: %+v, %v", rep, err)
		}
		if err := w.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if files := spoolFiles(t, dir); len(files) != 0 {
			t.Errorf("spool files left after Close: %v", files)
		}
		if mark, err := d.AuditSpoolMark(ctx, spoolIDOf(t, dir)); err != nil || mark != goroutines*per {
			t.Errorf("spool mark = %d, %v; want %d", mark, err, goroutines*per)
		}
	})
}

func spoolIDOf(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "id"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// downSpools is a store whose spooled appends fail while down is set.
type downSpools struct {
	*flakyStore
	down atomic.Bool
}

type flakyStore = struct{ store.Store }

func (s *downSpools) AppendAuditSpooled(ctx context.Context, spool string, through int64, events []*store.AuditEvent) error {
	if s.down.Load() {
		return errors.New("injected: database unreachable")
	}
	return s.Store.AppendAuditSpooled(ctx, spool, through, events)
}

// TestSpoolDatabaseDown: while the database refuses appends, Log still
// returns (the records are in the spool); a Close that gives up leaves them
// there, and the next OpenSpool appends each once, in order.
func TestSpoolDatabaseDown(t *testing.T) {
	st := openSQLite(t)
	down := &downSpools{flakyStore: &flakyStore{st}}
	down.down.Store(true)
	dir := filepath.Join(t.TempDir(), "spool")
	sp, _ := openSpool(t, dir, down)
	w, err := audit.New(audit.Options{Store: st, Spool: sp})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		w.Log(event(i)) // returns: the spool has it
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := w.Sync(ctx); err == nil {
		t.Fatal("Sync returned nil while the database refused every append")
	}
	if evs, _ := st.AuditEvents(context.Background(), store.AuditQuery{}); len(evs) != 0 {
		t.Fatalf("%d records appended while the database was down", len(evs))
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer ccancel()
	err = w.Close(cctx)
	if err == nil || !strings.Contains(err.Error(), "left in the spool") {
		t.Fatalf("Close while the database is down = %v, want it to say records are left in the spool", err)
	}
	if len(spoolFiles(t, dir)) == 0 {
		t.Fatal("no spool file kept for the records not appended")
	}
	// The database is back: the next process replays the spool.
	down.down.Store(false)
	sp2, replayed := openSpool(t, dir, down)
	if replayed != n {
		t.Errorf("replayed %d records, want %d", replayed, n)
	}
	checkAll(t, st, n)
	// Opening it again appends nothing twice.
	w2, err := audit.New(audit.Options{Store: st, Spool: sp2})
	if err != nil {
		t.Fatal(err)
	}
	w2.Log(event(n))
	if err := w2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	sp3, replayed := openSpool(t, dir, down)
	if replayed != 0 {
		t.Errorf("a clean spool replayed %d records", replayed)
	}
	checkAll(t, st, n+1)
	w3, _ := audit.New(audit.Options{Store: st, Spool: sp3})
	w3.Close(context.Background())
}

// TestSpoolReplayOnce: a crash after an append committed but before its
// spool file was removed must not append the records again.
func TestSpoolReplayOnce(t *testing.T) {
	st := openSQLite(t)
	dir := filepath.Join(t.TempDir(), "spool")
	sp, _ := openSpool(t, dir, st)
	w, err := audit.New(audit.Options{Store: st, Spool: sp})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		w.Log(event(i))
	}
	if err := w.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	files := spoolFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("spool files %v, want one", files)
	}
	saved, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The file as a crash would have left it, records already appended.
	if err := os.WriteFile(files[0], saved, 0o600); err != nil {
		t.Fatal(err)
	}
	sp2, replayed := openSpool(t, dir, st)
	if replayed != 0 {
		t.Errorf("replayed %d records already appended", replayed)
	}
	checkAll(t, st, 100)
	if len(spoolFiles(t, dir)) != 0 {
		t.Error("the replayed file was not removed")
	}
	// Numbering goes on after the records appended.
	w2, _ := audit.New(audit.Options{Store: st, Spool: sp2})
	w2.Log(event(100))
	if err := w2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if mark, _ := st.AuditSpoolMark(context.Background(), spoolIDOf(t, dir)); mark != 101 {
		t.Errorf("spool mark %d, want 101", mark)
	}
	checkAll(t, st, 101)
}

// writeSpoolFile writes a spool file holding the records i = 0..n-1 as the
// spool writes them (numbered from 1), then tail.
func writeSpoolFile(t *testing.T, st store.AuditSpools, dir string, n int, tail string) string {
	t.Helper()
	// Let a real spool write the records, with the database refusing them.
	down := &downSpools{flakyStore: &flakyStore{st.(store.Store)}}
	down.down.Store(true)
	sp, _ := openSpool(t, dir, down)
	w, err := audit.New(audit.Options{Store: st.(store.Store), Spool: sp})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		w.Log(event(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.Close(ctx) // gives up: the records stay in the spool
	files := spoolFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("spool files %v, want one", files)
	}
	f, err := os.OpenFile(files[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(tail); err != nil {
		t.Fatal(err)
	}
	return files[0]
}

// TestSpoolTornTail: a record cut short at the end of the spool (a write the
// machine lost power in) is skipped; the records before it are appended.
func TestSpoolTornTail(t *testing.T) {
	st := openSQLite(t)
	dir := filepath.Join(t.TempDir(), "spool")
	writeSpoolFile(t, st, dir, 5, `{"n":6,"time":"2026-12-02T06:00:00Z","ty`)
	sp, replayed := openSpool(t, dir, st)
	if replayed != 5 {
		t.Errorf("replayed %d, want the 5 whole records", replayed)
	}
	checkAll(t, st, 5)
	w, _ := audit.New(audit.Options{Store: st, Spool: sp})
	w.Log(event(5))
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkAll(t, st, 6)
}

// TestSpoolCorrupt: anything else unreadable stops the replay with an error
// that names the file and line, appends nothing from there on, and leaves
// the file for the operator.
func TestSpoolCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name, tail string
	}{
		{"garbage line", "not json\n{\"n\":7}\n"},
		{"gap in numbering", `{"n":9,"time":"2026-12-02T06:00:00Z","type":"fetch","decision":"served"}` + "\n"},
		{"unknown field", `{"n":6,"time":"2026-12-02T06:00:00Z","type":"fetch","decision":"served","extra":1}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openSQLite(t)
			dir := filepath.Join(t.TempDir(), "spool")
			file := writeSpoolFile(t, st, dir, 5, tc.tail)
			_, _, err := audit.OpenSpool(context.Background(), dir, st, nil)
			if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "line 6") {
				t.Fatalf("OpenSpool over a corrupt spool = %v, want an error naming %s line 6", err, file)
			}
			checkAll(t, st, 5) // the records before the bad line
			if _, err := os.Stat(file); err != nil {
				t.Errorf("the corrupt file is gone: %v", err)
			}
		})
	}
}

// TestSpoolBusy: one process (one open spool) at a time.
func TestSpoolBusy(t *testing.T) {
	st := openSQLite(t)
	dir := filepath.Join(t.TempDir(), "spool")
	sp, _ := openSpool(t, dir, st)
	if _, _, err := audit.OpenSpool(context.Background(), dir, st, nil); !errors.Is(err, audit.ErrSpoolBusy) {
		t.Fatalf("second OpenSpool = %v, want ErrSpoolBusy", err)
	}
	w, _ := audit.New(audit.Options{Store: st, Spool: sp})
	w.Close(context.Background())
	sp2, _ := openSpool(t, dir, st) // free again after Close
	w2, _ := audit.New(audit.Options{Store: st, Spool: sp2})
	w2.Close(context.Background())
}

// TestSpoolUnwritable: a batch the spool cannot take (disk full, the
// directory gone) is appended directly, and its Log returns only once it is
// committed, as without a spool.
func TestSpoolUnwritable(t *testing.T) {
	st := openSQLite(t)
	dir := filepath.Join(t.TempDir(), "spool")
	sp, _ := openSpool(t, dir, st)
	w, err := audit.New(audit.Options{Store: st, Spool: sp})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	// No segment file is open before the first write: with the directory
	// gone, the spool cannot start one.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		w.Log(event(i))
		// Without Sync: the record is committed when Log returns.
		evs, err := st.AuditEvents(context.Background(), store.AuditQuery{})
		if err != nil || len(evs) != i+1 {
			t.Fatalf("after Log %d: %d records, %v", i, len(evs), err)
		}
	}
}
