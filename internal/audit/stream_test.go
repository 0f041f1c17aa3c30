package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
)

// TestStreamWebhook sends through a Writer to a webhook that fails twice:
// every record arrives once, in order, as JSON lines.
func TestStreamWebhook(t *testing.T) {
	var mu sync.Mutex
	var got []int64
	fails := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Errorf("webhook got %s %s", r.Method, r.Header.Get("Content-Type"))
		}
		if fails > 0 {
			fails--
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			var rec audit.Record
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Errorf("webhook body line %q: %v", sc.Text(), err)
			}
			got = append(got, rec.Seq)
		}
	}))
	defer srv.Close()
	st, err := audit.NewStream(audit.StreamOptions{Target: srv.URL + "/siem"})
	if err != nil {
		t.Fatal(err)
	}
	s := openSQLite(t)
	w, err := audit.New(audit.Options{Store: s, FlushInterval: 10 * time.Millisecond, Sink: st})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		w.Log(event(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 50 {
		t.Fatalf("webhook got %d records, want 50: %v", len(got), got)
	}
	for i, seq := range got {
		if seq != int64(i+1) {
			t.Fatalf("webhook got seqs %v, want 1..50 in order", got)
		}
	}
}

// TestStreamGivesUp checks that a webhook that never answers 2xx costs a
// bounded number of attempts and drops (and counts) the batch.
func TestStreamGivesUp(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	st, err := audit.NewStream(audit.StreamOptions{Target: srv.URL, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	st.Send([]*store.AuditEvent{{Seq: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := st.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if calls != 2 {
		t.Errorf("webhook called %d times, want MaxAttempts = 2", calls)
	}
}

func TestStreamStdout(t *testing.T) {
	var buf bytes.Buffer
	st, err := audit.NewStream(audit.StreamOptions{Target: "stdout", Stdout: &buf})
	if err != nil {
		t.Fatal(err)
	}
	st.Send([]*store.AuditEvent{{Seq: 7, Time: t0, Module: "example.com/m"}})
	if err := st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `{"seq":7,"time":"2026-03-01T12:00:00Z","type":"","client_token":"","client_ip":"","user_agent":"","module":"example.com/m","version":"","kind":"","decision":"","reasons":[],"source":"","bytes":0,"duration_ns":0,"sbom":"","prev_hash":"","hash":""}` + "\n"
	if buf.String() != want {
		t.Errorf("stdout stream:\n%s\nwant\n%s", buf.String(), want)
	}
	for _, bad := range []string{"", "ftp://x", "http://", "stderr"} {
		if _, err := audit.NewStream(audit.StreamOptions{Target: bad}); err == nil {
			t.Errorf("NewStream(%q) succeeded", bad)
		}
	}
}

// TestStreamCheckpoint: the Writer's OnClose signs a last checkpoint after
// the last record is appended, and the stream sends it after the records,
// as a JSON line whose note verifies.
func TestStreamCheckpoint(t *testing.T) {
	var out bytes.Buffer
	st, err := audit.NewStream(audit.StreamOptions{Target: "stdout", Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	s := openSQLite(t)
	signer, vkey := newSigner(t, "modgate-test")
	cp, err := audit.NewCheckpointer(audit.CheckpointOptions{Store: s, Signer: signer, Publish: st.SendCheckpoint})
	if err != nil {
		t.Fatal(err)
	}
	w, err := audit.New(audit.Options{Store: s, FlushInterval: time.Hour, Sink: st, OnClose: func(ctx context.Context) {
		if _, err := cp.Publish(ctx); err != nil {
			t.Error(err)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		w.Log(event(i))
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if len(lines) != 4 {
		t.Fatalf("%d lines streamed, want 3 records and a checkpoint:\n%s", len(lines), out.Bytes())
	}
	var r audit.CheckpointRecord
	if err := json.Unmarshal(lines[3], &r); err != nil || r.Type != "checkpoint" || r.Size != 3 {
		t.Fatalf("last line %s: %v", lines[3], err)
	}
	c, err := audit.OpenCheckpoint([]byte(r.Note), vkey)
	if err != nil || c.Size != 3 || c.Hash != r.Hash {
		t.Errorf("streamed checkpoint %+v, %v", c, err)
	}
}
