// Package audit writes, checks, exports and prunes modgate's audit log: one
// record per module request modgate answers (and per admin action), kept by the
// store in one hash chain shared by every replica (see [store.AuditHash]).
//
//   - [Writer] takes records from the request path and appends them in batches
//     (every flush interval, or at once when the interval is 0), so a slow
//     database never slows a response, and flushes all it holds on Close.
//   - [Verify] walks the chain and reports the first record that was edited,
//     inserted or deleted.
//   - [Export] and [ExportHandler] stream a selection as JSON lines or CSV with
//     constant memory, paging by Seq (keyset, never OFFSET).
//   - [Stream] copies appended records as JSON lines to stdout or a webhook for
//     a SIEM.
//   - [Prune] deletes records past the retention period and moves the chain's
//     anchor, so the rest still verifies.
//
// The chain is tamper-evident against anyone who changes rows without
// recomputing every later hash and the chain's head; someone with full write
// access to the database can rewrite it all. Send the stream (which carries
// Seq and Hash) to a system that person does not control to close that gap.
package audit

import (
	"context"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// Appender is the store role the [Writer] needs.
type Appender interface {
	AppendAudit(ctx context.Context, events []*store.AuditEvent) error
}

// Reader is the store role [Export] needs.
type Reader interface {
	AuditEvents(ctx context.Context, q store.AuditQuery) ([]*store.AuditEvent, error)
}

// Source is the store role [Verify] needs.
type Source interface {
	Reader
	AuditChain(ctx context.Context) (store.AuditChain, error)
}

// pageSize is how many records one query of a scan reads.
const pageSize = 1000

// scan calls fn for every record matching q in Seq order, reading a page at a
// time, so memory stays constant however many records match. q.AfterSeq and
// q.Limit are overwritten.
func scan(ctx context.Context, r Reader, q store.AuditQuery, fn func(*store.AuditEvent) error) error {
	q.Limit = pageSize
	for {
		page, err := r.AuditEvents(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < q.Limit {
			return nil
		}
		q.AfterSeq = page[len(page)-1].Seq
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// backoff returns the wait before retry attempt n (0-based): min doubled n
// times, at most max.
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// sleep waits d or until ctx is done, reporting whether it waited all of d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
