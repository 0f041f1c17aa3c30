package proxy_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/proxy/verify"
)

// harness is a modgate proxy on 127.0.0.1 in front of a test upstream, with a
// real embedded store.
type harness struct {
	t      *testing.T
	up     *testkit.Upstream
	st     store.Store
	dbPath string
	blobs  *blob.Dir
	srv    *httptest.Server
	px     *proxy.Server
	now    time.Time
	mu     sync.Mutex
	// inflight counts requests in the handler.
	inflight sync.WaitGroup
}

type harnessOpt func(*proxy.Options, *upstream.Options)

func newHarness(t *testing.T, mods []*testkit.Built, opts ...harnessOpt) *harness {
	t.Helper()
	return newHarnessAt(t, t.TempDir(), mods, opts...)
}

// newHarnessAt is newHarness with its database and blobs in dir.
func newHarnessAt(t *testing.T, dir string, mods []*testkit.Built, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, up: testkit.NewUpstream(t, mods...), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st, err := sqlite.Open(context.Background(), dir+"/modgate.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.st, h.dbPath = st, dir+"/modgate.db"
	h.blobs, err = blob.Open(dir + "/blobs")
	if err != nil {
		t.Fatal(err)
	}
	uo := upstream.Options{Public: h.up.URL, Timeout: 5 * time.Second, IdleTimeout: 5 * time.Second, WorkDir: dir + "/direct"}
	po := proxy.Options{Store: st, Blobs: h.blobs, ListTTL: time.Minute, Now: h.clock,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, o := range opts {
		o(&po, &uo)
	}
	up, err := upstream.New(uo)
	if err != nil {
		t.Fatal(err)
	}
	po.Upstream = up
	if po.Verifier == nil {
		// No checksum database: every hash is pinned on first use.
		po.Verifier, err = verify.New(verify.Options{Store: st})
		if err != nil {
			t.Fatal(err)
		}
	}
	px, err := proxy.New(po)
	if err != nil {
		t.Fatal(err)
	}
	h.px = px
	// Requests are recorded (audit) after their response is written: get
	// waits for the handler to return, so tests see every record.
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.inflight.Add(1)
		defer h.inflight.Done()
		px.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { h.srv.Close(); px.Wait() })
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

// testWriter sends logs to t.Log, shown only for failing tests (or with -v).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (h *harness) get(path string, hdr ...string) response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	h.inflight.Wait()
	return response{resp.StatusCode, resp.Header, body}
}

// getRaw is get for responses that may be cut: the body read so far and the
// error that ended it.
func (h *harness) getRaw(path string) (response, error) {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + path)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	h.inflight.Wait()
	return response{resp.StatusCode, resp.Header, body}, err
}

func mod(path, version string, files ...string) testkit.Module {
	m := testkit.Module{Path: path, Version: version, Files: map[string]string{"a.go": "package a\n"}}
	for i := 0; i+1 < len(files); i += 2 {
		m.Files[files[i]] = files[i+1]
	}
	return m
}

func TestServesAndCaches(t *testing.T) {
	b := testkit.Build(t, mod("example.com/Upper/Mod", "v1.0.0"))
	h := newHarness(t, []*testkit.Built{b})
	for _, tc := range []struct {
		path, ctype string
		want        []byte
	}{
		{"/example.com/!upper/!mod/@v/v1.0.0.info", "application/json", b.Info},
		{"/example.com/!upper/!mod/@v/v1.0.0.mod", "text/plain; charset=utf-8", b.Mod},
		{"/example.com/!upper/!mod/@v/v1.0.0.zip", "application/zip", b.Zip},
	} {
		first := h.get(tc.path)
		if first.code != 200 || !bytes.Equal(first.body, tc.want) {
			t.Fatalf("GET %s = %d %q", tc.path, first.code, first.body)
		}
		if ct := first.header.Get("Content-Type"); ct != tc.ctype {
			t.Errorf("GET %s Content-Type = %q, want %q", tc.path, ct, tc.ctype)
		}
		etag := first.header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
			t.Errorf("GET %s ETag = %q, want a strong ETag", tc.path, etag)
		}
		second := h.get(tc.path)
		if second.code != 200 || !bytes.Equal(second.body, tc.want) {
			t.Fatalf("second GET %s = %d", tc.path, second.code)
		}
		if n := h.up.Requests(tc.path); n != 1 {
			t.Errorf("upstream saw %d requests for %s, want 1 (cached)", n, tc.path)
		}
		if r := h.get(tc.path, "If-None-Match", etag); r.code != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match = %d, want 304", tc.path, r.code)
		}
	}
	// HEAD gives the size without a body.
	req, _ := http.NewRequest(http.MethodHead, h.srv.URL+"/example.com/!upper/!mod/@v/v1.0.0.zip", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(b.Zip)) {
		t.Errorf("HEAD zip = %d, length %d; want 200, %d", resp.StatusCode, resp.ContentLength, len(b.Zip))
	}
}

