package testkit

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// Switch is a reverse proxy on 127.0.0.1 whose target can change while it runs
// (503 while it has none): a checksum database that goes away, comes back, or
// is replaced by a forked one.
type Switch struct {
	URL    string
	target atomic.Pointer[string]
}

// NewSwitch starts a switch forwarding to target ("" for none).
func NewSwitch(t testing.TB, target string) *Switch {
	s := &Switch{}
	s.Set(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg := *s.target.Load()
		if tg == "" {
			http.Error(w, "switched off", http.StatusServiceUnavailable)
			return
		}
		u, err := url.Parse(tg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Set changes the target ("" for none).
func (s *Switch) Set(target string) { s.target.Store(&target) }
