package verify_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/proxy/verify"
)

// hits counts requests by URL path.
type hits struct {
	mu sync.Mutex
	m  map[string]int
}

func (h *hits) add(p string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]int{}
	}
	h.m[p]++
}

// count returns the requests whose path contains sub.
func (h *hits) count(sub string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for p, c := range h.m {
		if strings.Contains(p, sub) {
			n += c
		}
	}
	return n
}

// directDB is a real checksum database reachable the way the go command
// reaches a database directly: https://<name>, its name being its 127.0.0.1
// address. Client trusts its certificate.
type directDB struct {
	*testkit.SumDB
	Client *http.Client
	hits   hits
}

func newDirectDB(t *testing.T, mods ...*testkit.Built) *directDB {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey := testkit.NewSumDBKey(t, ln.Addr().String())
	d := &directDB{SumDB: testkit.NewSumDBSigned(t, skey, vkey, mods...)}
	target, _ := url.Parse(d.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.hits.add(r.URL.Path)
		rp.ServeHTTP(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	d.Client = srv.Client()
	return d
}

// sumdbProxy is an upstream module proxy on 127.0.0.1 that serves the
// database at /sumdb/<name>/ when asked to (else 404, as a proxy that does not
// proxy the database), or answers 503 there while broken.
type sumdbProxy struct {
	*testkit.Upstream
	hits   hits
	serves atomic.Bool
	broken atomic.Bool
}

func newSumDBProxy(t *testing.T, db *testkit.SumDB, serves bool, mods ...*testkit.Built) *sumdbProxy {
	p := &sumdbProxy{Upstream: testkit.NewUpstream(t, mods...)}
	p.serves.Store(serves)
	target, _ := url.Parse(db.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	prefix := "/sumdb/" + db.Name
	p.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		rest, ok := strings.CutPrefix(r.URL.Path, prefix+"/")
		if !ok {
			return false
		}
		p.hits.add(r.URL.Path)
		switch {
		case !p.serves.Load():
			http.NotFound(w, r)
		case p.broken.Load():
			http.Error(w, "broken", http.StatusServiceUnavailable)
		case rest == "supported":
			w.WriteHeader(http.StatusOK)
		default:
			r.URL.Path = "/" + rest
			rp.ServeHTTP(w, r)
		}
		return true
	}
	return p
}

// downURL is an address nothing listens on.
func downURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func remoteVerifier(t *testing.T, db *directDB, list string, now func() time.Time) *verify.Verifier {
	t.Helper()
	entries, err := upstream.ParseList(list)
	if err != nil {
		t.Fatal(err)
	}
	sdb := verify.SumDB{Name: db.Name, Key: db.Key}
	r, err := verify.NewRemote(verify.RemoteOptions{SumDB: sdb, Proxies: entries, Client: db.Client, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.Options{Store: openStore(t), SumDB: sdb, Remote: r})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRemoteChain checks where the verifier reaches the checksum database for
// upstream lists in GOPROXY syntax: as the go command, the first proxy whose
// /sumdb/<name>/supported answers 200, walking on after 404/410 (',') or any
// error ('|'), else the database itself.
func TestRemoteChain(t *testing.T) {
	tests := []struct {
		name  string
		list  string // A, B: the proxies; F: a file:// proxy without a database
		a, b  string // "serves", "none" (404 on supported), "down"
		via   string // "A", "B", "direct", or "" for unreachable
		probe string // the proxy asked /supported but not used, if any
	}{
		{name: "A|B, A down", list: "A|B", a: "down", b: "serves", via: "B"},
		{name: "A,B, A serves no database", list: "A,B", a: "none", b: "serves", via: "B", probe: "A"},
		{name: "A|B, A serves no database", list: "A|B", a: "none", b: "serves", via: "B", probe: "A"},
		{name: "A,B, neither serves it", list: "A,B", a: "none", b: "none", via: "direct", probe: "A"},
		{name: "A|B, A down, B serves no database", list: "A|B", a: "down", b: "none", via: "direct", probe: "B"},
		{name: "A,direct, A serves no database", list: "A,direct", a: "none", via: "direct", probe: "A"},
		{name: "A,off", list: "A,off", a: "none", via: "direct", probe: "A"},
		{name: "file proxy without a database, then B", list: "F,B", b: "serves", via: "B"},
		{name: "A,B, both serve it", list: "A,B", a: "serves", b: "serves", via: "A"},
		{name: "A,B, A down: unavailable, as GOPROXY's ','", list: "A,B", a: "down", b: "serves", via: ""},
		{name: "direct", list: "direct", via: "direct"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := built(t, "example.com/m", "v1.0.0", "good")
			db := newDirectDB(t, good)
			proxies := map[string]*sumdbProxy{}
			list := tt.list
			for _, n := range []string{"A", "B"} {
				mode := map[string]string{"A": tt.a, "B": tt.b}[n]
				switch mode {
				case "down":
					list = strings.Replace(list, n, downURL(t), 1)
				case "serves", "none":
					p := newSumDBProxy(t, db.SumDB, mode == "serves", good)
					proxies[n] = p
					list = strings.Replace(list, n, p.URL, 1)
				}
			}
			if strings.Contains(list, "F") {
				dir, err := os.MkdirTemp("", "fileproxy") // t.TempDir() would hold the test's name, commas included
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				list = strings.Replace(list, "F", "file://"+dir, 1)
			}
			v := remoteVerifier(t, db, list, nil)
			ctx := context.Background()
			for _, a := range []verify.Artifact{zipOf(good), modOf(good)} {
				res, err := v.Check(ctx, a)
				if tt.via == "" {
					var uv *verify.UnverifiedError
					if !errors.As(err, &uv) || uv.Reason != verify.Unreachable {
						t.Fatalf("Check(.%s) = %+v, %v; want Unreachable", a.Kind, res, err)
					}
					continue
				}
				if err != nil || res.Source != "sumdb:"+db.Name {
					t.Fatalf("Check(.%s) = %+v, %v; want verified by %s", a.Kind, res, err, db.Name)
				}
			}
			lookups := map[string]int{"direct": db.hits.count("/lookup/")}
			for n, p := range proxies {
				lookups[n] = p.hits.count("/lookup/")
				if n == tt.probe && p.hits.count("/supported") != 1 {
					t.Errorf("%s was asked /supported %d times, want once", n, p.hits.count("/supported"))
				}
			}
			for n, c := range lookups {
				if (n == tt.via) != (c > 0) {
					t.Errorf("lookups: %v; want them only through %q", lookups, tt.via)
					break
				}
			}
			if tt.via == "" && proxies["B"] != nil && proxies["B"].hits.count("/") != 0 {
				t.Errorf("B was asked for the database after A failed under ','")
			}
		})
	}
}

// TestRemoteFailsOver checks that a proxy which served the database and then
// fails is walked around where '|' allows (for the request that saw it fail
// and later ones), not where ',' forbids, and is asked again later.
func TestRemoteFailsOver(t *testing.T) {
	m1 := built(t, "example.com/m1", "v1.0.0", "1")
	m2 := built(t, "example.com/m2", "v1.0.0", "2")
	m3 := built(t, "example.com/m3", "v1.0.0", "3")
	db := newDirectDB(t, m1, m2, m3)
	ctx := context.Background()

	t.Run("pipe", func(t *testing.T) {
		a := newSumDBProxy(t, db.SumDB, true)
		b := newSumDBProxy(t, db.SumDB, true)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		v := remoteVerifier(t, db, a.URL+"|"+b.URL, clock)
		if _, err := v.Check(ctx, zipOf(m1)); err != nil || a.hits.count("/lookup/") == 0 {
			t.Fatalf("through A: %v (A saw %d lookups)", err, a.hits.count("/lookup/"))
		}
		a.broken.Store(true)
		if _, err := v.Check(ctx, zipOf(m2)); err != nil {
			t.Fatalf("A broken, B serves: %v", err)
		}
		if b.hits.count("/lookup/example.com/m2@") == 0 {
			t.Errorf("B was not asked after A failed")
		}
		// A is left alone for a while, then asked again.
		before := a.hits.count("/")
		if _, err := v.Check(ctx, modOf(m2)); err != nil || a.hits.count("/") != before {
			t.Errorf("right after A failed: %v, A asked %d more times", err, a.hits.count("/")-before)
		}
		a.broken.Store(false)
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
		if _, err := v.Check(ctx, zipOf(m3)); err != nil || a.hits.count("/lookup/example.com/m3@") == 0 {
			t.Errorf("after A recovered: %v, A saw %d lookups of m3", err, a.hits.count("/lookup/example.com/m3@"))
		}
	})
	t.Run("comma", func(t *testing.T) {
		a := newSumDBProxy(t, db.SumDB, true)
		b := newSumDBProxy(t, db.SumDB, true)
		v := remoteVerifier(t, db, a.URL+","+b.URL, nil)
		if _, err := v.Check(ctx, zipOf(m1)); err != nil {
			t.Fatal(err)
		}
		a.broken.Store(true)
		_, err := v.Check(ctx, zipOf(m2))
		var uv *verify.UnverifiedError
		if !errors.As(err, &uv) || uv.Reason != verify.Unreachable || !strings.Contains(err.Error(), "503") {
			t.Errorf("A broken under ',': %v, want Unreachable naming the 503", err)
		}
		if b.hits.count("/") != 0 {
			t.Errorf("B was asked under ','")
		}
		// With nowhere else to go, the next request asks A again at once.
		a.broken.Store(false)
		if _, err := v.Check(ctx, zipOf(m3)); err != nil {
			t.Errorf("A recovered under ',': %v", err)
		}
	})
}

// TestRemoteSupportedIsRemembered checks that /supported is asked once per
// proxy, not per request, and again once its answer is old.
func TestRemoteSupportedIsRemembered(t *testing.T) {
	mods := []*testkit.Built{built(t, "example.com/m1", "v1.0.0", "1"), built(t, "example.com/m2", "v1.0.0", "2"), built(t, "example.com/m3", "v1.0.0", "3")}
	db := newDirectDB(t, mods...)
	a := newSumDBProxy(t, db.SumDB, false)
	b := newSumDBProxy(t, db.SumDB, true)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := remoteVerifier(t, db, a.URL+","+b.URL, func() time.Time { return now })
	ctx := context.Background()
	for _, m := range mods[:2] {
		if _, err := v.Check(ctx, zipOf(m)); err != nil {
			t.Fatal(err)
		}
	}
	if a.hits.count("/supported") != 1 || b.hits.count("/supported") != 1 {
		t.Errorf("/supported asked A %d and B %d times for two lookups, want once each", a.hits.count("/supported"), b.hits.count("/supported"))
	}
	now = now.Add(11 * time.Minute)
	if _, err := v.Check(ctx, zipOf(mods[2])); err != nil {
		t.Fatal(err)
	}
	if a.hits.count("/supported") != 2 {
		t.Errorf("/supported asked A %d times after its answer aged, want 2", a.hits.count("/supported"))
	}
}

// TestRemoteExplicitURL checks that a URL in the GOSUMDB setting is the only
// way to the database, as in the go command.
func TestRemoteExplicitURL(t *testing.T) {
	good := built(t, "example.com/m", "v1.0.0", "good")
	db := testkit.NewSumDB(t, "sum.test", good)
	a := newSumDBProxy(t, db, true)
	entries, _ := upstream.ParseList(a.URL)
	sdb := verify.SumDB{Name: db.Name, Key: db.Key, URL: db.URL}
	r, err := verify.NewRemote(verify.RemoteOptions{SumDB: sdb, Proxies: entries})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.Options{Store: openStore(t), SumDB: sdb, Remote: r})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Check(context.Background(), zipOf(good)); err != nil {
		t.Fatal(err)
	}
	if n := a.hits.count("/"); n != 0 {
		t.Errorf("the proxy was asked %d times despite the explicit URL", n)
	}
}

func TestRemoteRejectsBadNames(t *testing.T) {
	for _, name := range []string{"sum.test/", "sum.test?x", "sum.test#f", "user@sum.test"} {
		if _, err := verify.NewRemote(verify.RemoteOptions{SumDB: verify.SumDB{Name: name}}); err == nil {
			t.Errorf("NewRemote(%q) succeeded", name)
		}
	}
}

// TestRemoteFileProxy checks that a file:// proxy serves the database when it
// holds sumdb/<name>/supported, as the go command reads it, and never a file
// outside that directory.
func TestRemoteFileProxy(t *testing.T) {
	dir, err := os.MkdirTemp("", "fileproxy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sdir := dir + "/sumdb/sum.test"
	os.MkdirAll(sdir, 0o755)
	os.WriteFile(sdir+"/supported", nil, 0o644)
	os.WriteFile(sdir+"/latest", []byte("signed tree head"), 0o644)
	os.WriteFile(dir+"/secret", []byte("outside"), 0o644)
	entries, _ := upstream.ParseList("file://" + dir)
	r, err := verify.NewRemote(verify.RemoteOptions{SumDB: verify.SumDB{Name: "sum.test"}, Proxies: entries})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if data, err := r.Get(ctx, "/latest"); err != nil || string(data) != "signed tree head" {
		t.Errorf("Get(/latest) = %q, %v", data, err)
	}
	if _, err := r.Get(ctx, "/lookup/example.com/m@v1.0.0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get of a missing file: %v, want not found", err)
	}
	if data, err := r.Get(ctx, "/../../secret"); err == nil {
		t.Errorf("Get(/../../secret) = %q, want an error", data)
	}
}

// TestRemoteRefusesRedirectsElsewhere checks that a proxy cannot send modgate
// to another address (an internal service) with a redirect.
func TestRemoteRefusesRedirectsElsewhere(t *testing.T) {
	var internal atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internal.Add(1)
		w.Write([]byte("internal admin page"))
	}))
	t.Cleanup(other.Close)
	p := testkit.NewUpstream(t)
	p.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/supported") {
			return true
		}
		http.Redirect(w, r, other.URL+"/admin", http.StatusFound)
		return true
	}
	entries, _ := upstream.ParseList(p.URL)
	r, err := verify.NewRemote(verify.RemoteOptions{SumDB: verify.SumDB{Name: "sum.test"}, Proxies: entries})
	if err != nil {
		t.Fatal(err)
	}
	data, err := r.Get(context.Background(), "/latest")
	if err == nil || !strings.Contains(err.Error(), "redirect to another host") {
		t.Errorf("Get through a redirecting proxy = %q, %v; want the redirect refused", data, err)
	}
	if internal.Load() != 0 {
		t.Errorf("the redirect target was contacted")
	}
}
