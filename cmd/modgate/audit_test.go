package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
)

func TestAuditCommands(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	s, err := sqlite.Open(ctx, filepath.Join(data, "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-500 * 24 * time.Hour).UTC()
	recent := time.Now().Add(-time.Hour).UTC()
	events := []*store.AuditEvent{
		{Time: old, Type: store.AuditFetch, ClientIP: "10.0.0.1", Module: "example.com/old", Version: "v1.0.0", Decision: store.DecisionServed},
		{Time: recent, Type: store.AuditFetch, ClientIP: "10.0.0.2", Module: "example.com/a", Version: "v1.0.0", Decision: store.DecisionBlocked, Reasons: []string{"=evil"}},
		{Time: recent, Type: store.AuditFetch, ClientToken: "ci", Module: "example.com/b", Version: "v1.0.0", Decision: store.DecisionServed},
	}
	if err := s.AppendAudit(ctx, events); err != nil {
		t.Fatal(err)
	}
	s.Close()
	modgate := logged(t, modgateIn(t, data))

	out, err := modgate("audit", "verify")
	if err != nil || !strings.Contains(out, "audit log intact: 3 records") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	out, err = modgate("audit", "export", "--format", "csv", "--decision", "blocked")
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], `example.com/a`) ||
		!strings.Contains(lines[1], `"[""=evil""]"`) {
		t.Errorf("audit export --format csv --decision blocked:\n%s", out)
	}
	outFile := filepath.Join(t.TempDir(), "out.jsonl")
	if out, err := modgate("audit", "export", "--client", "ci", "--output", outFile, "--data", data); err != nil {
		t.Fatalf("audit export --output: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(outFile); strings.Count(string(b), "\n") != 1 || !strings.Contains(string(b), `"client_token":"ci"`) {
		t.Errorf("exported file:\n%s", b)
	}
	if _, err := modgate("audit", "export", "--since", "yesterday"); err == nil || exitCode(err) != 2 {
		t.Errorf("export with a bad time: %v, want a usage error", err)
	}
	if _, err := modgate("audit", "frobnicate"); err == nil || exitCode(err) != 2 {
		t.Errorf("unknown audit command: %v, want a usage error", err)
	}

	out, err = modgate("audit", "prune")
	if err != nil || !strings.Contains(out, "pruned 1 audit records") {
		t.Fatalf("audit prune: %v\n%s", err, out)
	}
	out, err = modgate("audit", "verify")
	if err != nil || !strings.Contains(out, "records through 1 pruned") {
		t.Fatalf("audit verify after prune: %v\n%s", err, out)
	}

	raw := rawDB(t, data)
	if _, err := raw.Exec(`UPDATE audit_log SET decision = 'served' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	out, err = modgate("audit", "verify")
	if err == nil || exitCode(err) != 1 || !strings.Contains(out, "FIRST BAD RECORD: 2 (edited)") {
		t.Fatalf("audit verify of an edited log: %v (exit %d)\n%s", err, exitCode(err), out)
	}
	t.Logf("verify of an edited log:\n%s", out)
}

func TestDaysFlag(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		str  string
	}{
		{"400d", 400 * 24 * time.Hour, "400d"},
		{"0", 0, "0d"},
		{"36h", 36 * time.Hour, "36h0m0s"},
		{"48h", 48 * time.Hour, "2d"},
	}
	for _, tt := range tests {
		var d days
		if err := d.Set(tt.in); err != nil || time.Duration(d) != tt.want || d.String() != tt.str {
			t.Errorf("Set(%q) = %v (%s), %v; want %v (%s)", tt.in, time.Duration(d), d.String(), err, tt.want, tt.str)
		}
	}
	for _, bad := range []string{"-1d", "xd", "1y", ""} {
		var d days
		if err := d.Set(bad); err == nil {
			t.Errorf("Set(%q) succeeded", bad)
		}
	}
}
