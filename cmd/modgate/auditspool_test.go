package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
)

// refusingSpools is a store whose spooled appends fail: the records stay in
// the spool, as when a process is killed before it appends them.
type refusingSpools struct{ store.Store }

func (refusingSpools) AppendAuditSpooled(context.Context, string, int64, []*store.AuditEvent) error {
	return errors.New("injected: not appended")
}

// TestServeReplaysSpoolWithFlush: a serve started with --audit-flush (which
// writes no spool) still appends what an earlier serve left in the spool.
func TestServeReplaysSpoolWithFlush(t *testing.T) {
	ctx := context.Background()
	cfg := config{Data: t.TempDir(), AuditFlush: time.Second}
	st, err := openStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// An earlier serve: its records reach the spool, not the database.
	sp, _, err := audit.OpenSpool(ctx, cfg.auditSpoolDir(), refusingSpools{st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := audit.New(audit.Options{Store: st, Spool: sp, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		w.Log(&store.AuditEvent{Type: store.AuditFetch, Module: "example.com/m", Version: "v1.0.0",
			Kind: "info", Decision: store.DecisionServed, Bytes: int64(i)})
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	w.Close(gone) // gives up: the 7 records stay in the spool
	if files, _ := filepath.Glob(filepath.Join(cfg.auditSpoolDir(), "*.spool")); len(files) == 0 {
		t.Fatal("no spool file left")
	}

	e := &env{cfg: cfg, stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w2, _, err := newAuditWriter(ctx, cfg, st, prometheus.NewRegistry(), e)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close(ctx)
	evs, err := st.AuditEvents(ctx, store.AuditQuery{Type: store.AuditFetch})
	if err != nil || len(evs) != 7 {
		t.Fatalf("after serve's start with --audit-flush: %d records, %v; want the 7 the spool held", len(evs), err)
	}
}
