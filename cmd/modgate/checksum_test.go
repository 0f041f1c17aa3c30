package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChecksumPinCommands: an import is audited pin by pin; a pin written
// behind modgate's back (or before pins were audited) is reported by
// checksum verify until an operator attests it; an edited pin is reported.
func TestChecksumPinCommands(t *testing.T) {
	data := t.TempDir()
	modgate := logged(t, modgateIn(t, data))
	gosum := filepath.Join(t.TempDir(), "go.sum")
	os.WriteFile(gosum, []byte("corp.example.com/a v1.0.0 h1:"+strings.Repeat("A", 43)+"=\n"+
		"corp.example.com/a v1.0.0/go.mod h1:"+strings.Repeat("B", 43)+"=\n"), 0o644)
	if out, err := modgate("checksum", "import", gosum); err != nil || !strings.Contains(out, "imported 2 hashes") {
		t.Fatalf("checksum import: %v\n%s", err, out)
	}
	out, err := modgate("audit", "export", "--type", "checksum")
	if err != nil || strings.Count(out, `"decision":"pinned"`) != 2 || !strings.Contains(out, "vouched for by import of "+gosum) ||
		!strings.Contains(out, " via modgate checksum import") {
		t.Errorf("audit records of the import: %v\n%s", err, out)
	}
	if out, err := modgate("checksum", "verify"); err != nil || !strings.Contains(out, "checked 2 pins against 2 audit records: 0 bad") {
		t.Errorf("checksum verify: %v\n%s", err, out)
	}

	// A pin from before pins were audited (or written behind modgate's back).
	raw := rawDB(t, data)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.Exec(q, args...); err != nil {
			t.Fatal(q, err)
		}
	}
	exec(`INSERT INTO checksums (module_path, version, kind, hash, source, upstream, client, created_at)
		VALUES ('corp.example.com/old', 'v0.1.0', 'zip', 'h1:old=', 'tofu', 'direct', '10.0.0.9', '2025-01-01T00:00:00.000000Z')`)
	out, err = modgate("checksum", "verify")
	if exitCode(err) != 1 || !strings.Contains(out, "BAD PIN corp.example.com/old v0.1.0: pinned h1:old= (tofu), but the audit chain has no record of this pin") {
		t.Errorf("checksum verify with an unrecorded pin: %v\n%s", err, out)
	}
	if out, err := modgate("checksum", "attest"); err != nil || !strings.Contains(out, "attest corp.example.com/old v0.1.0 h1:old= (tofu, recorded 2025-01-01T00:00:00Z)") ||
		!strings.Contains(out, "attested 1 pins") {
		t.Errorf("checksum attest: %v\n%s", err, out)
	}
	if out, err := modgate("checksum", "verify"); err != nil || !strings.Contains(out, "checked 3 pins against 3 audit records: 0 bad") {
		t.Errorf("checksum verify after attesting: %v\n%s", err, out)
	}
	if out, err := modgate("audit", "verify"); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}

	// An imported pin edited behind modgate's back.
	exec(`UPDATE checksums SET hash = 'h1:evil=' WHERE module_path = 'corp.example.com/a' AND kind = 'mod'`)
	out, err = modgate("checksum", "verify")
	if exitCode(err) != 1 || !strings.Contains(out, "BAD PIN corp.example.com/a v1.0.0/go.mod: pinned h1:evil=, but audit record 2 pinned h1:"+strings.Repeat("B", 43)+"=") {
		t.Errorf("checksum verify after an edit: %v\n%s", err, out)
	}
	if out, _ := modgate("checksum", "attest"); !strings.Contains(out, "attested 0 pins") {
		t.Errorf("attest must not paper over an edited pin:\n%s", out)
	}
}