func TestNotFoundAndBadRequests(t *testing.T) {
	h := newHarness(t, []*testkit.Built{testkit.Build(t, mod("example.com/m", "v1.0.0"))})
	tests := []struct {
		name, path string
		code       int
	}{
		{"unknown module", "/example.com/nope/@v/v1.0.0.info", 404},
		{"unknown version", "/example.com/m/@v/v1.9.9.zip", 404},
		{"unknown module list", "/example.com/nope/@v/list", 404},
		{"malformed path", "/example.com/UPPER/@v/v1.0.0.zip", 400},
		{"malformed version", "/example.com/m/@v/v1.0.0%0a.zip", 400},
		{"query zip", "/example.com/m/@v/master.zip", 400},
		{"not a protocol path", "/favicon.ico", 404},
		{"other sumdb", "/sumdb/evil.example.com/latest", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.get(tt.path)
			if r.code != tt.code {
				t.Fatalf("GET %s = %d %q, want %d", tt.path, r.code, r.body, tt.code)
			}
			if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("error Content-Type = %q", ct)
			}
			if len(r.body) == 0 || len(r.body) > 648 {
				t.Errorf("error body is %d bytes", len(r.body))
			}
		})
	}
	resp, err := http.Post(h.srv.URL+"/example.com/m/@v/list", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", resp.StatusCode)
	}
}

func TestListAndLatest(t *testing.T) {
	mods := []*testkit.Built{
		testkit.Build(t, mod("example.com/m", "v1.0.0")),
		testkit.Build(t, mod("example.com/m", "v1.1.0-rc.1")),
		testkit.Build(t, mod("example.com/m", "v1.1.0")),
	}
	h := newHarness(t, mods)
	h.up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/example.com/m/@v/list" {
			// A hostile or sloppy upstream: pseudo-versions, garbage, duplicates.
			fmt.Fprint(w, "v1.0.0\nv1.1.0-rc.1\nv0.0.0-20200101000000-abcdefabcdef\nnot-a-version\nv2.0.0\nv1.1.0 2020-01-01T00:00:00Z\nv1.0.0\n<script>\n")
			return true
		}
		return false
	}
	r := h.get("/example.com/m/@v/list")
	if diff := cmp.Diff("v1.0.0\nv1.1.0-rc.1\nv1.1.0\n", string(r.body)); r.code != 200 || diff != "" {
		t.Fatalf("list = %d, mismatch (-want +got):\n%s", r.code, diff)
	}
	r = h.get("/example.com/m/@latest")
	if r.code != 200 || !strings.Contains(string(r.body), `"v1.1.0"`) {
		t.Fatalf("latest = %d %s", r.code, r.body)
	}
	// Within the TTL the cache answers; after it upstream is asked again.
	h.get("/example.com/m/@v/list")
	if n := h.up.Requests("/example.com/m/@v/list"); n != 1 {
		t.Errorf("upstream list requests within TTL = %d, want 1", n)
	}
	h.advance(2 * time.Minute)
	h.get("/example.com/m/@v/list")
	if n := h.up.Requests("/example.com/m/@v/list"); n != 2 {
		t.Errorf("upstream list requests after TTL = %d, want 2", n)
	}
	// Upstream down: the stale list and latest are served.
	h.advance(2 * time.Minute)
	h.up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "boom", 500)
		return true
	}
	if r := h.get("/example.com/m/@v/list"); r.code != 200 || !strings.Contains(string(r.body), "v1.1.0") {
		t.Errorf("stale list = %d %q", r.code, r.body)
	}
	if r := h.get("/example.com/m/@latest"); r.code != 200 {
		t.Errorf("stale latest = %d %q", r.code, r.body)
	}
	// But a module never fetched gets the upstream error.
	if r := h.get("/example.com/other/@v/list"); r.code != http.StatusBadGateway {
		t.Errorf("uncached list with upstream down = %d, want 502", r.code)
	}
}

