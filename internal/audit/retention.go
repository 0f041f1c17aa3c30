package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// Pruner is the store role [Prune] needs.
type Pruner interface {
	AppendAudit(ctx context.Context, events []*store.AuditEvent) error
	AuditChain(ctx context.Context) (store.AuditChain, error)
	PruneAudit(ctx context.Context, before time.Time, max int) (int64, error)
}

// pruneChunk is how many records one prune transaction deletes; appends wait
// for it, so it is small.
const pruneChunk = 5000

// Prune deletes the records older than before (the oldest first, stopping at
// the first that is not older), a chunk per transaction, and then appends an
// admin record saying what it pruned and the new anchor, so the pruning is in
// the chain too. It returns how many records it deleted.
func Prune(ctx context.Context, st Pruner, before time.Time) (int64, error) {
	var total int64
	for {
		n, err := st.PruneAudit(ctx, before, pruneChunk)
		total += n
		if err != nil {
			return total, err
		}
		if n == 0 {
			break
		}
	}
	if total == 0 {
		return 0, nil
	}
	chain, err := st.AuditChain(ctx)
	if err != nil {
		return total, err
	}
	e := &store.AuditEvent{Type: store.AuditAdmin, Decision: "audit.prune", Reasons: []string{
		fmt.Sprintf("pruned %d records older than %s", total, before.UTC().Format(time.RFC3339)),
		fmt.Sprintf("anchor: record %d, hash %s, time %s", chain.AnchorSeq, chain.AnchorHash,
			chain.AnchorTime.Format(time.RFC3339Nano)),
	}}
	return total, st.AppendAudit(ctx, []*store.AuditEvent{e})
}

// RunRetention prunes records older than keep at once and then every
// interval, until ctx is done. Replicas may all run it: prunes take turns
// in the database and a prune that finds nothing old appends nothing. A keep
// of 0 keeps everything (RunRetention returns at once).
func RunRetention(ctx context.Context, st Pruner, keep, interval time.Duration, now func() time.Time, log *slog.Logger) {
	if keep <= 0 {
		return
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	for {
		before := now().Add(-keep)
		n, err := Prune(ctx, st, before)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("pruning audit records", "err", err.Error(), "pruned", n, "before", before)
		case n > 0:
			log.Info("pruned audit records", "pruned", n, "before", before)
		}
		if !sleep(ctx, interval) {
			return
		}
	}
}
