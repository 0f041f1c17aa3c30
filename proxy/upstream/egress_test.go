package upstream

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHostRules(t *testing.T) {
	tests := []struct {
		name  string
		rules string
		host  string
		addr  string
		want  string // "" allowed, else part of the refusal
	}{
		{name: "public address", rules: "public", host: "proxy.example", addr: "8.8.8.8"},
		{name: "public IPv6", rules: "public", host: "proxy.example", addr: "2606:4700::1111"},
		{name: "loopback", rules: "public", host: "127.0.0.1", addr: "127.0.0.1", want: "loopback"},
		{name: "loopback by name", rules: "public", host: "localhost", addr: "127.0.0.1", want: "loopback"},
		{name: "other loopback", rules: "public", host: "x.example", addr: "127.8.9.10", want: "loopback"},
		{name: "IPv6 loopback", rules: "public", host: "x.example", addr: "::1", want: "loopback"},
		{name: "mapped loopback", rules: "public", host: "x.example", addr: "::ffff:127.0.0.1", want: "loopback"},
		{name: "RFC 1918", rules: "public", host: "x.example", addr: "10.1.2.3", want: "private"},
		{name: "RFC 1918 172", rules: "public", host: "x.example", addr: "172.16.0.1", want: "private"},
		{name: "RFC 1918 192", rules: "public", host: "x.example", addr: "192.168.1.1", want: "private"},
		{name: "ULA", rules: "public", host: "x.example", addr: "fd12::1", want: "private"},
		{name: "link-local", rules: "public", host: "x.example", addr: "169.254.1.1", want: "link-local"},
		{name: "IPv6 link-local", rules: "public", host: "x.example", addr: "fe80::1", want: "link-local"},
		{name: "CGNAT", rules: "public", host: "x.example", addr: "100.64.0.1", want: "carrier-grade NAT"},
		{name: "unspecified", rules: "public", host: "x.example", addr: "0.0.0.0", want: "unspecified"},
		{name: "this network", rules: "public", host: "x.example", addr: "0.1.2.3", want: "reserved"},
		{name: "multicast", rules: "public", host: "x.example", addr: "224.0.0.1", want: "multicast"},
		{name: "NAT64 of loopback", rules: "public", host: "x.example", addr: "64:ff9b::7f00:1", want: "loopback address embedded"},
		{name: "6to4 of private", rules: "public", host: "x.example", addr: "2002:a00:1::1", want: "private address embedded"},
		{name: "metadata", rules: "public", host: "x.example", addr: "169.254.169.254", want: "metadata"},
		{name: "metadata IPv6", rules: "public", host: "x.example", addr: "fd00:ec2::254", want: "metadata"},
		{name: "metadata even if listed", rules: "169.254.0.0/16,*", host: "metadata.example", addr: "169.254.169.254", want: "never allowed"},
		{name: "listed address", rules: "public,127.0.0.1", host: "127.0.0.1", addr: "127.0.0.1"},
		{name: "listed prefix", rules: "10.0.0.0/8", host: "git.corp.example", addr: "10.9.9.9"},
		{name: "listed name, private address", rules: "public,*.corp.example", host: "git.corp.example", addr: "10.9.9.9"},
		{name: "name glob does not match IP literal", rules: "*", host: "127.0.0.1", addr: "127.0.0.1", want: "loopback"},
		{name: "not listed, public off", rules: "git.corp.example", host: "github.com", addr: "8.8.8.8", want: "a host not listed"},
		{name: "empty list", rules: "", host: "github.com", addr: "8.8.8.8", want: "a host not listed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseHostRules("--direct-allow", tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			err = r.check("--direct-allow", tt.host, netip.MustParseAddr(tt.addr))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("check(%q, %s) = %v, want allowed", tt.host, tt.addr, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("check(%q, %s) = %v, want a refusal containing %q", tt.host, tt.addr, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"example.com/x", "[", "::1:x:"} {
		if _, err := parseHostRules("--direct-allow", bad); err == nil {
			t.Errorf("parseHostRules(%q) succeeded, want an error", bad)
		}
	}
}

// TestEgressDialer checks the dial-time check with real resolution
// ("localhost", from the hosts file) and with a resolver that answers a
// public address first and loopback on the second question, as a DNS
// rebinding attack does: the check and the connection use one answer.
func TestEgressDialer(t *testing.T) {
	var hits atomic.Int32
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "internal secret")
	})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	public, _ := parseHostRules("--direct-allow", "public")

	t.Run("localhost resolves to loopback", func(t *testing.T) {
		d := &egressDialer{rules: public, setting: "--direct-allow", timeout: time.Second}
		_, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("localhost", port))
		var refused *refusedError
		if !errors.As(err, &refused) {
			t.Fatalf("dial localhost = %v, want a refusal", err)
		}
	})
	t.Run("rebinding", func(t *testing.T) {
		var asked atomic.Int32
		d := &egressDialer{rules: public, setting: "--direct-allow", timeout: time.Second,
			lookup: func(ctx context.Context, host string) ([]netip.Addr, error) {
				if asked.Add(1) == 1 {
					return []netip.Addr{netip.MustParseAddr("192.0.2.1")}, nil // unroutable; never dialed here
				}
				return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
			}}
		// The first answer stands for a public address (192.0.2.1 is a
		// documentation address, so it is listed to be allowed, and it is
		// never dialed).
		d.rules = &hostRules{public: true, prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
		if _, err := d.allowed(t.Context(), "rebind.example"); err != nil {
			t.Fatalf("first lookup refused: %v", err)
		}
		_, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("rebind.example", port))
		var refused *refusedError
		if !errors.As(err, &refused) || refused.Addr != netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("dial after rebinding = %v, want a refusal of 127.0.0.1", err)
		}
	})
	t.Run("allowed loopback connects", func(t *testing.T) {
		rules, _ := parseHostRules("--direct-allow", "127.0.0.1")
		d := &egressDialer{rules: rules, setting: "--direct-allow", timeout: time.Second}
		c, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			t.Fatalf("dial allowed loopback: %v", err)
		}
		c.Close()
	})
	if hits.Load() != 0 {
		t.Errorf("the internal service got %d requests", hits.Load())
	}
}

