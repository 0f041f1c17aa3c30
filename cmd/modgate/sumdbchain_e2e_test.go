package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy/upstream"
)

// pathCounter counts requests by URL path.
type pathCounter struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *pathCounter) add(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[p]++
}

// count returns the requests whose path contains sub.
func (c *pathCounter) count(sub string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for p, k := range c.m {
		if strings.Contains(p, sub) {
			n += k
		}
	}
	return n
}

// TestEndToEndSumDBChain runs the go command through modgate with upstream
// lists whose first proxy is down or serves no checksum database: the
// database must be reached as the go command reaches it (the next proxy whose
// /sumdb/<name>/supported answers 200, else the database itself at
// https://<name>), so .info, .mod and .zip are all served and verified, never
// refused as unknown to the database because of a proxy that does not serve it.
func TestEndToEndSumDBChain(t *testing.T) {
	mods := map[string]*testkit.Built{}
	for _, p := range []string{"example.com/pipe", "example.com/comma", "example.com/direct"} {
		mods[p] = testkit.Build(t, testkit.Module{Path: p, Version: "v1.0.0", Files: map[string]string{"x.go": "package x\n"}})
	}
	all := []*testkit.Built{mods["example.com/pipe"], mods["example.com/comma"], mods["example.com/direct"]}

	// The checksum database, at https://<name> where its name is its
	// 127.0.0.1 address; modgate trusts its certificate through SSL_CERT_FILE.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey := testkit.NewSumDBKey(t, ln.Addr().String())
	db := testkit.NewSumDBSigned(t, skey, vkey, all...)
	dbURL, _ := url.Parse(db.URL)
	var direct pathCounter
	toDB := httputil.NewSingleHostReverseProxy(dbURL)
	tlsDB := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		direct.add(r.URL.Path)
		toDB.ServeHTTP(w, r)
	}))
	tlsDB.Listener.Close()
	tlsDB.Listener = ln
	tlsDB.StartTLS()
	t.Cleanup(tlsDB.Close)
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsDB.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	// proxy is a module proxy; with sumdb it also serves the database at
	// /sumdb/<name>/ (else 404 there, as a proxy that does not proxy it).
	type proxyUp struct {
		*testkit.Upstream
		sumdb pathCounter
	}
	proxy := func(sumdb bool, mods ...*testkit.Built) *proxyUp {
		p := &proxyUp{Upstream: testkit.NewUpstream(t, mods...)}
		p.Hook = func(w http.ResponseWriter, r *http.Request) bool {
			rest, ok := strings.CutPrefix(r.URL.Path, "/sumdb/"+db.Name+"/")
			if !ok {
				return false
			}
			p.sumdb.add(r.URL.Path)
			switch {
			case !sumdb:
				http.NotFound(w, r)
			case rest == "supported":
			default:
				r.URL.Path = "/" + rest
				toDB.ServeHTTP(w, r)
			}
			return true
		}
		return p
	}
	down := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}

	pipeB := proxy(true, all...)
	commaA, commaB := proxy(false, mods["example.com/comma"]), proxy(true, all...)
	directA, directB := proxy(false, mods["example.com/direct"]), proxy(false, all...)
	for _, tc := range []struct {
		name, list, module string
		via                func() int // lookups where the database must have been reached
		notVia             []*proxyUp // proxies that must not have been asked for lookups
	}{
		{"A|B, A down", down() + "|" + pipeB.URL, "example.com/pipe", func() int { return pipeB.sumdb.count("/lookup/") }, nil},
		{"A,B, A serves no checksum database", commaA.URL + "," + commaB.URL, "example.com/comma", func() int { return commaB.sumdb.count("/lookup/") }, []*proxyUp{commaA}},
		{"A,B, neither serves it: direct", directA.URL + "," + directB.URL, "example.com/direct", func() int { return direct.count("/lookup/example.com/direct@") }, []*proxyUp{directA, directB}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.module == "example.com/direct" && (runtime.GOOS == "darwin" || runtime.GOOS == "windows") {
				t.Skipf("SKIP: modgate trusts the test database's certificate through SSL_CERT_FILE, which %s's certificate verifier ignores", runtime.GOOS)
			}
			data := t.TempDir()
			mg := startModgateEnv(t, []string{"SSL_CERT_FILE=" + certFile}, "--data", data, "--upstream", tc.list, "--sumdb", vkey)
			work := t.TempDir()
			app := filepath.Join(work, "app")
			writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")
			env := testkit.GoEnv(t, filepath.Join(work, "home"), mg.URL, "GOSUMDB="+vkey)
			out := testkit.RunGo(t, app, env, false, "mod", "download", "-json", tc.module+"@v1.0.0")
			var dl struct{ Info, GoMod, Zip, Sum, GoModSum, Error string }
			if err := json.Unmarshal([]byte(out), &dl); err != nil || dl.Error != "" || dl.Info == "" || dl.GoMod == "" || dl.Zip == "" {
				t.Fatalf("go mod download %s: %v\n%s", tc.module, err, out)
			}
			if b := mods[tc.module]; dl.Sum != b.Hash || dl.GoModSum != b.ModSum {
				t.Errorf("go mod download %s: sums %s %s, want %s %s", tc.module, dl.Sum, dl.GoModSum, b.Hash, b.ModSum)
			}
			// modgate verified them itself (not only the go command through it).
			for _, ext := range []string{"info", "mod", "zip"} {
				resp, err := http.Get(mg.URL + "/" + tc.module + "/@v/v1.0.0." + ext)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf(".%s = %d %s", ext, resp.StatusCode, body)
				}
			}
			out, code := runModgate(t, "checksum", "list", tc.module, "--data", data, "--sumdb", vkey)
			if code != 0 || strings.Count(out, "sumdb:"+db.Name) != 2 {
				t.Errorf("checksum list %s: exit %d; want the zip and go.mod hashes vouched for by the database:\n%s", tc.module, code, out)
			}
			if tc.via() == 0 {
				t.Errorf("the checksum database was not reached the way the go command reaches it")
			}
			for _, p := range tc.notVia {
				if n := p.sumdb.count("/lookup/"); n != 0 {
					t.Errorf("a proxy that serves no checksum database got %d lookups", n)
				}
			}
		})
	}

	// A,B with A down: GOPROXY's ',' walks on only after 404/410, so nothing
	// goes to B, for modules and the database alike: every artifact fails
	// the same way, naming the upstream, and is never called unknown.
	t.Run("A,B, A down", func(t *testing.T) {
		mg := startModgateEnv(t, []string{"SSL_CERT_FILE=" + certFile}, "--data", t.TempDir(), "--upstream", down()+","+pipeB.URL, "--sumdb", vkey)
		before := pipeB.TotalRequests()
		for _, ext := range []string{"info", "mod", "zip"} {
			resp, err := http.Get(mg.URL + "/example.com/pipe/@v/v1.0.0." + ext)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway || strings.Contains(string(body), "does not know") {
				t.Errorf(".%s = %d %s; want 502 for the upstream that is down", ext, resp.StatusCode, body)
			}
		}
		if n := pipeB.TotalRequests() - before; n != 0 {
			t.Errorf("B got %d requests behind ','", n)
		}
	})
}