func TestQueryIsNotCached(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0"))
	h := newHarness(t, []*testkit.Built{b})
	calls := 0
	h.up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/example.com/m/@v/main.info" {
			calls++
			if calls == 1 {
				w.Write([]byte(`{"Version":"v0.0.0-20200101000000-abcdefabcdef","Time":"2020-01-01T00:00:00Z"}`))
			} else {
				w.Write([]byte(`{"Version":"v0.0.0-20210101000000-bcdefabcdefa","Time":"2021-01-01T00:00:00Z"}`))
			}
			return true
		}
		return false
	}
	r1 := h.get("/example.com/m/@v/main.info")
	r2 := h.get("/example.com/m/@v/main.info")
	if r1.code != 200 || r2.code != 200 || !strings.Contains(string(r2.body), "20210101") {
		t.Fatalf("query answers %d %s / %d %s: want the second to follow the branch", r1.code, r1.body, r2.code, r2.body)
	}
	if r := h.get("/example.com/m/@v/main.info", "Disable-Module-Fetch", "true"); r.code != 404 {
		t.Errorf("query with fetch disabled = %d, want 404", r.code)
	}
}

func TestInfoMustNameTheVersionAsked(t *testing.T) {
	h := newHarness(t, nil)
	h.up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		w.Write([]byte(`{"Version":"v1.0.1","Time":"2020-01-01T00:00:00Z"}`))
		return true
	}
	if r := h.get("/example.com/m/@v/v1.0.0.info"); r.code != http.StatusBadGateway {
		t.Fatalf("info naming another version = %d %s, want 502", r.code, r.body)
	}
	if _, err := h.st.Artifact(context.Background(), module.Version{Path: "example.com/m", Version: "v1.0.0"}, store.KindInfo); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("bad .info was stored: %v", err)
	}
}

func TestSyntheticMod(t *testing.T) {
	m := mod("example.com/old", "v2.0.0+incompatible")
	m.NoGoMod, m.NoModFile = true, true
	b := testkit.Build(t, m)
	h := newHarness(t, []*testkit.Built{b})
	r := h.get("/example.com/old/@v/v2.0.0+incompatible.mod")
	if r.code != 200 || string(r.body) != "module example.com/old\n" {
		t.Fatalf("synthetic .mod = %d %q", r.code, r.body)
	}
	if r := h.get("/example.com/old/@v/v9.0.0+incompatible.mod"); r.code != 404 {
		t.Errorf(".mod of a version that does not exist = %d, want 404", r.code)
	}
}

func TestDisableModuleFetch(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0"))
	h := newHarness(t, []*testkit.Built{b})
	for _, p := range []string{"/example.com/m/@v/v1.0.0.zip", "/example.com/m/@v/list", "/example.com/m/@latest"} {
		if r := h.get(p, "Disable-Module-Fetch", "true"); r.code != 404 {
			t.Errorf("uncached %s with fetch disabled = %d, want 404", p, r.code)
		}
		if h.up.Requests(p) != 0 {
			t.Errorf("%s reached upstream with fetch disabled", p)
		}
		h.get(p)
		if r := h.get(p, "Disable-Module-Fetch", "true"); r.code != 200 {
			t.Errorf("cached %s with fetch disabled = %d, want 200", p, r.code)
		}
	}
}

