package upstream

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestRecheck asks only the named upstream, with Disable-Module-Fetch: true,
// never the next entry of the list, and refuses direct.
func TestRecheck(t *testing.T) {
	type hit struct{ path, header string }
	var mu sync.Mutex
	var hits []hit
	serve := func(code int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits = append(hits, hit{r.URL.Path, r.Header.Get("Disable-Module-Fetch")})
			mu.Unlock()
			if code != 200 {
				http.Error(w, "gone", code)
				return
			}
			io.WriteString(w, `{"Version":"v1.0.0"}`)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	gone, ok := serve(http.StatusGone), serve(http.StatusOK)
	r := newTestRouter(t, Options{Public: gone.URL + "," + ok.URL + ",direct", WorkDir: t.TempDir()})
	req := Request{Path: "example.com/m", Version: "v1.0.0", Kind: Info}

	_, err := r.Recheck(t.Context(), gone.URL, req)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusGone {
		t.Fatalf("Recheck of the upstream that says 410: err = %v, want its 410", err)
	}
	resp, err := r.Recheck(t.Context(), ok.URL, req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	want := []hit{{"/example.com/m/@v/v1.0.0.info", "true"}, {"/example.com/m/@v/v1.0.0.info", "true"}}
	if len(hits) != 2 || hits[0] != want[0] || hits[1] != want[1] {
		t.Errorf("requests = %+v, want %+v (one to each, never falling through)", hits, want)
	}
	mu.Unlock()
	for _, src := range []string{"direct", "https://elsewhere.example"} {
		if _, err := r.Recheck(t.Context(), src, req); !errors.Is(err, ErrNoRecheck) {
			t.Errorf("Recheck(%q): err = %v, want ErrNoRecheck", src, err)
		}
	}
	// Fetch sends no such header.
	if resp, err := r.Fetch(t.Context(), Request{Path: "example.com/m", Version: "v1.0.0", Kind: Info}); err == nil {
		resp.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range hits[2:] {
		if h.header != "" {
			t.Errorf("Fetch sent Disable-Module-Fetch: %q", h.header)
		}
	}
}
