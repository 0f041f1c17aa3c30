package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
)

// TestCheckPins: a pin changed, inserted or deleted behind modgate's back is
// found against the audit chain, and pruning the pins' records keeps them
// verifiable.
func TestCheckPins(t *testing.T) {
	secret := module.Version{Path: "corp.example.com/secret", Version: "v1.0.0"}
	other := module.Version{Path: "corp.example.com/other", Version: "v1.0.0"}
	tests := []struct {
		name   string
		tamper func(t *testing.T, d db)
		want   []string // problems, in order
	}{
		{"untouched", func(t *testing.T, d db) {}, nil},
		{"pin edited", func(t *testing.T, d db) {
			d.exec(t, `UPDATE checksums SET hash = 'h1:evil=' WHERE module_path = 'corp.example.com/secret' AND kind = 'zip'`)
		}, []string{"corp.example.com/secret v1.0.0: pinned h1:evil=, but audit record 1 pinned h1:secret=: the pin was changed behind modgate's back"}},
		{"pin inserted", func(t *testing.T, d db) {
			d.exec(t, `INSERT INTO checksums (module_path, version, kind, hash, source, upstream, client, created_at)
				VALUES ('corp.example.com/new', 'v1.0.0', 'zip', 'h1:new=', 'tofu', '', '', '2026-03-01T12:00:00.000000Z')`)
		}, []string{"corp.example.com/new v1.0.0: pinned h1:new= (tofu), but the audit chain has no record of this pin"}},
		{"pin deleted", func(t *testing.T, d db) {
			d.exec(t, `DELETE FROM checksums WHERE module_path = 'corp.example.com/other'`)
		}, []string{"corp.example.com/other v1.0.0/go.mod: audit record 3 pinned h1:othermod=, but the checksum store has no pin"}},
		{"pin deleted and pinned again", func(t *testing.T, d db) {
			d.exec(t, `DELETE FROM checksums WHERE module_path = 'corp.example.com/other'`)
			if _, err := d.PutChecksum(context.Background(), &store.Checksum{Module: other, Kind: store.KindMod, Hash: "h1:evil=", Source: store.SourceTOFU}); err != nil {
				t.Fatal(err)
			}
		}, []string{"corp.example.com/other v1.0.0/go.mod: record 3 pinned h1:othermod=, record 4 pinned h1:evil=: the pin was removed and pinned again"}},
		{"pin row unreadable", func(t *testing.T, d db) {
			// Rows the store could not have written; the listing goes on
			// past them to every other pin.
			when := "'garbage'"
			if d.driver == "postgres" {
				when = "'infinity'" // timestamptz holds no garbage
			}
			d.exec(t, `UPDATE checksums SET created_at = `+when+` WHERE module_path = 'corp.example.com/other'`)
			d.exec(t, `UPDATE checksums SET hash = 'h1:<b>not base64' WHERE module_path = 'corp.example.com/secret' AND kind = 'mod'`)
			d.exec(t, `UPDATE checksums SET source = '' WHERE module_path = 'corp.example.com/secret' AND kind = 'zip'`)
		}, []string{
			"corp.example.com/other v1.0.0/go.mod: the checksum store's row of this pin cannot be read (created_at: ",
			"corp.example.com/secret v1.0.0/go.mod: the checksum store's row of this pin cannot be read (invalid hash \"h1:<b>not base64\" (want h1: and base64)): it was edited",
			"corp.example.com/secret v1.0.0: the checksum store's row of this pin cannot be read (empty checksum source): it was edited behind modgate's back",
		}},
		{"pin record edited", func(t *testing.T, d db) {
			d.exec(t, `UPDATE audit_log SET source = 'https://elsewhere' WHERE seq = 2`)
		}, []string{"corp.example.com/secret v1.0.0/go.mod: audit record 2 of this pin does not match its own hash"}},
	}
	forEachDriver(t, func(t *testing.T, d db) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				for _, q := range []string{`DELETE FROM audit_log`, `DELETE FROM checksums`,
					`UPDATE audit_chain SET head_seq = 0, head_hash = '', anchor_seq = 0, anchor_hash = ''`} {
					d.exec(t, q)
				}
				for _, c := range []*store.Checksum{
					{Module: secret, Kind: store.KindZip, Hash: "h1:secret=", Source: store.SourceTOFU, Upstream: "https://git.corp.example.com"},
					{Module: secret, Kind: store.KindMod, Hash: "h1:secretmod=", Source: store.SourceGoSum + "/src/go.sum"},
					{Module: other, Kind: store.KindMod, Hash: "h1:othermod=", Source: store.SourceTOFU},
				} {
					if _, err := d.PutChecksum(ctx, c); err != nil {
						t.Fatal(err)
					}
				}
				tt.tamper(t, d)
				rep, err := audit.CheckPins(ctx, d, d)
				if err != nil {
					t.Fatal(err)
				}
				if len(rep.Problems) != len(tt.want) {
					t.Fatalf("problems %q, want %q", rep.Problems, tt.want)
				}
				for i, p := range rep.Problems {
					if !strings.HasPrefix(p.String(), tt.want[i]) {
						t.Errorf("problem %q, want it to begin %q", p, tt.want[i])
					}
				}
			})
		}
	})
}

// TestPrunePins: pruning the records of pins carries them forward, so every
// pin is still checked against the chain, and the chain still verifies.
func TestPrunePins(t *testing.T) {
	forEachDriver(t, func(t *testing.T, d db) {
		ctx := context.Background()
		m := module.Version{Path: "corp.example.com/secret", Version: "v1.0.0"}
		for _, c := range []*store.Checksum{
			{Module: m, Kind: store.KindZip, Hash: "h1:secret=", Source: store.SourceTOFU, Upstream: "https://git.corp.example.com", Client: "alice"},
			{Module: m, Kind: store.KindMod, Hash: "h1:secretmod=", Source: store.SourceGoSum + "/src/go.sum"},
		} {
			if _, err := d.PutChecksum(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		fill(t, d, 3)
		// Everything so far is older than an hour from now.
		for round := 1; round <= 2; round++ {
			n, err := audit.Prune(ctx, d, time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if rep, err := audit.Verify(ctx, d); err != nil || rep.Problem != nil {
				t.Fatalf("round %d: Verify after prune: %+v %v", round, rep, err)
			}
			rep, err := audit.CheckPins(ctx, d, d)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 0 || rep.Pins != 2 || rep.Records != 2 {
				t.Errorf("round %d (pruned %d): CheckPins = %+v, want 2 pins, 2 records, no problems", round, n, rep)
			}
		}
		// The carried records still name the voucher.
		recs, err := d.AuditEvents(ctx, store.AuditQuery{Type: store.AuditChecksum})
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, e := range recs {
			reasons = append(reasons, strings.Join(e.Reasons, "; "))
		}
		joined := strings.Join(reasons, "\n")
		for _, want := range []string{"vouched for by first use via https://git.corp.example.com; asked by alice; carried forward from record",
			"vouched for by import of /src/go.sum; carried forward from record"} {
			if !strings.Contains(joined, want) {
				t.Errorf("carried records lack %q:\n%s", want, joined)
			}
		}
		// An edit behind modgate's back is still found after pruning.
		d.exec(t, `UPDATE checksums SET hash = 'h1:evil=' WHERE kind = 'zip'`)
		if rep, _ := audit.CheckPins(ctx, d, d); rep == nil || len(rep.Problems) != 1 {
			t.Errorf("CheckPins after pruning and an edit: %+v", rep)
		}
	})
}
