package proxy_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
)

func noReadAhead(po *proxy.Options, _ *upstream.Options) { po.NoReadAhead = true }

// modsReadAheadOnly is --read-ahead=mods.
func modsReadAheadOnly(po *proxy.Options, _ *upstream.Options) { po.NoZipReadAhead = true }

// When a client asks for a version's .info (go mod download asks for every
// .info of the build list, then for each .zip), the zip is fetched, checked
// and stored ahead; the client's request for it is then a cache hit. Off, the
// zip is fetched only when asked for.
func TestZipReadAheadOnInfo(t *testing.T) {
	b := testkit.Build(t, mod("example.com/m", "v1.0.0", "data.txt", "modgate\n"))
	const zipPath = "/example.com/m/@v/v1.0.0.zip"
	for _, tc := range []struct {
		name  string
		ahead bool
		opt   harnessOpt
	}{{"all", true, nil}, {"off", false, noReadAhead}, {"mods", false, modsReadAheadOnly}} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			opts := []harnessOpt{func(po *proxy.Options, _ *upstream.Options) { po.Metrics = proxy.NewMetrics(reg) }}
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			h := newHarness(t, []*testkit.Built{b}, opts...)
			if r := h.get("/example.com/m/@v/v1.0.0.info"); r.code != http.StatusOK {
				t.Fatalf(".info = %d %s", r.code, r.body)
			}
			h.px.Wait()
			want := 0
			if tc.ahead {
				want = 1
			}
			if got := h.up.Requests(zipPath); got != want {
				t.Fatalf("zip fetched %d times after the .info alone, want %d", got, want)
			}
			r := h.get(zipPath)
			if r.code != http.StatusOK || !bytes.Equal(r.body, b.Zip) {
				t.Fatalf("zip = %d, %d bytes; want 200 and the module's %d bytes", r.code, len(r.body), len(b.Zip))
			}
			if got := h.up.Requests(zipPath); got != 1 {
				t.Errorf("zip fetched %d times in all, want 1", got)
			}
			for result, want := range map[string]float64{"fetched": float64(want), "used": float64(want), "failed": 0} {
				if got := counterOf(t, reg, "modgate_read_ahead_total", map[string]string{"kind": "zip", "result": result}); got != want {
					t.Errorf("modgate_read_ahead_total{kind=zip,result=%s} = %v, want %v", result, got, want)
				}
			}
			// Asking for the .info again starts nothing more.
			h.get("/example.com/m/@v/v1.0.0.info")
			h.px.Wait()
			if got := h.up.Requests(zipPath); got != 1 {
				t.Errorf("zip fetched %d times after a second .info, want 1", got)
			}
		})
	}
}

