package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// TestEgressEndToEnd is the red team's SSRF through a running modgate: a
// module path naming 127.0.0.1 in direct mode, and an upstream proxy that
// redirects to a loopback service. Neither may reach the internal service,
// and the client must read modgate's words, never the service's.
func TestEgressEndToEnd(t *testing.T) {
	for _, tool := range []string{"go", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s not on PATH (direct mode needs it): %v", tool, err)
		}
	}
	const secret = "SECRET-INTERNAL-ADMIN-BODY"
	var internalHits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		http.Error(w, secret, http.StatusInternalServerError)
	}))
	defer internal.Close()
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/admin"+r.URL.Path, http.StatusFound)
	}))
	defer mirror.Close()
	s := startModgate(t, "--data", t.TempDir(), "--sumdb", "off",
		"--upstream", mirror.URL,
		"--private", "127.0.0.1", "--private-upstream", "direct")

	tests := []struct {
		name     string
		path     string
		wantCode int
		want     []string
	}{
		{name: "module path naming 127.0.0.1", path: "/127.0.0.1/ssrf/x/@v/list", wantCode: http.StatusBadGateway,
			want: []string{"refused to connect to 127.0.0.1", "loopback", "--direct-allow"}},
		{name: "upstream redirect to loopback", path: "/example.com/m/@v/v1.0.0.info", wantCode: http.StatusBadGateway,
			want: []string{"redirected to " + internal.URL, "does not follow", "--upstream-redirect-allow"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(s.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Errorf("GET %s = %d, want %d\n%s", tt.path, resp.StatusCode, tt.wantCode, body)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(body), want) {
					t.Errorf("body = %q, want it to contain %q", body, want)
				}
			}
			if strings.Contains(string(body), secret) {
				t.Errorf("body relays the internal service: %q", body)
			}
		})
	}
	if n := internalHits.Load(); n != 0 {
		t.Errorf("the internal service got %d requests", n)
	}
}