// TestRedirectToLoopback is the red-team case: an upstream proxy answers
// 302 to a loopback service; modgate must not request it, and must say so
// in its own words.
func TestRedirectToLoopback(t *testing.T) {
	var internalHits atomic.Int32
	internal, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		http.Error(w, "internal admin: secret token abc123", http.StatusInternalServerError)
	})
	mirror, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/v2.0.0.zip"):
			http.Redirect(w, r, "/blobs/same", http.StatusFound)
		case r.URL.Path == "/blobs/same":
			io.WriteString(w, "same-host zip")
		default:
			http.Redirect(w, r, internal.URL+"/admin", http.StatusFound)
		}
	})
	r := newTestRouter(t, Options{Public: mirror.URL})
	_, err := r.Fetch(t.Context(), Request{Path: "example.com/m", Version: "v1.0.0", Kind: Zip})
	if err == nil {
		t.Fatal("Fetch followed a redirect to another host")
	}
	for _, want := range []string{"upstream " + mirror.URL + " redirected to " + internal.URL, "does not follow", "--upstream-redirect-allow"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "/admin") {
		t.Errorf("error = %q shows the internal service's body or the redirect's path", err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused redirect is not found: %v", err)
	}
	if n := internalHits.Load(); n != 0 {
		t.Errorf("the internal service got %d requests", n)
	}
	t.Run("same host is followed", func(t *testing.T) {
		body, _, err := fetchAll(t.Context(), r, Request{Path: "example.com/m", Version: "v2.0.0", Kind: Zip})
		if body != "same-host zip" || err != nil {
			t.Errorf("fetch with a same-host redirect = %q, %v; want the zip", body, err)
		}
	})
}

// TestTrickle is the red-team case of a 1 byte/s upstream: it used to reset
// the idle timer with every byte and hold the fetch for the whole fetch
// timeout. The minimum rate cuts it after one window.
func TestTrickle(t *testing.T) {
	const window = 300 * time.Millisecond
	stop := make(chan struct{})
	defer close(stop)
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		tick := time.NewTicker(window / 10)
		defer tick.Stop()
		for {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-stop:
				return
			case <-r.Context().Done():
				return
			}
		}
	})
	r := newTestRouter(t, Options{Public: srv.URL, Timeout: time.Minute, IdleTimeout: window, MinRate: 1000})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, _, err := fetchAll(ctx, r, Request{Path: "example.com/m", Version: "v1.0.0", Kind: Zip})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("fetch of a trickle = %v, want ErrTimeout", err)
	}
	if want := "below the minimum transfer rate of 1000 bytes/s"; !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
	if ctx.Err() != nil {
		t.Errorf("the fetch ran until the test's own deadline")
	}
}

func TestStallWatchKeepsFastBodies(t *testing.T) {
	// A body that arrives in bursts faster than the minimum rate, with
	// pauses shorter than the window, is never cut.
	next := make(chan struct{})
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			w.Write([]byte(strings.Repeat("y", 4096)))
			w.(http.Flusher).Flush()
			<-next
		}
	})
	r := newTestRouter(t, Options{Public: srv.URL, Timeout: time.Minute, IdleTimeout: time.Minute, MinRate: 10})
	resp, err := r.Fetch(t.Context(), Request{Path: "example.com/m", Version: "v1.0.0", Kind: Zip})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go func() {
		for i := 0; i < 3; i++ {
			next <- struct{}{}
		}
	}()
	data, err := io.ReadAll(resp.Body)
	if diff := cmp.Diff(3*4096, len(data)); diff != "" || err != nil {
		t.Errorf("body length mismatch (-want +got):\n%s\nerror: %v", diff, err)
	}
}