// A client that asks for the zip while its read-ahead is downloading joins
// that fetch and streams it: the upstream is asked once, the client has its
// first byte while the upstream still holds the zip's second half, and it
// gets exactly the module's bytes.
func TestZipReadAheadJoinedByClient(t *testing.T) {
	b := bigModule(t, "example.com/big") // far larger than a stream holds back
	const zipPath = "/example.com/big/@v/v1.0.0.zip"
	h := newHarness(t, []*testkit.Built{b})
	release := make(chan struct{})
	heldOut := slowZip(h, b, release)
	if r := h.get("/example.com/big/@v/v1.0.0.info"); r.code != http.StatusOK {
		t.Fatalf(".info = %d %s", r.code, r.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.up.Requests(zipPath) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the zip was not fetched ahead after its .info")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r, ferr, err := getHeld(t, h, zipPath, release)
	if ferr != nil || err != nil || r.code != http.StatusOK || !bytes.Equal(r.body, b.Zip) {
		t.Fatalf("zip = %d, %d bytes, %v, %v; want 200 and the module's %d bytes", r.code, len(r.body), ferr, err, len(b.Zip))
	}
	if heldOut.Load() {
		t.Error("the client's first byte came only after the read-ahead's download ended: it did not stream it")
	}
	if got := h.up.Requests(zipPath); got != 1 {
		t.Errorf("zip fetched %d times, want 1 (the client joins the read-ahead)", got)
	}
}

// A version the policy refuses before download is not read ahead: its .info
// is served (the go command reads it), its zip never leaves the upstream.
func TestZipReadAheadSkipsRefused(t *testing.T) {
	mods := []*testkit.Built{testkit.Build(t, mod("example.com/m", "v1.1.0")), testkit.Build(t, mod("example.com/m", "v1.2.0"))}
	h := newHarness(t, mods, withPolicy(t, "mode: enforce\nmodules:\n  deny: [\"example.com/m@>=v1.2.0\"]\n", &auditLog{}))
	for _, v := range []string{"v1.1.0", "v1.2.0"} {
		if r := h.get("/example.com/m/@v/" + v + ".info"); r.code != http.StatusOK {
			t.Fatalf("%s .info = %d %s", v, r.code, r.body)
		}
	}
	h.px.Wait()
	if got := h.up.Requests("/example.com/m/@v/v1.2.0.zip"); got != 0 {
		t.Errorf("the denied version's zip was fetched ahead (%d requests)", got)
	}
	if got := h.up.Requests("/example.com/m/@v/v1.1.0.zip"); got != 1 {
		t.Errorf("the allowed version's zip was fetched %d times ahead, want 1", got)
	}
	if r := h.get("/example.com/m/@v/v1.2.0.zip"); r.code != http.StatusForbidden {
		t.Errorf("denied zip = %d, want 403", r.code)
	}
}

// A go.mod without a go directive of 1.17 or later is unpruned: the go
// command loads every go.mod it requires next, so modgate fetches them ahead,
// and theirs in turn when they are unpruned too. A pruned go.mod's
// requirements, and those of a go.mod that fails its checksum, are not
// fetched ahead.
func TestModReadAheadUnpruned(t *testing.T) {
	leaf := testkit.Build(t, mod("example.com/leaf", "v0.3.0"))
	// unpruned (go 1.16) and requires leaf: loaded transitively
	mid := testkit.Build(t, mod("example.com/mid", "v1.1.0", "go.mod",
		"module example.com/mid\n\ngo 1.16\n\nrequire example.com/leaf v0.3.0\n"))
	// pruned: its requirement is not loaded by the go command
	pruned := testkit.Build(t, mod("example.com/pruned", "v1.0.0", "go.mod",
		"module example.com/pruned\n\ngo 1.21.0\n\nrequire example.com/skipped v1.0.0\n"))
	skipped := testkit.Build(t, mod("example.com/skipped", "v1.0.0"))
	// no go directive at all: unpruned
	top := testkit.Build(t, mod("example.com/top", "v1.0.0", "go.mod",
		"module example.com/top\n\nrequire (\n\texample.com/mid v1.1.0\n\texample.com/pruned v1.0.0\n)\n"))
	all := []*testkit.Built{leaf, mid, pruned, skipped, top}
	db := testkit.NewSumDB(t, "sum.test", all...)
	for _, tc := range []struct {
		name  string
		ahead bool
		opt   harnessOpt
	}{{"all", true, nil}, {"off", false, noReadAhead}, {"mods", true, modsReadAheadOnly}} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []harnessOpt{withSumDB(t, db, &auditLog{}, "")}
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			h := newHarness(t, all, opts...)
			if r := h.get("/example.com/top/@v/v1.0.0.mod"); r.code != http.StatusOK {
				t.Fatalf("top .mod = %d %s", r.code, r.body)
			}
			h.px.Wait()
			for _, c := range []struct {
				path string
				want int
			}{
				{"/example.com/mid/@v/v1.1.0.mod", 1},
				{"/example.com/pruned/@v/v1.0.0.mod", 1},
				{"/example.com/leaf/@v/v0.3.0.mod", 1},
				{"/example.com/skipped/@v/v1.0.0.mod", 0},
				{"/example.com/mid/@v/v1.1.0.zip", 0},
			} {
				want := c.want
				if !tc.ahead {
					want = 0
				}
				if got := h.up.Requests(c.path); got != want {
					t.Errorf("%s fetched %d times ahead, want %d", c.path, got, want)
				}
			}
			for _, b := range []*testkit.Built{mid, leaf} {
				path := "/" + b.Path + "/@v/" + b.Version + ".mod"
				if r := h.get(path); r.code != http.StatusOK || !bytes.Equal(r.body, b.Mod) {
					t.Fatalf("%s = %d %q", path, r.code, r.body)
				}
				if got := h.up.Requests(path); got != 1 {
					t.Errorf("%s fetched %d times in all, want 1", path, got)
				}
			}
		})
	}
}

// A go.mod that fails its checksum names nothing that is fetched ahead.
func TestModReadAheadNeedsVerifiedMod(t *testing.T) {
	dep := testkit.Build(t, mod("example.com/dep", "v1.0.0"))
	good := testkit.Build(t, mod("example.com/top", "v1.0.0", "go.mod", "module example.com/top\n\ngo 1.16\n"))
	evil := testkit.Build(t, mod("example.com/top", "v1.0.0", "go.mod",
		"module example.com/top\n\ngo 1.16\n\nrequire example.com/dep v1.0.0\n"))
	db := testkit.NewSumDB(t, "sum.test", dep, good)
	h := newHarness(t, []*testkit.Built{dep, evil}, withSumDB(t, db, &auditLog{}, ""))
	if r := h.get("/example.com/top/@v/v1.0.0.mod"); r.code != http.StatusForbidden {
		t.Fatalf("tampered go.mod = %d %s, want 403", r.code, r.body)
	}
	h.px.Wait()
	if got := h.up.Requests("/example.com/dep/@v/v1.0.0.mod"); got != 0 {
		t.Errorf("a requirement of a go.mod that failed its checksum was fetched ahead (%d requests)", got)
	}
}
