package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/store"
)

func TestExportCSVNeutralisesFormulas(t *testing.T) {
	s := openSQLite(t)
	hostile := []string{"=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "a,b\"c\nd", "ok"}
	e := &store.AuditEvent{Time: t0, Type: store.AuditFetch, ClientToken: hostile[0], ClientIP: hostile[1],
		UserAgent: hostile[2], Module: hostile[3], Version: hostile[4], Kind: hostile[5], Decision: hostile[6],
		Reasons: []string{"=1"}, Source: hostile[7], Bytes: 5, Duration: time.Second}
	if err := s.AppendAudit(context.Background(), []*store.AuditEvent{e}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := audit.Export(context.Background(), s, store.AuditQuery{}, audit.CSV, &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("reading the CSV back: %v\n%s", err, buf.String())
	}
	want := [][]string{
		{"seq", "time", "type", "client_token", "client_ip", "user_agent", "module", "version", "kind", "decision",
			"reasons", "source", "bytes", "duration_ns", "sbom", "prev_hash", "hash"},
		{"1", "2026-03-01T12:00:00Z", "fetch", "'" + hostile[0], "'" + hostile[1], "'" + hostile[2], "'" + hostile[3],
			"'" + hostile[4], "'\r" + hostile[5][1:], hostile[6], `["=1"]`, "ok", "5", "1000000000", "", "", e.Hash},
	}
	// encoding/csv reads \r\n inside a quoted field as \n; compare
	// without carriage returns.
	norm := func(rows [][]string) [][]string {
		for _, r := range rows {
			for i := range r {
				r[i] = strings.ReplaceAll(r[i], "\r", "")
			}
		}
		return rows
	}
	if diff := cmp.Diff(norm(want), norm(rows)); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}
	for _, row := range rows[1:] {
		for i, c := range row {
			if c != "" && strings.ContainsRune("=+-@\t", rune(c[0])) {
				t.Errorf("column %s starts with %q: a spreadsheet would run it", rows[0][i], c[:1])
			}
		}
	}
}

