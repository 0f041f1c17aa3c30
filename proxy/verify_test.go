package proxy_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/module"
	_ "modernc.org/sqlite"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/proxy/verify"
)

// auditLog collects audit events.
type auditLog struct {
	mu     sync.Mutex
	events []*store.AuditEvent
}

func (a *auditLog) Log(e *store.AuditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
}

// of returns the events of one type.
func (a *auditLog) of(typ string) []*store.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*store.AuditEvent
	for _, e := range a.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func newVerifyHarness(t *testing.T, db *testkit.SumDB, log *auditLog, mods ...*testkit.Built) *harness {
	t.Helper()
	return newHarness(t, mods, withSumDB(t, db, log, ""))
}

// withSumDB verifies public modules against db, treats corp.example.com as
// private (fetched from privateUp when set), records audit events in log, and
// turns the in-memory record cache off so tests can drop records.
func withSumDB(t *testing.T, db *testkit.SumDB, log *auditLog, privateUp string) harnessOpt {
	return func(po *proxy.Options, uo *upstream.Options) {
		uo.PrivatePatterns = "corp.example.com"
		if privateUp != "" {
			uo.Private = privateUp
		}
		po.Audit, po.MemoryCache = log, -1
		v, err := verify.New(verify.Options{Store: po.Store.(verify.Storage), SumDB: verify.SumDB{Name: db.Name, Key: db.Key},
			URL: db.URL, NoSumDB: "corp.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		po.Verifier = v
	}
}

func TestTamperedArtifactsAreRefused(t *testing.T) {
	good := testkit.Build(t, mod("example.com/m", "v1.0.0"))
	evil := testkit.Build(t, mod("example.com/m", "v1.0.0", "evil.go", "package a\n\nfunc init() { panic(1) }\n"))
	db := testkit.NewSumDB(t, "sum.test", good)
	log := &auditLog{}
	h := newVerifyHarness(t, db, log, evil)

	r := h.get("/example.com/m/@v/v1.0.0.zip")
	if r.code != http.StatusForbidden {
		t.Fatalf("tampered zip = %d %q, want 403", r.code, r.body)
	}
	for _, want := range []string{"example.com/m@v1.0.0", "checksum mismatch", good.Hash, evil.Hash, "checksum database sum.test"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("refusal does not mention %q:\n%s", want, r.body)
		}
	}
	if len(r.body) > 648 || strings.Count(string(r.body), "\n") > 8 {
		t.Errorf("refusal is over the go command's budget: %d bytes", len(r.body))
	}
	if _, err := h.st.Artifact(context.Background(), module.Version{Path: "example.com/m", Version: "v1.0.0"}, store.KindZip); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tampered zip was stored: %v", err)
	}
	ev := log.of(store.AuditChecksum)
	if len(ev) != 1 || ev[0].Type != store.AuditChecksum || ev[0].Decision != store.DecisionBlocked || ev[0].Kind != "zip" || ev[0].ClientIP != "127.0.0.1" {
		t.Errorf("audit events = %+v, want one blocked checksum event", ev)
	}

	// A tampered .mod is refused likewise.
	h.up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".mod") {
			w.Write([]byte("module example.com/m\n\nrequire example.com/evil v1.0.0\n"))
			return true
		}
		return false
	}
	if r := h.get("/example.com/m/@v/v1.0.0.mod"); r.code != http.StatusForbidden || !strings.Contains(string(r.body), good.ModSum) {
		t.Errorf("tampered .mod = %d %q", r.code, r.body)
	}

	// Once upstream serves the real bytes, a retry checks again and serves them.
	h.up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case strings.HasSuffix(r.URL.Path, ".zip"):
			w.Write(good.Zip)
		case strings.HasSuffix(r.URL.Path, ".mod"):
			w.Write(good.Mod)
		default:
			return false
		}
		return true
	}
	if r := h.get("/example.com/m/@v/v1.0.0.zip"); r.code != 200 || !bytes.Equal(r.body, good.Zip) {
		t.Errorf("good zip after a refusal = %d", r.code)
	}
	if r := h.get("/example.com/m/@v/v1.0.0.mod"); r.code != 200 {
		t.Errorf("good .mod after a refusal = %d", r.code)
	}
}

func TestUnknownToSumDBIsRefused(t *testing.T) {
	b := testkit.Build(t, mod("example.com/new", "v1.0.0"))
	db := testkit.NewSumDB(t, "sum.test")
	h := newVerifyHarness(t, db, &auditLog{}, b)
	if r := h.get("/example.com/new/@v/v1.0.0.zip"); r.code != http.StatusForbidden || !strings.Contains(string(r.body), "does not know this version") {
		t.Errorf("version unknown to the checksum database = %d %q, want 403", r.code, r.body)
	}
}

func TestPrivateRepinRefused(t *testing.T) {
	first := testkit.Build(t, mod("corp.example.com/lib", "v1.0.0"))
	second := testkit.Build(t, mod("corp.example.com/lib", "v1.0.0", "b.go", "package a\n"))
	db := testkit.NewSumDB(t, "sum.test")
	privUp := testkit.NewUpstream(t, first)
	log := &auditLog{}
	h := newHarness(t, nil, withSumDB(t, db, log, privUp.URL))
	if r := h.get("/corp.example.com/lib/@v/v1.0.0.zip"); r.code != 200 {
		t.Fatalf("first private fetch = %d %q", r.code, r.body)
	}
	// The cached copy is lost (an operator purged it); upstream now serves
	// different bytes for the same version.
	dropArtifacts(t, h)
	privUp.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".zip") {
			w.Write(second.Zip)
			return true
		}
		return false
	}
	if r := h.get("/corp.example.com/lib/@v/v1.0.0.zip"); r.code != http.StatusForbidden || !strings.Contains(string(r.body), "pinned on first fetch") {
		t.Errorf("re-fetch with different content = %d %q, want 403", r.code, r.body)
	}
	if db.Lookups("corp.example.com/lib", "v1.0.0") != 0 {
		t.Errorf("a private module was looked up in the checksum database")
	}
}

// dropArtifacts deletes every cached artifact record behind the store's back.
func dropArtifacts(t *testing.T, h *harness) {
	t.Helper()
	h.px.Wait() // nothing fetched ahead stores a row after the delete
	db, err := sql.Open("sqlite", h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM artifacts`); err != nil {
		t.Fatal(err)
	}
}
