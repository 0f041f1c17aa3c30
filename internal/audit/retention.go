package audit

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// Pruner is the store role [Prune] needs.
type Pruner interface {
	Reader
	store.AuditCheckpoints
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
// the chain too. It returns how many records it deleted. A before later than
// now counts as now.
//
// What the deleted records vouched for stays provable:
//   - Pins: before deleting, every pin whose latest record ([store.PinEvent])
//     is older than before is carried forward: its record is appended again
//     (same module, version, kind, hash and voucher, and the Seq and time of
//     the original), so `modgate checksum verify` ([CheckPins]) still finds
//     every pin in the chain. Each pin is restated once per retention period.
//   - Checkpoints: the prune record restates the hash of each record that a
//     stored checkpoint names and this prune deletes ("checkpointed record N
//     hash H"), so [ProveCheckpoint] can still prove such a checkpoint.
//     A checkpoint not in the database (only in the SIEM) whose record was
//     pruned cannot be proven, unless it names the anchor itself.
func Prune(ctx context.Context, st Pruner, before time.Time) (int64, error) {
	// Never prune from the future: the pins carried forward now must be kept.
	if now := time.Now().Truncate(time.Microsecond); before.After(now) {
		before = now
	}
	old, err := st.AuditChain(ctx)
	if err != nil {
		return 0, err
	}
	if err := carryPins(ctx, st, before); err != nil {
		return 0, fmt.Errorf("carrying pins forward: %w", err)
	}
	marks, err := checkpointedRecords(ctx, st, old, before)
	if err != nil {
		return 0, fmt.Errorf("reading checkpoints: %w", err)
	}
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
	e := &store.AuditEvent{Type: store.AuditAdmin, Decision: pruneDecision, Reasons: []string{
		fmt.Sprintf("pruned %d records older than %s", total, before.UTC().Format(time.RFC3339)),
		fmt.Sprintf("anchor: record %d, hash %s, time %s", chain.AnchorSeq, chain.AnchorHash,
			chain.AnchorTime.Format(time.RFC3339Nano)),
	}}
	for _, m := range marks {
		if m.Seq <= chain.AnchorSeq {
			e.Reasons = append(e.Reasons, restated(m.Seq, m.Hash))
		}
	}
	return total, st.AppendAudit(ctx, []*store.AuditEvent{e})
}

// carryPins appends again the latest record of every pin whose latest record
// is older than before (so a prune would delete it).
func carryPins(ctx context.Context, st Pruner, before time.Time) error {
	type key struct {
		path, version, kind string
	}
	latest := map[key]*store.AuditEvent{}
	err := scan(ctx, st, store.AuditQuery{Type: store.AuditChecksum, Decision: store.DecisionPinned}, func(e *store.AuditEvent) error {
		if _, _, _, ok := store.Pin(e); ok {
			latest[key{e.Module, e.Version, e.Kind}] = e
		}
		return nil
	})
	if err != nil {
		return err
	}
	var batch []*store.AuditEvent
	for _, e := range latest {
		if !e.Time.Before(before) {
			continue
		}
		reasons := slices.DeleteFunc(slices.Clone(e.Reasons), func(r string) bool { return strings.HasPrefix(r, carriedPrefix) })
		batch = append(batch, &store.AuditEvent{Type: e.Type, Decision: e.Decision, Module: e.Module,
			Version: e.Version, Kind: e.Kind, Source: e.Source, Reasons: append(reasons,
				fmt.Sprintf("%srecord %d of %s, before pruning", carriedPrefix, e.Seq, e.Time.Format(time.RFC3339Nano)))})
	}
	// Append in a stable order, a chunk at a time.
	slices.SortFunc(batch, func(a, b *store.AuditEvent) int {
		return cmp.Or(strings.Compare(a.Module, b.Module), strings.Compare(a.Version, b.Version), strings.Compare(a.Kind, b.Kind))
	})
	for len(batch) > 0 {
		n := min(len(batch), pageSize)
		if err := st.AppendAudit(ctx, batch[:n]); err != nil {
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// carriedPrefix marks a pin record appended again by [Prune].
const carriedPrefix = "carried forward from "

// checkpointedRecords returns the records, after the anchor and older than
// before, that stored checkpoints name.
func checkpointedRecords(ctx context.Context, st Pruner, chain store.AuditChain, before time.Time) ([]*store.AuditEvent, error) {
	cps, err := st.AuditCheckpoints(ctx, chain.AnchorSeq, chain.HeadSeq)
	if err != nil {
		return nil, err
	}
	var out []*store.AuditEvent
	var last int64
	for _, c := range cps {
		if c.Size == last {
			continue
		}
		last = c.Size
		recs, err := st.AuditEvents(ctx, store.AuditQuery{AfterSeq: c.Size - 1, ThroughSeq: c.Size, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			continue
		}
		if !recs[0].Time.Before(before) {
			break // records are in time order: the rest are kept
		}
		out = append(out, recs[0])
	}
	return out, nil
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
