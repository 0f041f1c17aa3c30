package audit

import (
	"context"
	"fmt"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// PinProblem is a pin of the checksum store that the audit chain does not
// vouch for, or a pin record whose pin is gone.
type PinProblem struct {
	Module module.Version
	Kind   store.Kind
	Detail string
	// Unrecorded is the pin, when the problem is that the chain has no
	// record of it at all (pins made before pins were audited have none).
	Unrecorded *store.Checksum
}

func (p PinProblem) String() string {
	suffix := ""
	if p.Kind == store.KindMod {
		suffix = "/go.mod"
	}
	return fmt.Sprintf("%s %s%s: %s", p.Module.Path, p.Module.Version, suffix, p.Detail)
}

// PinReport is what [CheckPins] found.
type PinReport struct {
	Pins     int // pins in the checksum store
	Records  int // pin records in the chain
	Problems []PinProblem
}

// CheckPins checks every hash in the checksum store against the audit chain:
// each pin must have a record in the chain ([store.PinEvent], appended by
// the store in the pin's own transaction, or carried forward by [Prune]) whose
// hash is the pin's. It reports a pin with no record (inserted behind
// modgate's back), a pin whose hash differs from its latest record (edited:
// `UPDATE checksums SET hash = ...`), a pin record whose own hash does not
// match its contents (edited record; [Verify] walks the whole chain), a
// record of a pin that is no longer in the store (deleted, so the next fetch
// would pin whatever it gets), a key pinned twice with different hashes
// (deleted and pinned again), and a pin whose row cannot be read
// ([store.Checksum].Corrupt: a column edited into something the store could
// not have written). Memory grows with the number of pins.
//
// Pins must not change while it runs; with `modgate serve` running, a pin
// made during the check may be reported as unrecorded: run it again.
func CheckPins(ctx context.Context, src Reader, sums interface {
	EachChecksum(ctx context.Context, fn func(*store.Checksum) error) error
}) (*PinReport, error) {
	type key struct {
		m module.Version
		k store.Kind
	}
	type rec struct {
		hash    string
		seq     int64
		changed string // a note of an earlier record with another hash
		edited  bool
	}
	rep := &PinReport{}
	recs := map[key]*rec{}
	var order []key
	err := scan(ctx, src, store.AuditQuery{Type: store.AuditChecksum, Decision: store.DecisionPinned}, func(e *store.AuditEvent) error {
		m, k, hash, ok := store.Pin(e)
		if !ok {
			return nil
		}
		rep.Records++
		kk := key{m, k}
		r := recs[kk]
		if r == nil {
			r = &rec{}
			recs[kk] = r
			order = append(order, kk)
		} else if r.hash != hash && r.changed == "" {
			r.changed = fmt.Sprintf("record %d pinned %s, record %d pinned %s: the pin was removed and pinned again with other bytes",
				r.seq, r.hash, e.Seq, hash)
		}
		r.hash, r.seq = hash, e.Seq
		r.edited = r.edited || store.AuditHash(e) != e.Hash
		return nil
	})
	if err != nil {
		return nil, err
	}
	seen := map[key]bool{}
	err = sums.EachChecksum(ctx, func(c *store.Checksum) error {
		rep.Pins++
		kk := key{c.Module, c.Kind}
		seen[kk] = true
		problem := func(format string, args ...any) {
			rep.Problems = append(rep.Problems, PinProblem{Module: c.Module, Kind: c.Kind, Detail: fmt.Sprintf(format, args...)})
		}
		r := recs[kk]
		switch {
		case c.Corrupt != nil:
			problem("the checksum store's row of this pin cannot be read (%s): it was edited behind modgate's back, and it vouches for nothing", c.Corrupt.Detail)
		case r == nil:
			problem("pinned %s (%s), but the audit chain has no record of this pin: it was written behind modgate's back", c.Hash, c.Source)
			pin := *c
			rep.Problems[len(rep.Problems)-1].Unrecorded = &pin
		case r.hash != c.Hash:
			problem("pinned %s, but audit record %d pinned %s: the pin was changed behind modgate's back", c.Hash, r.seq, r.hash)
		case r.edited:
			problem("audit record %d of this pin does not match its own hash: it was edited", r.seq)
		case r.changed != "":
			problem("%s", r.changed)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, kk := range order {
		if !seen[kk] {
			r := recs[kk]
			rep.Problems = append(rep.Problems, PinProblem{Module: kk.m, Kind: kk.k, Detail: fmt.Sprintf(
				"audit record %d pinned %s, but the checksum store has no pin: it was deleted behind modgate's back", r.seq, r.hash)})
		}
	}
	return rep, nil
}
