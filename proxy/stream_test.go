package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
)

// bigModule is a module whose zip is far larger than what a stream holds
// back (random bytes do not compress).
func bigModule(t *testing.T, path string, files ...string) *testkit.Built {
	random := make([]byte, 512<<10)
	rand.New(rand.NewSource(int64(len(path)))).Read(random)
	return testkit.Build(t, mod(path, "v1.0.0", append([]string{"data.bin", string(random), "LICENSE", bsd3}, files...)...))
}

// slowZip makes the upstream send the first half of every zip, then wait
// for release (or 4s) before it sends the rest. The flag it returns is set
// when a wait ended without release.
func slowZip(h *harness, built *testkit.Built, release <-chan struct{}) *atomic.Bool {
	heldOut := new(atomic.Bool)
	h.up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".zip") {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(built.Zip)))
		half := len(built.Zip) / 2
		w.Write(built.Zip[:half])
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-time.After(4 * time.Second): // only when the client got nothing meanwhile
			heldOut.Store(true)
		}
		w.Write(built.Zip[half:])
		return true
	}
	return heldOut
}

// getHeld asks for path while slowZip holds the zip's second half, and
// releases it once the client has the first byte. ferr is the first byte's
// read error, err the rest's (a cut response ends with one).
func getHeld(t *testing.T, h *harness, path string, release chan struct{}) (r response, ferr, err error) {
	t.Helper()
	resp, err := http.Get(h.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 1)
	_, ferr = io.ReadFull(resp.Body, first)
	close(release)
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	h.inflight.Wait()
	return response{code: resp.StatusCode, body: append(first, rest...)}, ferr, err
}

// TestZipStreamsWhileDownloading checks that a zip not cached yet reaches
// the client while modgate is still downloading it: the upstream holds back
// the second half of the zip until the client has read the first bytes.
// (Store-and-forward sent nothing before the download had ended.) The
// client still gets the exact zip, which is then cached with its SBOM.
func TestZipStreamsWhileDownloading(t *testing.T) {
	b := bigModule(t, "example.com/big")
	h := newHarness(t, []*testkit.Built{b})
	release := make(chan struct{})
	slowZip(h, b, release)
	start := time.Now()
	resp, err := http.Get(h.srv.URL + "/example.com/big/@v/v1.0.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	early := time.Since(start) < 4*time.Second
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	h.inflight.Wait()
	if !bytes.Equal(append(first, rest...), b.Zip) {
		t.Fatalf("streamed zip differs from upstream's (%d bytes, want %d)", 1+len(rest), len(b.Zip))
	}
	if !early {
		t.Errorf("the first byte of the zip came only after the upstream finished: it was not streamed")
	}
	if resp.Header.Get("Content-Length") != strconv.Itoa(len(b.Zip)) || resp.Header.Get("Content-Type") != "application/zip" {
		t.Errorf("headers = %v", resp.Header)
	}
	if r := h.get("/example.com/big/@v/v1.0.0.zip"); r.code != 200 || !bytes.Equal(r.body, b.Zip) {
		t.Errorf("cached zip = %d, %d bytes", r.code, len(r.body))
	}
	if n := h.up.Requests("/example.com/big/@v/v1.0.0.zip"); n != 1 {
		t.Errorf("upstream asked %d times for the zip, want once", n)
	}
}

// TestStreamedZipMismatchIsCut checks that a zip whose h1: the checksum
// database contradicts is never delivered whole: the response is cut after a
// prefix (the end of the zip, with its directory, is held back), nothing is
// stored, and asking again answers 403 with the mismatch at once.
func TestStreamedZipMismatchIsCut(t *testing.T) {
	good := bigModule(t, "example.com/big")
	evil := bigModule(t, "example.com/big", "evil.go", "package a\n\nfunc init() { panic(1) }\n")
	db := testkit.NewSumDB(t, "sum.test", good)
	log := &auditLog{}
	h := newVerifyHarness(t, db, log, evil)
	m := module.Version{Path: "example.com/big", Version: "v1.0.0"}
	// The upstream holds the zip's second half until the client has its
	// first byte: on a loaded machine the whole download and its checks
	// could otherwise end before the answer starts, and the answer would
	// be the refusal, not a cut stream.
	release := make(chan struct{})
	slowZip(h, evil, release)

	r, ferr, err := getHeld(t, h, "/example.com/big/@v/v1.0.0.zip", release)
	if ferr != nil || err == nil || r.code != 200 || len(r.body) > len(evil.Zip)-proxyHoldback {
		t.Fatalf("tampered zip = %d, %d of %d bytes, %v, %v; want a prefix without the last %d bytes, then a cut",
			r.code, len(r.body), len(evil.Zip), ferr, err, proxyHoldback)
	}
	if !bytes.Equal(r.body, evil.Zip[:len(r.body)]) {
		t.Errorf("the prefix sent is not the upstream's")
	}
	if _, err := h.st.Artifact(context.Background(), m, store.KindZip); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tampered zip stored: %v", err)
	}
	if _, err := h.st.Checksum(context.Background(), m, store.KindZip); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tampered zip's hash pinned: %v", err)
	}
	blobs, _ := filepath.Glob(filepath.Join(filepath.Dir(h.dbPath), "blobs", "??", "*"))
	tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(h.dbPath), "blobs", "tmp", "blob-*"))
	if len(blobs)+len(tmp) != 0 {
		t.Errorf("blobs left: %v %v", blobs, tmp)
	}
	again := h.get("/example.com/big/@v/v1.0.0.zip")
	if again.code != http.StatusForbidden || !strings.Contains(string(again.body), "checksum mismatch") {
		t.Errorf("asking again = %d %q; want 403 with the mismatch", again.code, again.body)
	}
	var blocked int
	for _, e := range log.of(store.AuditFetch) {
		if e.Kind == "zip" && e.Decision == store.DecisionBlocked {
			blocked++
		}
	}
	if blocked != 2 {
		t.Errorf("%d blocked zip fetches audited, want 2 (the cut one and the refusal)", blocked)
	}
}

