package audit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
)

func TestVerify(t *testing.T) {
	// insertCopy inserts at seq a record that links correctly to record
	// seq-1, after renumbering the records from seq on, as a careful forger
	// would; the head moves too.
	insertCopy := func(t *testing.T, d db, all []*store.AuditEvent, seq int64) {
		forged := *all[seq-2]
		forged.Seq, forged.Module, forged.PrevHash = seq, "example.com/forged", all[seq-2].Hash
		forged.Hash = store.AuditHash(&forged)
		d.exec(t, fmt.Sprintf(`UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= %d`, seq))
		d.exec(t, `UPDATE audit_log SET seq = seq - 1000000 + 1 WHERE seq > 1000000`)
		d.exec(t, fmt.Sprintf(`INSERT INTO audit_log SELECT %d, at, type, client_token, client_ip, user_agent,
			'example.com/forged', version, kind, decision, reasons, source, bytes, duration_ns, sbom, '%s', '%s'
			FROM audit_log WHERE seq = %d`, seq, forged.PrevHash, forged.Hash, seq-1))
		d.exec(t, `UPDATE audit_chain SET head_seq = head_seq + 1`)
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, d db, all []*store.AuditEvent)
		want   *audit.Problem // Seq and Kind only; nil: valid
	}{
		{"untouched", func(t *testing.T, d db, all []*store.AuditEvent) {}, nil},
		{"edited", func(t *testing.T, d db, all []*store.AuditEvent) {
			d.exec(t, `UPDATE audit_log SET decision = 'served' , module = 'example.com/other' WHERE seq = 5`)
		}, &audit.Problem{Seq: 5, Kind: audit.Edited}},
		{"edited time", func(t *testing.T, d db, all []*store.AuditEvent) {
			d.exec(t, `UPDATE audit_log SET bytes = bytes + 1 WHERE seq = 7`)
		}, &audit.Problem{Seq: 7, Kind: audit.Edited}},
		{"deleted", func(t *testing.T, d db, all []*store.AuditEvent) {
			d.exec(t, `DELETE FROM audit_log WHERE seq = 5`)
		}, &audit.Problem{Seq: 5, Kind: audit.Deleted}},
		{"deleted and renumbered", func(t *testing.T, d db, all []*store.AuditEvent) {
			d.exec(t, `DELETE FROM audit_log WHERE seq = 5`)
			d.exec(t, `UPDATE audit_log SET seq = seq + 1000000 WHERE seq > 5`)
			d.exec(t, `UPDATE audit_log SET seq = seq - 1000000 - 1 WHERE seq > 1000000`)
			d.exec(t, `UPDATE audit_chain SET head_seq = head_seq - 1`)
		}, &audit.Problem{Seq: 5, Kind: audit.Deleted}},
		{"deleted first", func(t *testing.T, d db, all []*store.AuditEvent) {
			d.exec(t, `DELETE FROM audit_log WHERE seq = 1`)
		}, &audit.Problem{Seq: 1, Kind: audit.Deleted}},
		{"deleted newest", func(t *testing.T, d db, all []*store.AuditEvent) {
			d.exec(t, `DELETE FROM audit_log WHERE seq >= 9`)
		}, &audit.Problem{Seq: 9, Kind: audit.Deleted}},
		{"inserted with a valid hash", func(t *testing.T, d db, all []*store.AuditEvent) {
			insertCopy(t, d, all, 4)
		}, &audit.Problem{Seq: 4, Kind: audit.Inserted}},
		{"inserted beyond the head", func(t *testing.T, d db, all []*store.AuditEvent) {
			d.exec(t, `INSERT INTO audit_log SELECT 11, at, type, client_token, client_ip, user_agent, module, version,
				kind, decision, reasons, source, bytes, duration_ns, sbom, hash, hash FROM audit_log WHERE seq = 10`)
		}, &audit.Problem{Seq: 11, Kind: audit.Inserted}},
		{"inserted without a hash", func(t *testing.T, d db, all []*store.AuditEvent) {
			d.exec(t, `UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= 6`)
			d.exec(t, `UPDATE audit_log SET seq = seq - 1000000 + 1 WHERE seq > 1000000`)
			d.exec(t, `INSERT INTO audit_log SELECT 6, at, type, client_token, client_ip, user_agent, 'example.com/evil', version,
				kind, decision, reasons, source, bytes, duration_ns, sbom, prev_hash, hash FROM audit_log WHERE seq = 5`)
			d.exec(t, `UPDATE audit_chain SET head_seq = head_seq + 1`)
		}, &audit.Problem{Seq: 6, Kind: audit.Edited}},
		{"newest edited and rehashed", func(t *testing.T, d db, all []*store.AuditEvent) {
			e := *all[9]
			e.Decision = "blocked"
			e.Hash = store.AuditHash(&e)
			d.exec(t, fmt.Sprintf(`UPDATE audit_log SET decision = 'blocked', hash = '%s' WHERE seq = 10`, e.Hash))
		}, &audit.Problem{Seq: 10, Kind: audit.Edited}},
		{"replaced by a copy", func(t *testing.T, d db, all []*store.AuditEvent) {
			d.exec(t, `DELETE FROM audit_log WHERE seq = 3`)
			d.exec(t, `INSERT INTO audit_log SELECT 3, at, type, client_token, client_ip, user_agent, module, version,
				kind, decision, reasons, source, bytes, duration_ns, sbom, prev_hash, hash FROM audit_log WHERE seq = 2`)
		}, &audit.Problem{Seq: 3, Kind: audit.Edited}},
	}
	forEachDriver(t, func(t *testing.T, d db) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d.exec(t, `DELETE FROM audit_log`)
				d.exec(t, `UPDATE audit_chain SET head_seq = 0, head_hash = '', anchor_seq = 0, anchor_hash = '', anchor_at = NULL`)
				all := fill(t, d, 10)
				tt.tamper(t, d, all)
				rep, err := audit.Verify(context.Background(), d)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				got := rep.Problem
				switch {
				case tt.want == nil && got != nil:
					t.Fatalf("Verify found %v in an untouched chain", got)
				case tt.want != nil && got == nil:
					t.Fatalf("Verify found nothing, want %s at %d", tt.want.Kind, tt.want.Seq)
				case tt.want != nil && (got.Seq != tt.want.Seq || got.Kind != tt.want.Kind):
					t.Fatalf("Verify found %v, want %s at %d", got, tt.want.Kind, tt.want.Seq)
				}
				if got != nil {
					t.Logf("found: %v", got)
				}
			})
		}
	})
}

