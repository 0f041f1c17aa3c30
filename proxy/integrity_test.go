package proxy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
)

// integrityHarness is a proxy over a real blob directory and SQLite store,
// with audit events and metrics recorded.
func integrityHarness(t *testing.T, mods []*testkit.Built, memo bool) (*harness, *auditLog, *prometheus.Registry) {
	t.Helper()
	log := &auditLog{}
	reg := prometheus.NewRegistry()
	metrics := proxy.NewMetrics(reg)
	h := newHarness(t, mods, func(po *proxy.Options, uo *upstream.Options) {
		po.Audit, po.Metrics = log, metrics
		if !memo {
			po.MemoryCache = -1 // as after a restart: every read goes to the store
		}
	})
	return h, log, reg
}

// blobFile is the path of the one zip blob stored.
func blobFile(t *testing.T, h *harness) string {
	t.Helper()
	var key string
	err := h.st.EachArtifact(context.Background(), func(a *store.Artifact) error {
		if a.Kind == store.KindZip {
			key = a.SHA256
		}
		return nil
	})
	if err != nil || key == "" {
		t.Fatalf("no zip stored (%v)", err)
	}
	p, err := h.blobs.Path(key)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// getRaw fetches path and returns the status, the body it got and the error of
// reading the body (a cut response).
func getRaw(t *testing.T, h *harness, path string, hdr ...string) (int, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	h.inflight.Wait()
	return resp.StatusCode, body, err
}

// securityEvents returns the security audit records about integrity.
func securityEvents(log *auditLog) []*store.AuditEvent {
	var out []*store.AuditEvent
	for _, e := range log.of(store.AuditSecurity) {
		if len(e.Reasons) > 0 && strings.Contains(e.Reasons[0], "integrity check") {
			out = append(out, e)
		}
	}
	return out
}

func TestTamperedZipNeverServed(t *testing.T) {
	random := make([]byte, 300<<10) // several chunks of the copy buffer
	rand.New(rand.NewSource(1)).Read(random)
	b := testkit.Build(t, mod("example.com/m", "v1.0.0", "data.bin", string(random)))
	other := testkit.Build(t, mod("example.com/other", "v1.0.0", "x.go", "package a // other\n"))
	const zip = "/example.com/m/@v/v1.0.0.zip"
	tests := []struct {
		name   string
		tamper func(t *testing.T, path string)
		// cut: the blob keeps its size, so the change is found at its end,
		// with the response streaming: the client must see a failed download.
		// Otherwise the size differs and it is refused (503) before a byte.
		cut    bool
		header []string
	}{
		{"flipped byte", func(t *testing.T, p string) { flip(t, p, len(b.Zip)/2) }, true, nil},
		{"flipped last byte", func(t *testing.T, p string) { flip(t, p, len(b.Zip)-1) }, true, nil},
		{"flipped first byte", func(t *testing.T, p string) { flip(t, p, 0) }, true, nil},
		{"truncated", func(t *testing.T, p string) { write(t, p, b.Zip[:len(b.Zip)-100]) }, false, nil},
		{"extended", func(t *testing.T, p string) { write(t, p, append(append([]byte{}, b.Zip...), 'x')) }, false, nil},
		{"another module's zip", func(t *testing.T, p string) { write(t, p, other.Zip) }, false, nil},
		{"another module's zip of the same size", func(t *testing.T, p string) { write(t, p, sameSize(other.Zip, len(b.Zip))) }, true, nil},
		{"flipped byte, range request", func(t *testing.T, p string) { flip(t, p, 10) }, false, []string{"Range", "bytes=0-99"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, log, metrics := integrityHarness(t, []*testkit.Built{b, other}, true)
			if r := h.get(zip); r.code != 200 || !bytes.Equal(r.body, b.Zip) {
				t.Fatalf("first GET = %d", r.code)
			}
			if err := h.px.Ready(context.Background()); err != nil {
				t.Fatalf("Ready before tampering: %v", err)
			}
			blobPath := blobFile(t, h)
			quarantine := filepath.Join(filepath.Dir(filepath.Dir(blobPath)), "quarantine")
			tt.tamper(t, blobPath)

			code, body, err := getRaw(t, h, zip, tt.header...)
			switch {
			case tt.cut:
				if code != 200 || err == nil || len(body) >= len(b.Zip) {
					t.Fatalf("GET of the tampered zip = %d, %d bytes, read error %v; want a cut response (fewer than %d bytes and an error)",
						code, len(body), err, len(b.Zip))
				}
			default:
				if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "failed its integrity check") {
					t.Fatalf("GET of the tampered zip = %d %.200q, want 503 saying why", code, body)
				}
			}
			if bytes.Equal(body, b.Zip) {
				t.Fatal("the whole zip was served")
			}
			ev := securityEvents(log)
			if len(ev) != 1 || ev[0].Decision != store.DecisionError || ev[0].Module != "example.com/m" || ev[0].Kind != "zip" {
				t.Fatalf("security audit records = %+v, want one about example.com/m's zip", ev)
			}
			if n := integrityFailures(t, metrics, "zip"); n != 1 {
				t.Errorf("modgate_integrity_failures_total{kind=zip} = %v, want 1", n)
			}
			if err := h.px.Ready(context.Background()); err != nil {
				t.Errorf("Ready after tampering = %v, want ready (every read is still checked; the bad blob is fetched again)", err)
			}
			if w := h.px.Warnings(context.Background()); len(w) != 1 || !strings.Contains(w[0], "1 stored artifacts failed their integrity check and were quarantined") {
				t.Errorf("Warnings after tampering = %q, want one naming the quarantine", w)
			}
			q, _ := filepath.Glob(filepath.Join(quarantine, "*"))
			if len(q) != 1 {
				t.Errorf("quarantine holds %v, want the one blob", q)
			}

			// The next request fetches it again from upstream.
			if r := h.get(zip); r.code != 200 || !bytes.Equal(r.body, b.Zip) {
				t.Fatalf("GET after the failure = %d (%d bytes), want the right zip", r.code, len(r.body))
			}
			if n := h.up.Requests(zip); n != 2 {
				t.Errorf("upstream saw %d requests for the zip, want 2", n)
			}
			if r := h.get(zip); r.code != 200 || !bytes.Equal(r.body, b.Zip) || h.up.Requests(zip) != 2 {
				t.Errorf("GET of the fetched-again zip = %d, upstream %d; want it served from the cache", r.code, h.up.Requests(zip))
			}
			// An operator clears the quarantine.
			for _, f := range q {
				os.Remove(f)
			}
			if w := h.px.Warnings(context.Background()); len(w) != 0 {
				t.Errorf("Warnings after the quarantine was cleared: %q", w)
			}
		})
	}
}

