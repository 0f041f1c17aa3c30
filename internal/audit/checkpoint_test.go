package audit_test

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
)

func newSigner(t *testing.T, name string) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := audit.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	derived, err := audit.VerifierKey(skey)
	if err != nil || derived != vkey {
		t.Fatalf("VerifierKey = %q, %v; want %q", derived, err, vkey)
	}
	return s, vkey
}

// TestCheckpointProvesTail: a checkpoint signed at 20 records proves the
// log against tail truncation, a rewound head and a recomputed chain, each
// of which the chain walk alone may miss.
func TestCheckpointProvesTail(t *testing.T) {
	rewind := func(t *testing.T, d db, to int) {
		d.exec(t, `DELETE FROM audit_log WHERE seq > `+itoa(to))
		d.exec(t, `UPDATE audit_chain SET head_seq = `+itoa(to)+`, head_hash = (SELECT hash FROM audit_log WHERE seq = `+itoa(to)+`)`)
	}
	tests := []struct {
		name      string
		tamper    func(t *testing.T, d db)
		chainOK   bool   // whether Verify alone finds nothing
		wantProof string // in ProveCheckpoint's error; "" for none
	}{
		{"untouched", func(t *testing.T, d db) {}, true, ""},
		{"tail cut, nothing recomputed", func(t *testing.T, d db) {
			d.exec(t, `DELETE FROM audit_log WHERE seq > 15`)
		}, false, "record 20 is missing"},
		{"tail cut and head rewound", func(t *testing.T, d db) { rewind(t, d, 15) }, true,
			"the chain now has 15 records, fewer than the 20 the checkpoint signed: records 16 to 20 were removed"},
		{"rewound and grown again", func(t *testing.T, d db) {
			rewind(t, d, 15)
			fill(t, d, 10)
		}, true, "record 20 now hashes"},
	}
	forEachDriver(t, func(t *testing.T, d db) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				d.exec(t, `DELETE FROM audit_log`)
				d.exec(t, `DELETE FROM audit_checkpoints`)
				d.exec(t, `UPDATE audit_chain SET head_seq = 0, head_hash = '', anchor_seq = 0, anchor_hash = ''`)
				fill(t, d, 20)
				signer, vkey := newSigner(t, "modgate-test")
				cp, err := audit.NewCheckpointer(audit.CheckpointOptions{Store: d, Signer: signer,
					Now: func() time.Time { return t0.Add(time.Hour) }})
				if err != nil {
					t.Fatal(err)
				}
				rec, err := cp.Publish(ctx)
				if err != nil {
					t.Fatal(err)
				}
				fill(t, d, 5)
				tt.tamper(t, d)

				c, err := audit.OpenCheckpoint(rec.Note, vkey)
				if err != nil {
					t.Fatal(err)
				}
				if c.Size != 20 || c.Hash != rec.Hash {
					t.Fatalf("checkpoint states %d %s, stored %d %s", c.Size, c.Hash, rec.Size, rec.Hash)
				}
				rep, err := audit.Verify(ctx, d)
				if err != nil {
					t.Fatal(err)
				}
				if (rep.Problem == nil) != tt.chainOK {
					t.Errorf("Verify problem %v, want chain ok = %v", rep.Problem, tt.chainOK)
				}
				how, err := audit.ProveCheckpoint(ctx, d, c)
				if tt.wantProof == "" {
					if err != nil {
						t.Errorf("ProveCheckpoint of an untouched log: %v", err)
					}
					if !strings.Contains(how, "record 20 has the signed hash") {
						t.Errorf("ProveCheckpoint = %q", how)
					}
					return
				}
				var ce *audit.CheckpointError
				if !errors.As(err, &ce) || ce.Predates || !strings.Contains(err.Error(), tt.wantProof) {
					t.Errorf("ProveCheckpoint = %q, %v; want a CheckpointError saying %q", how, err, tt.wantProof)
				}
				// A modgate that finds the chain rewritten refuses to sign it.
				if _, err := cp.Publish(ctx); err == nil {
					t.Errorf("Publish signed a chain that no longer holds the last checkpoint")
				}
			})
		}
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// fillFrom appends n fetch records, one a minute from start.
func fillFrom(t *testing.T, s store.Audit, n int, start time.Time) {
	t.Helper()
	var all []*store.AuditEvent
	for i := range n {
		all = append(all, &store.AuditEvent{Time: start.Add(time.Duration(i) * time.Minute), Type: store.AuditFetch,
			Module: "example.com/later", Version: "v1.0.0", Kind: "zip", Decision: store.DecisionServed})
	}
	if err := s.AppendAudit(context.Background(), all); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointForged: a changed checkpoint, one signed by another key and
// one that is not a checkpoint are refused.
func TestCheckpointForged(t *testing.T) {
	signer, vkey := newSigner(t, "modgate-test")
	other, _ := newSigner(t, "modgate-test")
	c := audit.Checkpoint{Size: 20, Hash: strings.Repeat("ab", 32), Time: t0}
	good, err := audit.SignCheckpoint(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := audit.OpenCheckpoint(good, vkey); err != nil || got != c {
		t.Fatalf("OpenCheckpoint of a good checkpoint = %+v, %v", got, err)
	}
	byOther, _ := audit.SignCheckpoint(c, other)
	notCheckpoint, _ := note.Sign(&note.Note{Text: "go.sum database tree\n20\nabc=\n"}, signer)
	for _, tc := range []struct {
		name string
		msg  []byte
		want string
	}{
		{"size changed", bytes.Replace(good, []byte("\n20\n"), []byte("\n19\n"), 1), "forged"},
		{"hash changed", bytes.Replace(good, []byte("abab"), []byte("abac"), 1), "forged"},
		{"other key", byOther, "not signed by the given key"},
		{"not a checkpoint", notCheckpoint, "not a modgate audit checkpoint"},
		{"garbage", []byte("hello\n"), "does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := audit.OpenCheckpoint(tc.msg, vkey)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("OpenCheckpoint = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// TestCheckpointAfterPrune: a stored checkpoint whose record was pruned is
// proven by the prune record that restated it; one at the anchor by the
// anchor; one never stored says that it predates retention.
func TestCheckpointAfterPrune(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d db) {
		ctx := context.Background()
		signer, vkey := newSigner(t, "modgate-test")
		all := fill(t, d, 10)
		cp, err := audit.NewCheckpointer(audit.CheckpointOptions{Store: d, Signer: signer})
		if err != nil {
			t.Fatal(err)
		}
		stored, err := cp.Publish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fillFrom(t, d, 20, t0.Add(time.Hour))
		// Never stored: published to the SIEM only, say.
		unstored, err := audit.SignCheckpoint(audit.Checkpoint{Size: 5, Hash: all[4].Hash, Time: t0}, signer)
		if err != nil {
			t.Fatal(err)
		}
		later, err := d.AuditEvents(ctx, store.AuditQuery{AfterSeq: 10, Limit: 2})
		if err != nil || len(later) != 2 {
			t.Fatal(later, err)
		}
		all = append(all, later...)
		// Records 1 to 12 are older than t0+1h2m.
		if n, err := audit.Prune(ctx, d, t0.Add(time.Hour+2*time.Minute)); err != nil || n != 12 {
			t.Fatalf("Prune = %d, %v; want 12", n, err)
		}
		if rep, err := audit.Verify(ctx, d); err != nil || rep.Problem != nil {
			t.Fatalf("Verify after prune: %v %v", rep, err)
		}
		check := func(msg []byte, wantHow, wantErr string, predates bool) {
			t.Helper()
			c, err := audit.OpenCheckpoint(msg, vkey)
			if err != nil {
				t.Fatal(err)
			}
			how, err := audit.ProveCheckpoint(ctx, d, c)
			var ce *audit.CheckpointError
			switch {
			case wantErr == "" && err != nil:
				t.Errorf("checkpoint %d: %v", c.Size, err)
			case wantErr == "" && !strings.Contains(how, wantHow):
				t.Errorf("checkpoint %d proven as %q, want %q", c.Size, how, wantHow)
			case wantErr != "" && (!errors.As(err, &ce) || ce.Predates != predates || !strings.Contains(err.Error(), wantErr)):
				t.Errorf("checkpoint %d: %v, want %q (predates %v)", c.Size, err, wantErr, predates)
			}
		}
		check(stored.Note, "prune record 31 restated the signed hash", "", false)
		check(unstored, "", "predates what the log keeps", true)
		atAnchor, _ := audit.SignCheckpoint(audit.Checkpoint{Size: 12, Hash: all[11].Hash, Time: t0}, signer)
		check(atAnchor, "the chain's anchor has the signed hash", "", false)
		wrongAtAnchor, _ := audit.SignCheckpoint(audit.Checkpoint{Size: 12, Hash: all[10].Hash, Time: t0}, signer)
		check(wrongAtAnchor, "", "the chain was rewritten", false)
		// A forged restatement in the prune record breaks the chain.
		if d.driver == "postgres" {
			d.exec(t, `UPDATE audit_log SET reasons = array_replace(reasons, 'checkpointed record 10 hash `+stored.Hash+
				`', 'checkpointed record 10 hash `+all[3].Hash+`') WHERE seq = 31`)
		} else {
			d.exec(t, `UPDATE audit_log SET reasons = replace(reasons, '`+stored.Hash+`', '`+all[3].Hash+`') WHERE seq = 31`)
		}
		check(stored.Note, "", "the chain was rewritten before it was pruned", false)
		if rep, _ := audit.Verify(ctx, d); rep == nil || rep.Problem == nil || rep.Problem.Seq != 31 {
			t.Errorf("Verify after editing the prune record: %+v", rep)
		}
	})
}
