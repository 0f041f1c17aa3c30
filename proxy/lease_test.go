package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
)

// TestMissingVersionAskedOnce sends 1000 concurrent requests (over at most 64
// connections) for a version upstream does not have: upstream is asked once,
// and every client gets the same 404. Before misses were remembered, requests
// arriving after the first fetch ended asked again (387 upstream 404s for
// 1000 requests).
func TestMissingVersionAskedOnce(t *testing.T) {
	b := testkit.Build(t, testkit.Module{Path: "example.com/m", Version: "v1.0.0"})
	h := newHarness(t, []*testkit.Built{b})
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	const n = 1000
	var wg sync.WaitGroup
	var mu sync.Mutex
	bodies := map[string]int{}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(h.srv.URL + "/example.com/m/@v/v1.9.9.info")
			key := ""
			if err != nil {
				key = "error: " + err.Error()
			} else {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				key = resp.Status + "\n" + string(body)
			}
			mu.Lock()
			bodies[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got := h.up.Requests("/example.com/m/@v/v1.9.9.info"); got != 1 {
		t.Errorf("upstream asked %d times for a missing version by %d concurrent requests, want 1", got, n)
	}
	if len(bodies) != 1 {
		t.Errorf("clients got %d different answers, want 1: %v", len(bodies), bodies)
	}
	for k := range bodies {
		if !bytes.HasPrefix([]byte(k), []byte("404 ")) {
			t.Errorf("answer %q, want 404", k)
		}
	}
	// Once the miss is no longer remembered, upstream is asked again.
	h2 := newHarness(t, []*testkit.Built{b}, func(o *proxy.Options, _ *upstream.Options) { o.MissingTTL = -1 })
	for range 3 {
		h2.get("/example.com/m/@v/v1.9.9.info")
	}
	if got := h2.up.Requests("/example.com/m/@v/v1.9.9.info"); got != 3 {
		t.Errorf("with MissingTTL < 0, upstream asked %d times for 3 requests in turn, want 3", got)
	}
}

// TestMissingVersionExpires checks that a remembered miss ends after
// MissingTTL: a version published meanwhile is then fetched.
func TestMissingVersionExpires(t *testing.T) {
	b := testkit.Build(t, testkit.Module{Path: "example.com/m", Version: "v1.0.0"})
	h := newHarness(t, nil, func(o *proxy.Options, _ *upstream.Options) { o.MissingTTL = 200 * time.Millisecond })
	if r := h.get("/example.com/m/@v/v1.0.0.info"); r.code != 404 {
		t.Fatalf("before publication: %d, want 404", r.code)
	}
	h.up.Add(b)
	if r := h.get("/example.com/m/@v/v1.0.0.info"); r.code != 404 {
		t.Fatalf("while the miss is remembered: %d, want 404", r.code)
	}
	h.advance(time.Second)
	time.Sleep(200 * time.Millisecond) // the store's record expires on the real clock
	if r := h.get("/example.com/m/@v/v1.0.0.info"); r.code != 200 {
		t.Fatalf("after MissingTTL: %d %s, want 200", r.code, r.body)
	}
	if got := h.up.Requests("/example.com/m/@v/v1.0.0.info"); got != 2 {
		t.Errorf("upstream asked %d times, want 2 (once before, once after the miss expired)", got)
	}
}