func TestExportJSONL(t *testing.T) {
	s := openSQLite(t)
	e := &store.AuditEvent{Time: t0, Type: store.AuditFetch, ClientIP: "10.0.0.1", UserAgent: "<script>\u2028",
		Module: "example.com/m", Version: "v1.0.0", Kind: "zip", Decision: store.DecisionBlocked,
		Reasons: []string{"GO-2026-0001"}, Source: "cache", Bytes: 7, Duration: time.Millisecond, SBOM: "sb"}
	if err := s.AppendAudit(context.Background(), []*store.AuditEvent{e, {Time: t0, Type: store.AuditAdmin}}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := audit.Export(context.Background(), s, store.AuditQuery{}, audit.JSONL, &buf)
	if err != nil || n != 2 {
		t.Fatalf("Export = %d, %v", n, err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	wantFirst := `{"seq":1,"time":"2026-03-01T12:00:00Z","type":"fetch","client_token":"","client_ip":"10.0.0.1",` +
		`"user_agent":"<script>\u2028","module":"example.com/m","version":"v1.0.0","kind":"zip","decision":"blocked",` +
		`"reasons":["GO-2026-0001"],"source":"cache","bytes":7,"duration_ns":1000000,"sbom":"sb","prev_hash":"","hash":"` + e.Hash + `"}`
	if diff := cmp.Diff(wantFirst, lines[0]); diff != "" {
		t.Errorf("first line (-want +got):\n%s", diff)
	}
	var r audit.Record
	if err := json.Unmarshal([]byte(lines[1]), &r); err != nil || r.Reasons == nil || r.Seq != 2 {
		t.Errorf("second line %s: %+v, %v; want reasons [] and seq 2", lines[1], r, err)
	}
}

func TestExportHandler(t *testing.T) {
	s := openSQLite(t)
	day := 24 * time.Hour
	events := []*store.AuditEvent{
		{Time: t0, Type: store.AuditFetch, ClientToken: "ci", Module: "example.com/a", Version: "v1.0.0", Decision: store.DecisionServed},
		{Time: t0.Add(day), Type: store.AuditFetch, ClientIP: "10.1.1.1", Module: "example.com/a", Version: "v1.1.0", Decision: store.DecisionBlocked},
		{Time: t0.Add(2 * day), Type: store.AuditFetch, ClientIP: "10.1.1.1", Module: "example.com/b", Version: "v1.0.0", Decision: store.DecisionServed},
	}
	if err := s.AppendAudit(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(audit.ExportHandler(s, nil))
	defer srv.Close()
	tests := []struct {
		name, query string
		code        int
		ctype       string
		seqs        []int64
	}{
		{"all", "", 200, "application/x-ndjson", []int64{1, 2, 3}},
		{"module", "module=example.com/a", 200, "application/x-ndjson", []int64{1, 2}},
		{"module and version", "module=example.com/a&version=v1.1.0", 200, "application/x-ndjson", []int64{2}},
		{"client token", "client=ci", 200, "application/x-ndjson", []int64{1}},
		{"client ip", "client=10.1.1.1", 200, "application/x-ndjson", []int64{2, 3}},
		{"decision", "decision=blocked", 200, "application/x-ndjson", []int64{2}},
		{"since date", "since=2026-03-02", 200, "application/x-ndjson", []int64{2, 3}},
		{"until RFC 3339", "until=2026-03-02T12:00:00Z", 200, "application/x-ndjson", []int64{1}},
		{"after", "after=2", 200, "application/x-ndjson", []int64{3}},
		{"csv", "format=csv&decision=served", 200, "text/csv; charset=utf-8", []int64{1, 3}},
		{"unknown parameter", "modul=x", 400, "text/plain; charset=utf-8", nil},
		{"bad time", "since=yesterday", 400, "text/plain; charset=utf-8", nil},
		{"bad format", "format=xml", 400, "text/plain; charset=utf-8", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code || resp.Header.Get("Content-Type") != tt.ctype {
				t.Fatalf("got %d %s, want %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), tt.code, tt.ctype, body)
			}
			if tt.code != 200 {
				return
			}
			var seqs []int64
			if strings.HasPrefix(tt.ctype, "text/csv") {
				rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows[1:] {
					var n int64
					fmt.Sscan(r[0], &n)
					seqs = append(seqs, n)
				}
			} else {
				sc := bufio.NewScanner(bytes.NewReader(body))
				for sc.Scan() {
					var r audit.Record
					if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
						t.Fatal(err)
					}
					seqs = append(seqs, r.Seq)
				}
			}
			if diff := cmp.Diff(tt.seqs, seqs); diff != "" {
				t.Errorf("exported seqs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExportConstantMemory exports 200,000 records and checks that the heap
// does not grow with them.
func TestExportConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 200,000 records")
	}
	s := openSQLite(t)
	const total, batch = 200000, 10000
	for i := 0; i < total; i += batch {
		events := make([]*store.AuditEvent, batch)
		for j := range events {
			events[j] = &store.AuditEvent{Time: t0.Add(time.Duration(i+j) * time.Second), Type: store.AuditFetch,
				ClientIP: "10.0.0.1", UserAgent: "Go-http-client/1.1", Module: fmt.Sprintf("example.com/m%d", (i+j)%1000),
				Version: "v1.0.0", Kind: "zip", Decision: store.DecisionServed, Source: "cache", Bytes: int64(j)}
		}
		if err := s.AppendAudit(context.Background(), events); err != nil {
			t.Fatal(err)
		}
	}
	for _, format := range []string{audit.JSONL, audit.CSV} {
		t.Run(format, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			cw := &countWriter{}
			peak := &peakHeap{}
			stop := peak.watch()
			n, err := audit.Export(context.Background(), s, store.AuditQuery{}, format, cw)
			stop()
			if err != nil || n != total {
				t.Fatalf("Export = %d, %v", n, err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			growth := int64(peak.max) - int64(before.HeapAlloc)
			t.Logf("%s: %d records, %d MB written; heap before %d KB, peak %d KB (+%d KB), after GC %d KB",
				format, n, cw.n>>20, before.HeapAlloc>>10, peak.max>>10, growth>>10, after.HeapAlloc>>10)
			if growth > 32<<20 {
				t.Errorf("heap grew by %d MB while exporting %d MB: export is not streaming", growth>>20, cw.n>>20)
			}
		})
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// peakHeap samples the live heap while an export runs.
type peakHeap struct{ max uint64 }

func (p *peakHeap) watch() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			p.max = max(p.max, m.HeapAlloc)
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}

func TestClientIP(t *testing.T) {
	trusted, err := audit.ParseTrustedProxies("10.0.0.0/8, 192.168.1.1,fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct", "203.0.113.5:1234", nil, "203.0.113.5"},
		{"untrusted peer's header ignored", "203.0.113.5:1234", []string{"1.2.3.4"}, "203.0.113.5"},
		{"trusted proxy", "10.1.2.3:80", []string{"198.51.100.7"}, "198.51.100.7"},
		{"chain of proxies", "10.1.2.3:80", []string{"198.51.100.7, 192.168.1.1", "10.9.9.9"}, "198.51.100.7"},
		{"spoofed left part ignored", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"garbage stops at the proxy", "10.1.2.3:80", []string{"1.1.1.1, not-an-ip"}, "10.1.2.3"},
		{"all trusted", "10.1.2.3:80", []string{"10.0.0.9"}, "10.0.0.9"},
		{"ipv6 with port", "[fd00::1]:80", []string{"[2001:db8::5]:4444"}, "2001:db8::5"},
		{"mapped v4", "[::ffff:10.0.0.1]:80", []string{"198.51.100.7"}, "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, h := range tt.xff {
				r.Header.Add("X-Forwarded-For", h)
			}
			if got := audit.ClientIP(r, trusted); got != tt.want {
				t.Errorf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := audit.ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Error("ParseTrustedProxies accepted a bad prefix")
	}
}