// TestSumDBRedirectPolicy checks that checksum-database requests through an
// upstream proxy follow redirects as module fetches do: to another host only
// when --upstream-redirect-allow lists it.
func TestSumDBRedirectPolicy(t *testing.T) {
	db := testkit.NewSumDB(t, "sum.test.example")
	// A proxy that serves /supported and sends everything else to the
	// database on another port (another host:port).
	p := testkit.NewUpstream(t)
	p.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		rest, ok := strings.CutPrefix(r.URL.Path, "/sumdb/"+db.Name)
		switch {
		case !ok:
			return false
		case rest == "/supported":
		default:
			http.Redirect(w, r, db.URL+rest, http.StatusFound)
		}
		return true
	}
	for _, tc := range []struct {
		allow string
		ok    bool
	}{{"", false}, {"127.0.0.1", true}} {
		up, err := upstream.New(upstream.Options{Public: p.URL, Private: "off", RedirectAllow: tc.allow})
		if err != nil {
			t.Fatal(err)
		}
		pass, err := sumDBPassThrough(db.Key, up, 0, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		data, err := pass.Remote.Get(context.Background(), "/latest")
		if tc.ok != (err == nil) || (err == nil && !strings.Contains(string(data), db.Name)) {
			t.Errorf("--upstream-redirect-allow %q: /latest = %q, %v; want success %v", tc.allow, data, err, tc.ok)
		}
	}
}