func TestMissingBlobFetchedAgain(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0"))
	const zip = "/example.com/m/@v/v1.0.0.zip"
	h, log, _ := integrityHarness(t, []*testkit.Built{b}, true)
	if r := h.get(zip); r.code != 200 {
		t.Fatalf("first GET = %d", r.code)
	}
	os.Remove(blobFile(t, h))
	if r := h.get(zip); r.code != 200 || !bytes.Equal(r.body, b.Zip) {
		t.Fatalf("GET with the blob gone = %d %q, want the zip fetched again", r.code, r.body)
	}
	if n := h.up.Requests(zip); n != 2 {
		t.Errorf("upstream saw %d requests for the zip, want 2", n)
	}
	if ev := securityEvents(log); len(ev) != 0 {
		t.Errorf("a missing blob made security records: %+v", ev)
	}
	// Upstream gone as well: modgate's fault, never a 404 (clients would
	// fall through to another proxy).
	os.Remove(blobFile(t, h))
	h.up.Close()
	if r := h.get(zip); r.code == http.StatusNotFound || r.code == http.StatusGone || r.code < 500 {
		t.Errorf("GET with blob and upstream gone = %d %q, want a 5xx", r.code, r.body)
	}
}

func TestEditedModRowNotServed(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0"))
	const path = "/example.com/m/@v/v1.0.0"
	for _, tt := range []struct {
		name, kind, edit string
	}{
		{"mod", "mod", `UPDATE artifacts SET data = CAST('module example.com/evil' || char(10) AS BLOB) WHERE kind = 'mod'`},
		// The row's bytes and its SHA-256 edited together: the h1: hash
		// recorded when the .mod was verified still differs.
		{"mod with its sha256", "mod", `UPDATE artifacts SET data = CAST('module example.com/evil' || char(10) AS BLOB), size = 24,
			sha256 = '` + sha256hex("module example.com/evil\n") + `' WHERE kind = 'mod'`},
		{"info", "info", `UPDATE artifacts SET data = CAST('{"Version":"v1.0.0","Time":"2000-01-01T00:00:00Z"}' AS BLOB) WHERE kind = 'info'`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, log, metrics := integrityHarness(t, []*testkit.Built{b}, false)
			want := map[string][]byte{"mod": b.Mod, "info": b.Info}[tt.kind]
			if r := h.get(path + "." + tt.kind); r.code != 200 || !bytes.Equal(r.body, want) {
				t.Fatalf("first GET = %d %q", r.code, r.body)
			}
			h.px.Wait() // the .info's zip, fetched ahead, is stored
			db, err := sql.Open("sqlite", h.dbPath)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tt.edit); err != nil {
				t.Fatal(err)
			}
			db.Close()
			r := h.get(path + "." + tt.kind)
			if r.code != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "failed its integrity check") {
				t.Fatalf("GET of the edited .%s = %d %q, want 503 saying why", tt.kind, r.code, r.body)
			}
			if ev := securityEvents(log); len(ev) != 1 || ev[0].Kind != tt.kind {
				t.Errorf("security audit records = %+v, want one about the .%s", ev, tt.kind)
			}
			if n := integrityFailures(t, metrics, tt.kind); n != 1 {
				t.Errorf("modgate_integrity_failures_total{kind=%s} = %v, want 1", tt.kind, n)
			}
			if r := h.get(path + "." + tt.kind); r.code != 200 || !bytes.Equal(r.body, want) {
				t.Fatalf("GET after the failure = %d %q, want the right bytes fetched again", r.code, r.body)
			}
			if n := h.up.Requests(path + "." + tt.kind); n != 2 {
				t.Errorf("upstream saw %d requests, want 2", n)
			}
		})
	}
}

