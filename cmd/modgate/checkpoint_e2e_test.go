package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/testkit"
)

// TestAuditCheckpointEndToEnd: a real modgate signs checkpoints of its audit
// chain at start, at an interval and on shutdown, publishes them at
// /api/audit/checkpoint, in its log and on the SIEM stream; `modgate audit
// verify --checkpoint` proves an untouched log, and fails when the log's tail
// was cut and its head rewound, or when the checkpoint was forged.
func TestAuditCheckpointEndToEnd(t *testing.T) {
	mods := []*testkit.Built{
		testkit.Build(t, testkit.Module{Path: "example.com/a", Version: "v1.0.0", Files: map[string]string{"a.go": "package a\n"}}),
		testkit.Build(t, testkit.Module{Path: "example.com/b", Version: "v1.0.0", Files: map[string]string{"b.go": "package b\n"}}),
	}
	up := testkit.NewUpstream(t, mods...)
	data := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "audit.key")
	modgate := logged(t, modgateIn(t, data))
	out, err := modgate("audit", "keygen", keyFile, "corp-audit")
	if err != nil {
		t.Fatal(err)
	}
	vkey := strings.TrimSpace(out)
	if !strings.HasPrefix(vkey, "corp-audit+") || strings.Contains(vkey, "PRIVATE") {
		t.Fatalf("keygen printed %q, want the verifier key", vkey)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if _, err := modgate("audit", "keygen", keyFile); err == nil {
		t.Errorf("keygen overwrote an existing key file")
	}

	// The SIEM: a webhook on 127.0.0.1 keeping every line.
	var mu sync.Mutex
	var streamed []string
	siem := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		mu.Lock()
		for sc.Scan() {
			streamed = append(streamed, sc.Text())
		}
		mu.Unlock()
	}))
	defer siem.Close()

	mg := startModgate(t, "--data", data, "--upstream", up.URL, "--sumdb", "off", "--audit-key", keyFile,
		"--audit-checkpoint-interval", "200ms", "--audit-stream", siem.URL, "--audit-flush", "0")
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(mg.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
		}
		return body
	}
	get("/example.com/a/@v/v1.0.0.zip")
	get("/example.com/a/@v/v1.0.0.mod")
	// The interval publishes more checkpoints (the start's is the first).
	for deadline := time.Now().Add(30 * time.Second); strings.Count(mg.Logs(), `"msg":"audit checkpoint"`) < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 checkpoints logged with --audit-checkpoint-interval 200ms")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(mg.Logs(), "PRIVATE+KEY") {
		t.Fatalf("the signer key is in the log")
	}
	early := get("/api/audit/checkpoint")
	earlyFile := filepath.Join(t.TempDir(), "early.checkpoint")
	os.WriteFile(earlyFile, early, 0o644)
	c, err := audit.OpenCheckpoint(early, vkey)
	if err != nil || c.Size < 4 { // two pins and two fetches at least
		t.Fatalf("served checkpoint %+v, %v:\n%s", c, err, early)
	}
	get("/example.com/b/@v/v1.0.0.zip")
	get("/example.com/b/@v/v1.0.0.info")
	mg.stop(t)

	// The last checkpoint, signed on shutdown, reached the stream.
	mu.Lock()
	var last audit.CheckpointRecord
	for _, line := range streamed {
		var r audit.CheckpointRecord
		if json.Unmarshal([]byte(line), &r) == nil && r.Type == "checkpoint" {
			last = r
		}
	}
	mu.Unlock()
	if last.Note == "" {
		t.Fatalf("no checkpoint on the SIEM stream:\n%s", strings.Join(streamed, "\n"))
	}
	lastFile := filepath.Join(t.TempDir(), "last.jsonl")
	lastLine, _ := json.Marshal(last)
	os.WriteFile(lastFile, lastLine, 0o644)
	lastCP, err := audit.OpenCheckpoint([]byte(last.Note), vkey)
	if err != nil || lastCP.Size <= c.Size {
		t.Fatalf("last streamed checkpoint %+v, %v; want more than %d records", lastCP, err, c.Size)
	}

	// An untouched log holds both checkpoints (the key given, or derived
	// from --audit-key).
	for _, args := range [][]string{
		{"audit", "verify", "--checkpoint", earlyFile, "--key", vkey},
		{"audit", "verify", "--checkpoint", lastFile, "--audit-key", keyFile},
	} {
		if out, err := modgate(args...); err != nil || !strings.Contains(out, "checkpoint holds") || !strings.Contains(out, "audit log intact") {
			t.Errorf("modgate %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// A forged checkpoint fails.
	forged := bytes.Replace([]byte(last.Note), []byte(last.Hash), []byte(strings.Repeat("0", 64)), 1)
	forgedFile := filepath.Join(t.TempDir(), "forged.checkpoint")
	os.WriteFile(forgedFile, forged, 0o644)
	if out, err := modgate("audit", "verify", "--checkpoint", forgedFile, "--key", vkey); err == nil || !strings.Contains(err.Error(), "forged") {
		t.Errorf("verify of a forged checkpoint: %v\n%s", err, out)
	}

	// Cut the tail and rewind the head consistently: the chain walk alone
	// finds nothing, the last checkpoint does.
	raw := rawDB(t, data)
	keep := lastCP.Size - 2
	for _, q := range []string{
		`DELETE FROM audit_log WHERE seq > ?`,
		`UPDATE audit_chain SET head_seq = ?1, head_hash = (SELECT hash FROM audit_log WHERE seq = ?1)`,
		`DELETE FROM audit_checkpoints WHERE size > ?`,
	} {
		if _, err := raw.Exec(q, keep); err != nil {
			t.Fatal(q, err)
		}
	}
	if out, err := modgate("audit", "verify"); err != nil {
		t.Fatalf("the rewound chain should pass the walk alone (that is the gap): %v\n%s", err, out)
	}
	out, err = modgate("audit", "verify", "--checkpoint", lastFile, "--key", vkey)
	if err == nil || exitCode(err) != 1 || !strings.Contains(out, "CHECKPOINT FAILS") || !strings.Contains(out, "head rewound") {
		t.Errorf("verify of a rewound log against the last checkpoint: %v (exit %d)\n%s", err, exitCode(err), out)
	}
	t.Logf("verify of a rewound log:\n%s", out)
	// The earlier checkpoint still holds: what it covers was not touched.
	if out, err := modgate("audit", "verify", "--checkpoint", earlyFile, "--key", vkey); err != nil {
		t.Errorf("verify against the earlier checkpoint: %v\n%s", err, out)
	}
}