// proxyHoldback is the end of a zip a stream sends only after every check
// (proxy.streamHoldback).
const proxyHoldback = 64<<10 + 22

// TestStreamedZipBlockedByFactsIsCut checks that the policy decides on the
// facts of the zip (its licenses, known only once it is downloaded) before
// the client gets the end of it: a denied license cuts the streamed response.
func TestStreamedZipBlockedByFactsIsCut(t *testing.T) {
	b := bigModule(t, "example.com/big")
	log := &auditLog{}
	h := newHarness(t, []*testkit.Built{b}, withPolicy(t, "mode: enforce\nlicenses:\n  deny: [BSD-3-Clause]\n", log))
	// The upstream holds the zip's second half until the client has its
	// first byte: else the download and its checks can end before the
	// answer starts (1 run in 5 once the capability pass left the hash),
	// and the answer is the refusal, not a cut stream.
	release := make(chan struct{})
	slowZip(h, b, release)
	r, ferr, err := getHeld(t, h, "/example.com/big/@v/v1.0.0.zip", release)
	if ferr != nil || err == nil || len(r.body) >= len(b.Zip) {
		t.Fatalf("zip with a denied license = %d, %d of %d bytes, %v; want a cut", r.code, len(r.body), len(b.Zip), err)
	}
	again := h.get("/example.com/big/@v/v1.0.0.zip")
	if again.code != http.StatusForbidden || !strings.Contains(string(again.body), "BSD-3-Clause") {
		t.Errorf("asking again = %d %q; want 403 naming the license", again.code, again.body)
	}
}

// TestStreamedZipAuditNamesSBOM checks that the SBOM, made after the answer,
// is still named by the audit record of the streamed fetch.
func TestStreamedZipAuditNamesSBOM(t *testing.T) {
	b := bigModule(t, "example.com/big")
	log := &auditLog{}
	h := newHarness(t, []*testkit.Built{b}, withPolicy(t, "mode: audit\n", log), func(po *proxy.Options, uo *upstream.Options) {
		po.SBOMs = po.Store.(store.SBOMs)
		po.SBOM.Namespace = "https://modgate.test/sbom"
	})
	if r := h.get("/example.com/big/@v/v1.0.0.zip"); r.code != 200 || !bytes.Equal(r.body, b.Zip) {
		t.Fatalf("zip = %d", r.code)
	}
	var ids []string
	for _, e := range log.of(store.AuditFetch) {
		if e.Kind == "zip" {
			ids = append(ids, e.SBOM)
		}
	}
	if len(ids) != 1 || ids[0] == "" {
		t.Errorf("zip fetch records name SBOMs %q; want one id", ids)
	}
}

// heldCapabilities is a store whose PutCapabilities hangs until release is
// closed (an injected hang), recording whether the zip had been answered.
type heldCapabilities struct {
	proxy.Storage
	answered atomic.Bool
	release  chan struct{}
	calls    atomic.Int32
	early    atomic.Int32 // calls made before the answer
}

func (h *heldCapabilities) PutCapabilities(ctx context.Context, f *store.CapabilityFacts) error {
	h.calls.Add(1)
	if !h.answered.Load() {
		h.early.Add(1)
	}
	<-h.release
	return h.Storage.PutCapabilities(ctx, f)
}

// TestStreamedZipCapabilitiesAfterAnswer checks that a streamed zip's answer
// waits for its capability facts only when the policy in force reads them:
// with capabilities off it is answered while they are still being stored,
// and they are stored all the same; with the default policy they are
// stored before the answer.
func TestStreamedZipCapabilitiesAfterAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		before bool
	}{
		{"capabilities off", "capabilities: {in_init: [], binaries: off}\n", false},
		{"default policy", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bigModule(t, "example.com/big")
			held := &heldCapabilities{release: make(chan struct{})}
			var releaseOnce sync.Once
			release := func() { releaseOnce.Do(func() { close(held.release) }) }
			if tc.before {
				release()
			}
			h := newHarness(t, []*testkit.Built{b}, withPolicy(t, tc.policy, nil), func(o *proxy.Options, _ *upstream.Options) {
				held.Storage = o.Store
				o.Store = held
			})
			t.Cleanup(release) // registered after the harness's, so run before them
			// A guard against a hang, not a measure: with the facts
			// before the answer the request would wait for the release.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.URL+"/example.com/big/@v/v1.0.0.zip", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("the zip's answer waited for its capability facts: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !bytes.Equal(body, b.Zip) {
				t.Fatalf("zip = %d bytes, %v; want the upstream's %d", len(body), err, len(b.Zip))
			}
			held.answered.Store(true)
			release()
			h.inflight.Wait()
			h.px.Wait()
			// Off, the answer came while the facts were held (the
			// request ended before the release); on, they were stored
			// before the client had the whole zip.
			if n := held.calls.Load(); n != 1 {
				t.Errorf("capability facts stored %d times, want once", n)
			}
			if tc.before && held.early.Load() != 1 {
				t.Errorf("capability facts stored after the answer; the policy reads them: want them before")
			}
			f, err := h.st.CapabilityFacts(context.Background(), module.Version{Path: "example.com/big", Version: "v1.0.0"})
			if err != nil || f.Failed != "" {
				t.Errorf("capability facts = %+v, %v; want them stored", f, err)
			}
		})
	}
}