func TestUpstreamFailures(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0", "big.txt", strings.Repeat("x", 100000)))
	tests := []struct {
		name string
		hook func(w http.ResponseWriter, r *http.Request) bool
		code int
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) bool {
			http.Error(w, "internal trouble", 500)
			return true
		}, http.StatusBadGateway},
		{"truncated with length", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Length", fmt.Sprint(len(b.Zip)))
			w.Write(b.Zip[:len(b.Zip)/2])
			return true
		}, http.StatusBadGateway},
		{"truncated chunked", func(w http.ResponseWriter, r *http.Request) bool {
			w.Write(b.Zip[:len(b.Zip)/2])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return true
		}, http.StatusBadGateway},
		{"hangs", func(w http.ResponseWriter, r *http.Request) bool {
			<-r.Context().Done()
			return true
		}, http.StatusGatewayTimeout},
		{"stalls mid-body", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Length", fmt.Sprint(len(b.Zip)))
			w.Write(b.Zip[:100])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return true
		}, http.StatusGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []*testkit.Built{b}, func(po *proxy.Options, uo *upstream.Options) {
				uo.Timeout, uo.IdleTimeout = 300*time.Millisecond, 300*time.Millisecond
			})
			h.up.Hook = tt.hook
			r := h.get("/example.com/m/@v/v1.0.0.zip")
			if r.code != tt.code {
				t.Fatalf("zip = %d %q, want %d", r.code, r.body, tt.code)
			}
			if _, err := h.st.Artifact(context.Background(), module.Version{Path: "example.com/m", Version: "v1.0.0"}, store.KindZip); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("failed zip was stored: %v", err)
			}
			// Once upstream recovers, the next request fetches a good copy.
			h.up.Hook = nil
			if r := h.get("/example.com/m/@v/v1.0.0.zip"); r.code != 200 || !bytes.Equal(r.body, b.Zip) {
				t.Errorf("after recovery: %d", r.code)
			}
		})
	}
}

// hostileZip writes a raw zip that golang.org/x/mod/zip would refuse to create.
func hostileZip(t *testing.T, names ...string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("package x\n"))
	}
	zw.Close()
	return buf.Bytes()
}

func TestHostileZipsAreRefused(t *testing.T) {
	const prefix = "example.com/m@v1.0.0/"
	tests := []struct {
		name string
		zip  []byte
	}{
		{"path traversal", hostileZip(t, prefix+"go.mod", prefix+"../../../etc/passwd")},
		{"duplicate names", hostileZip(t, prefix+"go.mod", prefix+"a.go", prefix+"a.go")},
		{"case-fold collision", hostileZip(t, prefix+"go.mod", prefix+"A.go", prefix+"a.go")},
		{"wrong prefix", hostileZip(t, "example.com/other@v1.0.0/go.mod")},
		{"not a zip", []byte("this is not a zip file at all")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
				w.Write(tt.zip)
				return true
			}
			r := h.get("/example.com/m/@v/v1.0.0.zip")
			if r.code != http.StatusForbidden || !strings.Contains(string(r.body), "invalid module zip") {
				t.Fatalf("hostile zip = %d %q, want 403 invalid module zip", r.code, r.body)
			}
			if _, err := h.st.Artifact(context.Background(), module.Version{Path: "example.com/m", Version: "v1.0.0"}, store.KindZip); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("hostile zip was stored: %v", err)
			}
		})
	}
}

func TestConcurrentMissFetchesOnce(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0", "data.txt", strings.Repeat("modgate ", 50000)))
	h := newHarness(t, []*testkit.Built{b})
	release := make(chan struct{})
	h.up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		<-release // hold the first fetch until every client is waiting
		return false
	}
	const n = 100
	bodies := make([][]byte, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := http.Get(h.srv.URL + "/example.com/m/@v/v1.0.0.zip")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			codes[i] = resp.StatusCode
			bodies[i], _ = io.ReadAll(resp.Body)
		}(i)
	}
	time.Sleep(200 * time.Millisecond) // let the requests arrive; correctness does not depend on it
	close(release)
	wg.Wait()
	if got := h.up.Requests("/example.com/m/@v/v1.0.0.zip"); got != 1 {
		t.Errorf("upstream zip fetches = %d, want 1", got)
	}
	for i := 0; i < n; i++ {
		if codes[i] != 200 || !bytes.Equal(bodies[i], b.Zip) {
			t.Fatalf("client %d: status %d, %d bytes (want %d identical bytes)", i, codes[i], len(bodies[i]), len(b.Zip))
		}
	}
}

