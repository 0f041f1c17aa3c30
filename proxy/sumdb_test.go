package proxy_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb"

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

// TestSumDBLookupOverlapsFetch checks that the checksum database is asked
// while the upstream is still answering the .mod and .zip, not after: the
// upstream holds its answer until the lookup has reached the database.
// (Before, the lookup followed the download, so the upstream waited in vain.)
func TestSumDBLookupOverlapsFetch(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0"))
	db := testkit.NewSumDB(t, "sum.test.example", b)
	front, _ := sumdbFront(t, db)
	looked := make(chan struct{})
	var once sync.Once
	next := front.Hook
	front.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/lookup/") {
			once.Do(func() { close(looked) })
		}
		return next(w, r)
	}
	var early atomic.Int32
	h := newHarness(t, []*testkit.Built{b}, func(po *proxy.Options, uo *upstream.Options) {
		v, err := verify.New(verify.Options{Store: po.Store.(verify.Storage), SumDB: verify.SumDB{Name: db.Name, Key: db.Key}, URL: front.URL})
		if err != nil {
			t.Fatal(err)
		}
		po.Verifier = v
	})
	h.up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".mod") {
			select {
			case <-looked:
				early.Add(1)
			case <-time.After(4 * time.Second): // only when the lookup never starts first (the upstream times out at 5s)
			}
		}
		return false
	}
	if r := h.get("/example.com/m/@v/v1.0.0.mod"); r.code != 200 {
		t.Fatalf(".mod = %d %q", r.code, r.body)
	}
	if early.Load() != 1 {
		t.Errorf("the upstream answered the .mod before the checksum database was asked: the lookup did not overlap the fetch")
	}
	if r := h.get("/example.com/m/@v/v1.0.0.zip"); r.code != 200 {
		t.Fatalf(".zip = %d %q", r.code, r.body)
	}
	if n := db.Lookups("example.com/m", "v1.0.0"); n != 1 {
		t.Errorf("the database was asked %d times for the record, want once for .mod and .zip", n)
	}
}

// TestSumDBPassThroughAnswersFromVerified checks that the go command's own
// checksum-database requests, which follow modgate's lookup of the same
// version, are answered from what modgate fetched and verified, not sent to
// the database again; and that the answers verify in the sumdb client the go
// command uses (lookup, inclusion proof, tiles).
func TestSumDBPassThroughAnswersFromVerified(t *testing.T) {
	var built []*testkit.Built
	for _, v := range []string{"v1.0.0", "v1.1.0", "v1.2.0"} {
		built = append(built, testkit.Build(t, mod("example.com/m", v)))
	}
	db := testkit.NewSumDB(t, "sum.test.example", built...)
	front, forwarded := sumdbFront(t, db)
	h := newHarness(t, built, func(po *proxy.Options, uo *upstream.Options) {
		v, err := verify.New(verify.Options{Store: po.Store.(verify.Storage), SumDB: verify.SumDB{Name: db.Name, Key: db.Key}, URL: front.URL})
		if err != nil {
			t.Fatal(err)
		}
		po.Verifier = v
		po.SumDB = proxy.SumDB{Name: db.Name, URL: front.URL}
	})
	for _, b := range built {
		if r := h.get("/example.com/m/@v/" + b.Version + ".mod"); r.code != 200 {
			t.Fatalf("%s.mod = %d %q", b.Version, r.code, r.body)
		}
	}
	before := forwarded.Load()
	client := sumdb.NewClient(&clientOps{t: t, base: h.srv.URL + "/sumdb/" + db.Name, key: db.Key})
	for _, b := range built {
		lines, err := client.Lookup(b.Path, b.Version+"/go.mod")
		if err != nil {
			t.Fatalf("go command's lookup of %s@%s through modgate: %v", b.Path, b.Version, err)
		}
		if want := b.Path + " " + b.Version + "/go.mod " + b.ModSum; len(lines) != 1 || lines[0] != want {
			t.Errorf("lookup = %q, want %q", lines, want)
		}
	}
	if n := forwarded.Load() - before; n != 0 {
		t.Errorf("%d of the client's checksum-database requests went to the database; want all answered from modgate's verified cache", n)
	}
	// A lookup modgate never made still goes through.
	other := testkit.Build(t, mod("example.com/other", "v1.0.0"))
	db.Add(other)
	if _, err := client.Lookup(other.Path, other.Version); err != nil {
		t.Fatalf("lookup of a version modgate never fetched: %v", err)
	}
	if forwarded.Load() == before {
		t.Errorf("a lookup modgate never made was answered without the database")
	}
}

// clientOps is a sumdb.ClientOps that reads a database through a proxy's
// /sumdb/<name>/, as the go command does, and keeps nothing.
type clientOps struct {
	t         *testing.T
	base, key string
	mu        sync.Mutex
	config    map[string][]byte
}

func (o *clientOps) ReadRemote(path string) ([]byte, error) {
	resp, err := http.Get(o.base + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s %q", path, resp.Status, data)
	}
	return data, nil
}

func (o *clientOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.key), nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.config[file], nil
}

func (o *clientOps) WriteConfig(file string, old, new []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !bytes.Equal(o.config[file], old) {
		return sumdb.ErrWriteConflict
	}
	if o.config == nil {
		o.config = map[string][]byte{}
	}
	o.config[file] = new
	return nil
}

func (o *clientOps) ReadCache(file string) ([]byte, error) { return nil, fs.ErrNotExist }
func (o *clientOps) WriteCache(file string, data []byte)   {}
func (o *clientOps) Log(msg string)                        { o.t.Log(msg) }
func (o *clientOps) SecurityError(msg string)              { o.t.Errorf("security error: %s", msg) }
