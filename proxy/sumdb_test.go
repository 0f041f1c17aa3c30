package proxy_test

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/proxy/verify"
)

// sumdbFront forwards everything to db and counts what it forwarded.
func sumdbFront(t *testing.T, db *testkit.SumDB) (*testkit.Upstream, *atomic.Int32) {
	target, _ := url.Parse(db.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var n atomic.Int32
	up := testkit.NewUpstream(t)
	up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		n.Add(1)
		rp.ServeHTTP(w, r)
		return true
	}
	return up, &n
}

// TestSumDBInvalidPathsAre400 checks that a /sumdb/ path the checksum database
// protocol does not have is refused with 400 and a message, never sent upstream.
func TestSumDBInvalidPathsAre400(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0"))
	db := testkit.NewSumDB(t, "sum.test.example", b)
	front, forwarded := sumdbFront(t, db)
	h := newHarness(t, []*testkit.Built{b}, func(po *proxy.Options, uo *upstream.Options) {
		po.SumDB = proxy.SumDB{Name: db.Name, URL: front.URL}
	})
	for _, tc := range []struct{ path, want string }{
		{"lookup/example.com/m@latest", "invalid checksum database lookup"},
		{"lookup/example.com/m", "invalid checksum database lookup"},
		{"lookup/example.com/m@v1.0", "invalid checksum database lookup"},
		{"lookup/example.com/m@v01.0.0", "invalid checksum database lookup"},
		{"lookup/example.com/m@v1.0.0+build", "invalid checksum database lookup"},
		{"lookup/example.com/m@v1.0.0/go.mod", "invalid checksum database lookup"},
		{"lookup/example.com/m@v1.0.0-pre/x", "invalid checksum database lookup"},
		{"lookup/Example.com/m@v1.0.0", "invalid checksum database lookup"},
		{"lookup/example.com/m/v2@v1.0.0", "invalid checksum database lookup"},
		{"lookup/../../admin@v1.0.0", "invalid checksum database lookup"},
		{"lookup/example.com/m@v1.0.0@v1.0.0", "invalid checksum database lookup"},
		{"tile/8/0/x", "invalid checksum database tile path"},
		{"tile/8/0/../../../etc/passwd", "invalid checksum database tile path"},
		{"tile/", "invalid checksum database tile path"},
		{"latest/x", "unknown checksum database endpoint"},
		{"Latest", "unknown checksum database endpoint"},
		{"supported/x", "unknown checksum database endpoint"},
		{"lookup", "unknown checksum database endpoint"},
		{"", "unknown checksum database endpoint"},
		{"admin", "unknown checksum database endpoint"},
	} {
		r := h.get("/sumdb/sum.test.example/" + tc.path)
		if r.code != http.StatusBadRequest || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s = %d %q, want 400 saying %q", tc.path, r.code, r.body, tc.want)
		}
	}
	if n := forwarded.Load(); n != 0 {
		t.Errorf("%d invalid requests were sent to the checksum database", n)
	}
	// Valid ones still pass, +incompatible and pseudo-versions included.
	if r := h.get("/sumdb/sum.test.example/lookup/example.com/m@v1.0.0"); r.code != 200 {
		t.Errorf("valid lookup = %d %q", r.code, r.body)
	}
	for _, p := range []string{"lookup/example.com/m@v2.0.0+incompatible", "lookup/example.com/m@v0.0.0-20200101000000-abcdefabcdef"} {
		if r := h.get("/sumdb/sum.test.example/" + p); r.code != http.StatusNotFound {
			t.Errorf("%s (valid, unknown to the database) = %d %q, want 404 from the database", p, r.code, r.body)
		}
	}
}

// TestSumDBPassThroughChain checks that clients' /sumdb/ requests reach the
// database as the go command would: past a first upstream that serves no
// checksum database (404 on supported), through the next one that does.
func TestSumDBPassThroughChain(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0"))
	db := testkit.NewSumDB(t, "sum.test.example", b)
	first := testkit.NewUpstream(t, b) // a module proxy without /sumdb/
	second, forwarded := sumdbFront(t, db)
	second.Hook = func(next func(http.ResponseWriter, *http.Request) bool) func(http.ResponseWriter, *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			rest, ok := strings.CutPrefix(r.URL.Path, "/sumdb/"+db.Name)
			if !ok {
				return false
			}
			if rest == "/supported" {
				return true // 200
			}
			r.URL.Path = rest
			return next(w, r)
		}
	}(second.Hook)
	entries, err := upstream.ParseList(first.URL + "," + second.URL)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := verify.NewRemote(verify.RemoteOptions{SumDB: verify.SumDB{Name: db.Name, Key: db.Key}, Proxies: entries})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, []*testkit.Built{b}, func(po *proxy.Options, uo *upstream.Options) {
		po.SumDB = proxy.SumDB{Name: db.Name, Remote: remote}
	})
	if r := h.get("/sumdb/sum.test.example/lookup/example.com/m@v1.0.0"); r.code != 200 || !strings.Contains(string(r.body), b.Hash) {
		t.Fatalf("lookup = %d %q", r.code, r.body)
	}
	if r := h.get("/sumdb/sum.test.example/latest"); r.code != 200 {
		t.Errorf("latest = %d %q", r.code, r.body)
	}
	if first.Requests("/sumdb/sum.test.example/supported") != 1 || first.Requests("/sumdb/sum.test.example/latest") != 0 {
		t.Errorf("the first upstream was asked for more than /supported")
	}
	if forwarded.Load() != 2 {
		t.Errorf("the second upstream forwarded %d requests to the database, want 2", forwarded.Load())
	}
}

// TestSumDBBadPathAdviceFits checks that the advice of a 400 survives a long
// hostile path within what the go command shows.
func TestSumDBBadPathAdviceFits(t *testing.T) {
	db := testkit.NewSumDB(t, "sum.test.example")
	h := newHarness(t, nil, func(po *proxy.Options, uo *upstream.Options) {
		po.SumDB = proxy.SumDB{Name: db.Name, URL: db.URL}
	})
	r := h.get("/sumdb/sum.test.example/lookup/" + strings.Repeat("a/", 2000) + "m@latest")
	if r.code != http.StatusBadRequest || len(r.body) > 648 || !strings.Contains(string(r.body), "Want lookup/<module>@<version>") {
		t.Errorf("long bad lookup = %d, %d bytes %q; want 400 with the advice within 648 bytes", r.code, len(r.body), r.body)
	}
}
