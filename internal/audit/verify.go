package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/modgate/modgate/internal/store"
)

// What a [Problem] found.
const (
	Edited   = "edited"   // a record's contents do not match its hash
	Inserted = "inserted" // a record that the chain does not account for
	Deleted  = "deleted"  // records missing from the chain
)

// Problem is the first break in the chain.
type Problem struct {
	Seq    int64  // the first bad record, or the first missing one
	Kind   string // Edited, Inserted or Deleted
	Detail string
	// Record is the record at Seq as stored, if there is one.
	Record *store.AuditEvent
}

func (p *Problem) Error() string {
	return fmt.Sprintf("audit record %d: %s: %s", p.Seq, p.Kind, p.Detail)
}

// Report is what [Verify] found.
type Report struct {
	Chain   store.AuditChain // head and anchor when the walk began
	Checked int64            // records whose hashes were checked
	// Problem is the first break in the chain, or nil if the chain holds.
	Problem *Problem
}

// Verify walks the chain from its anchor (the last pruned record, or the
// beginning) to its head, a page at a time, and reports the first record that
// was edited (its hash does not match its contents, or the head's hash does
// not match the last record), inserted (the record after it links past it, or
// it lies before the anchor or after the head) or deleted (a gap in Seq, a
// link to a record that is not the one before, or a log that ends before the
// head). Records appended while it runs are not checked. Do not prune while
// Verify runs: it would report the pruned records as deleted.
//
// The error is for failures to read the log, not for breaks in the chain.
func Verify(ctx context.Context, src Source) (*Report, error) {
	chain, err := src.AuditChain(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{Chain: chain}
	expect := chain.AnchorSeq + 1
	prev, prevPrev := chain.AnchorHash, ""
	var last *store.AuditEvent
	errFound := errors.New("found")
	if chain.HeadSeq > 0 {
		err = scan(ctx, src, store.AuditQuery{ThroughSeq: chain.HeadSeq}, func(e *store.AuditEvent) error {
			p := check(e, expect, prev, prevPrev, chain)
			if p != nil {
				rep.Problem = p
				return errFound
			}
			rep.Checked++
			prevPrev, prev = prev, e.Hash
			expect++
			last = e
			return nil
		})
		if err != nil && !errors.Is(err, errFound) {
			return nil, err
		}
		if rep.Problem != nil {
			return rep, nil
		}
	}
	switch {
	case expect-1 < chain.HeadSeq:
		rep.Problem = &Problem{Seq: expect, Kind: Deleted,
			Detail: fmt.Sprintf("the log ends at record %d but the chain's head is record %d: the newest records were deleted", expect-1, chain.HeadSeq)}
		return rep, nil
	case last != nil && last.Hash != chain.HeadHash:
		rep.Problem = &Problem{Seq: last.Seq, Kind: Edited, Record: last,
			Detail: fmt.Sprintf("its hash %s is not the chain head's %s: the record was edited and rehashed", last.Hash, chain.HeadHash)}
		return rep, nil
	case last == nil && chain.HeadSeq == chain.AnchorSeq && chain.HeadHash != chain.AnchorHash:
		rep.Problem = &Problem{Seq: chain.HeadSeq, Kind: Edited,
			Detail: "every record is pruned, but the chain's head and anchor disagree"}
		return rep, nil
	}
	// Records beyond the head were not appended by modgate, unless they were
	// appended since the walk began: then the head has moved past them.
	for after := chain.HeadSeq; ; {
		beyond, err := src.AuditEvents(ctx, store.AuditQuery{AfterSeq: after, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(beyond) == 0 {
			return rep, nil
		}
		now, err := src.AuditChain(ctx)
		if err != nil {
			return nil, err
		}
		if beyond[0].Seq > now.HeadSeq {
			rep.Problem = &Problem{Seq: beyond[0].Seq, Kind: Inserted, Record: beyond[0],
				Detail: fmt.Sprintf("it lies beyond the chain's head (record %d): it was not appended by modgate", now.HeadSeq)}
			return rep, nil
		}
		after = now.HeadSeq
	}
}

// check checks record e, which should be record expect and link to prev.
func check(e *store.AuditEvent, expect int64, prev, prevPrev string, chain store.AuditChain) *Problem {
	switch {
	case e.Seq < expect:
		return &Problem{Seq: e.Seq, Kind: Inserted, Record: e,
			Detail: fmt.Sprintf("it precedes the chain's anchor (record %d, the last pruned)", chain.AnchorSeq)}
	case e.Seq > expect:
		missing := fmt.Sprintf("record %d is missing", expect)
		if e.Seq-1 > expect {
			missing = fmt.Sprintf("records %d to %d are missing", expect, e.Seq-1)
		}
		return &Problem{Seq: expect, Kind: Deleted, Detail: missing}
	case store.AuditHash(e) != e.Hash:
		// A record renumbered after a deletion or insertion hashes right
		// with its old Seq: name the deletion or insertion instead.
		if e.Hash == prev {
			return &Problem{Seq: e.Seq, Kind: Edited, Record: e,
				Detail: fmt.Sprintf("it is a copy of record %d: record %d was replaced", e.Seq-1, e.Seq)}
		}
		moved := *e
		moved.Seq = e.Seq + 1
		if store.AuditHash(&moved) == e.Hash {
			return &Problem{Seq: e.Seq, Kind: Deleted,
				Detail: fmt.Sprintf("record %d was deleted and the records after it renumbered (record %d hashes as record %d)", e.Seq, e.Seq, e.Seq+1)}
		}
		moved.Seq = e.Seq - 1
		if store.AuditHash(&moved) == e.Hash {
			return &Problem{Seq: e.Seq - 1, Kind: Inserted,
				Detail: fmt.Sprintf("a record was inserted at %d and the records after it renumbered (record %d hashes as record %d)", e.Seq-1, e.Seq, e.Seq-1)}
		}
		return &Problem{Seq: e.Seq, Kind: Edited, Record: e,
			Detail: "its contents do not match its hash: it was edited (or inserted without a valid hash)"}
	case e.PrevHash == prev:
		return nil
	case e.Seq-1 > chain.AnchorSeq && prevPrev != "" && e.PrevHash == prevPrev:
		return &Problem{Seq: e.Seq - 1, Kind: Inserted,
			Detail: fmt.Sprintf("record %d links to record %d: the record between them was inserted", e.Seq, e.Seq-2)}
	case e.Seq-1 == chain.AnchorSeq:
		return &Problem{Seq: e.Seq, Kind: Deleted, Record: e,
			Detail: "it does not link to the chain's anchor (the last pruned record): records before it were deleted, or the anchor was changed"}
	default:
		return &Problem{Seq: e.Seq, Kind: Deleted, Record: e,
			Detail: fmt.Sprintf("it does not link to record %d: records before it were deleted and the rest renumbered, or record %d was replaced", e.Seq-1, e.Seq-1)}
	}
}