func TestSumDBPassThrough(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0"))
	db := testkit.NewSumDB(t, "sum.test.example", b)
	h := newHarness(t, []*testkit.Built{b}, func(po *proxy.Options, uo *upstream.Options) {
		po.SumDB = proxy.SumDB{Name: db.Name, URL: db.URL}
		uo.PrivatePatterns = "corp.example.com"
	})
	if r := h.get("/sumdb/sum.test.example/supported"); r.code != 200 {
		t.Errorf("supported = %d", r.code)
	}
	if r := h.get("/sumdb/sum.golang.org/supported"); r.code != 404 {
		t.Errorf("supported for another database = %d, want 404", r.code)
	}
	r := h.get("/sumdb/sum.test.example/lookup/example.com/m@v1.0.0")
	if r.code != 200 || !strings.Contains(string(r.body), b.Hash) {
		t.Fatalf("lookup = %d %q", r.code, r.body)
	}
	if r := h.get("/sumdb/sum.test.example/latest"); r.code != 200 || !strings.Contains(string(r.body), "sum.test.example") {
		t.Errorf("latest = %d %q", r.code, r.body)
	}
	if r := h.get("/sumdb/sum.test.example/tile/8/0/000.p/1"); r.code != 200 {
		t.Errorf("tile = %d %q", r.code, r.body)
	}
	if _, err := h.st.Tile(context.Background(), "sum.test.example", "tile/8/0/000.p/1"); err != nil {
		t.Errorf("tile not cached: %v", err)
	}
	if r := h.get("/sumdb/sum.test.example/tile/8/0/../../x"); r.code != 400 {
		t.Errorf("bad tile path = %d, want 400", r.code)
	}
	r = h.get("/sumdb/sum.test.example/lookup/corp.example.com/secret@v1.0.0")
	if r.code != http.StatusForbidden || db.Lookups("corp.example.com/secret", "v1.0.0") != 0 {
		t.Errorf("private lookup = %d (database saw %d lookups), want 403 and none", r.code, db.Lookups("corp.example.com/secret", "v1.0.0"))
	}
}

func TestPrivateModulesNeverReachPublicUpstream(t *testing.T) {
	priv := testkit.Build(t, mod("corp.example.com/secret", "v1.0.0"))
	privUp := testkit.NewUpstream(t, priv)
	h := newHarness(t, nil, func(po *proxy.Options, uo *upstream.Options) {
		uo.PrivatePatterns = "corp.example.com"
		uo.Private = privUp.URL
	})
	if r := h.get("/corp.example.com/secret/@v/v1.0.0.zip"); r.code != 200 || !bytes.Equal(r.body, priv.Zip) {
		t.Fatalf("private zip = %d", r.code)
	}
	h.get("/corp.example.com/secret/@v/list")
	h.get("/corp.example.com/other/@v/v1.0.0.info")
	if n := h.up.TotalRequests(); n != 0 {
		t.Errorf("public upstream saw %d requests for private modules", n)
	}
}

func TestEveryModuleRequestIsAudited(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0"))
	log := &auditLog{}
	h := newHarness(t, []*testkit.Built{b}, func(po *proxy.Options, uo *upstream.Options) {
		po.Audit = log
		po.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	h.get("/example.com/m/@v/v1.0.0.zip", "User-Agent", "Go-http-client/1.1", "X-Forwarded-For", "203.0.113.7")
	h.get("/example.com/m/@v/v1.0.0.zip")
	h.get("/example.com/m/@v/list")
	h.get("/example.com/m/@v/v1.9.9.info")
	h.get("/example.com/BAD/@v/v1.0.0.zip")
	type row struct{ Module, Version, Kind, Decision, Source, ClientIP string }
	var got []row
	for _, e := range log.of(store.AuditFetch) {
		source := e.Source
		if strings.HasPrefix(source, "http://127.0.0.1") {
			source = "upstream"
		}
		got = append(got, row{e.Module, e.Version, e.Kind, e.Decision, source, e.ClientIP})
		if e.Time.IsZero() || e.Duration <= 0 {
			t.Errorf("event without time or duration: %+v", e)
		}
	}
	want := []row{
		{"example.com/m", "v1.0.0", "zip", "served", "upstream", "203.0.113.7"},
		{"example.com/m", "v1.0.0", "zip", "served", "cache", "127.0.0.1"},
		{"example.com/m", "", "list", "served", "upstream", "127.0.0.1"},
		{"example.com/m", "v1.9.9", "info", "not_found", "", "127.0.0.1"},
		{"", "", "other", "error", "", "127.0.0.1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
	if ev := log.of(store.AuditFetch); len(ev) > 0 && (ev[0].Bytes != int64(len(b.Zip)) || ev[0].UserAgent != "Go-http-client/1.1") {
		t.Errorf("first event: bytes %d, user agent %q", ev[0].Bytes, ev[0].UserAgent)
	}
}