// integrityFailures reads modgate_integrity_failures_total{kind}.
func integrityFailures(t *testing.T, reg *prometheus.Registry, kind string) float64 {
	t.Helper()
	return counterOf(t, reg, "modgate_integrity_failures_total", map[string]string{"kind": kind})
}

// counterOf returns the value of the counter name with the labels given in
// reg (0 when it has none).
func counterOf(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			matched := 0
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok {
					if v != l.GetValue() {
						continue metric
					}
					matched++
				}
			}
			if matched == len(labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func flip(t *testing.T, path string, at int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[at] ^= 0x20
	// In place, as a disk or an attacker would (same inode).
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data[at:at+1], int64(at)); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sameSize pads (with a zip comment's worth of zeros) or cuts data to n bytes.
func sameSize(data []byte, n int) []byte {
	out := make([]byte, n)
	copy(out, data)
	return out
}

func TestDiskFull(t *testing.T) {
	mnt := testkit.TmpFS(t, 2<<20)
	random := make([]byte, 3<<20) // a zip that does not fit
	rand.New(rand.NewSource(1)).Read(random)
	big := testkit.Build(t, mod("example.com/big", "v1.0.0", "data.bin", string(random)))
	small := testkit.Build(t, mod("example.com/small", "v1.0.0"))
	reg := prometheus.NewRegistry()
	h := newHarnessAt(t, mnt, []*testkit.Built{big, small}, func(po *proxy.Options, uo *upstream.Options) {
		po.Metrics = proxy.NewMetrics(reg)
	})
	refused := func(r response, what string) {
		t.Helper()
		body := string(r.body)
		if r.code != http.StatusInsufficientStorage || !strings.Contains(body, "disk is full") ||
			strings.Contains(body, mnt) || strings.Contains(body, h.up.URL) || strings.Contains(body, "blob-") {
			t.Errorf("%s = %d %q; want 507 saying the disk is full, without paths or the upstream", what, r.code, body)
		}
	}
	// The big zip is streamed as it is downloaded: when the disk fills up
	// after its first bytes were sent, the response is cut and asking again
	// answers 507 with the reason at once (no second download); when it
	// fills up before, the answer is the 507.
	if r, err := h.getRaw("/example.com/big/@v/v1.0.0.zip"); err != nil {
		if r.code != 200 || len(r.body) >= len(big.Zip) {
			t.Errorf("GET of a zip larger than the disk = %d, %d bytes, %v; want a cut response", r.code, len(r.body), err)
		}
		refused(h.get("/example.com/big/@v/v1.0.0.zip"), "GET again of a zip larger than the disk")
	} else {
		refused(r, "GET of a zip larger than the disk")
	}
	if err := h.px.Ready(context.Background()); err != nil {
		t.Errorf("Ready after the big zip's temporary file was dropped: %v", err)
	}
	tmp, _ := filepath.Glob(filepath.Join(mnt, "blobs", "tmp", "blob-*"))
	if len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}

	filler := testkit.FillDisk(t, mnt)
	refused(h.get("/example.com/small/@v/v1.0.0.zip"), "GET of a zip on a full disk")
	if err := h.px.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "disk is full") || strings.Contains(err.Error(), mnt) {
		t.Errorf("Ready on a full disk = %v, want an error saying the disk is full (without the path)", err)
	}
	if n := counter(t, reg, "modgate_storage_full_errors_total"); n != 2 {
		t.Errorf("modgate_storage_full_errors_total = %v, want 2", n)
	}

	os.Remove(filler)
	if err := h.px.Ready(context.Background()); err != nil {
		t.Errorf("Ready once space was freed: %v", err)
	}
	if r := h.get("/example.com/small/@v/v1.0.0.zip"); r.code != 200 || !bytes.Equal(r.body, small.Zip) {
		t.Errorf("GET once space was freed = %d", r.code)
	}
}

// counter reads an unlabelled counter.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