// TestVerifyAfterPrune checks that a pruned log still verifies from its
// anchor, that the prune is itself recorded, and that tampering with the
// anchor or with the first record kept shows.
func TestVerifyAfterPrune(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d db) {
		ctx := context.Background()
		fill(t, d, 10)
		n, err := audit.Prune(ctx, d, t0.Add(4*time.Minute+time.Second))
		if err != nil || n != 5 {
			t.Fatalf("Prune = %d, %v; want 5", n, err)
		}
		rep, err := audit.Verify(ctx, d)
		if err != nil || rep.Problem != nil {
			t.Fatalf("Verify after prune = %+v, %v", rep, err)
		}
		if rep.Checked != 6 || rep.Chain.AnchorSeq != 5 {
			t.Errorf("Verify checked %d records from anchor %d, want 6 (5 kept and the prune record) from 5", rep.Checked, rep.Chain.AnchorSeq)
		}
		evs, err := d.AuditEvents(ctx, store.AuditQuery{Type: store.AuditAdmin})
		if err != nil || len(evs) != 1 || evs[0].Decision != "audit.prune" {
			t.Fatalf("prune record: %+v, %v", evs, err)
		}
		t.Logf("prune record: %q", evs[0].Reasons)

		d.exec(t, `DELETE FROM audit_log WHERE seq = 6`)
		rep, err = audit.Verify(ctx, d)
		if err != nil || rep.Problem == nil || rep.Problem.Seq != 6 || rep.Problem.Kind != audit.Deleted {
			t.Fatalf("Verify after deleting the first kept record = %+v, %v; want deleted at 6", rep.Problem, err)
		}
		d.exec(t, `UPDATE audit_chain SET anchor_seq = 6, anchor_hash = 'x'`)
		rep, err = audit.Verify(ctx, d)
		if err != nil || rep.Problem == nil || rep.Problem.Seq != 7 || rep.Problem.Kind != audit.Deleted {
			t.Fatalf("Verify with a forged anchor = %+v, %v; want deleted at 7", rep.Problem, err)
		}
	})
}

// TestVerifyLarge checks a chain longer than a page and that verifying reads
// it in pages.
func TestVerifyLarge(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d db) {
		for range 5 {
			fill(t, d, 1000)
		}
		d.exec(t, `UPDATE audit_log SET user_agent = 'x' WHERE seq = 4321`)
		rep, err := audit.Verify(context.Background(), d)
		if err != nil || rep.Problem == nil || rep.Problem.Seq != 4321 || rep.Checked != 4320 {
			t.Fatalf("Verify = %+v, %v; want edited at 4321 after 4320 checked", rep, err)
		}
	})
}
