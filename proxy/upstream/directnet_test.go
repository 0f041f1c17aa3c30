package upstream

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// directNet is a world of test hosts for direct mode, all on 127.0.0.1: a
// resolver that maps names to 127.0.0.1 and a port map that sends each
// name's port 443 to its server. The httptest certificate is valid for
// 127.0.0.1 and *.example.com, so the test hosts are named
// <something>.example.com; they are never looked up in real DNS.
type directNet struct {
	ports   map[string]uint16 // host name -> port of its server
	roots   *x509.CertPool
	lookups atomic.Int32
	// rebind names resolve to a public address on the first lookup and to
	// 127.0.0.1 on later ones.
	rebind map[string]*atomic.Int32
}

func newDirectNet() *directNet {
	return &directNet{ports: map[string]uint16{}, roots: x509.NewCertPool(), rebind: map[string]*atomic.Int32{}}
}

// host starts a TLS server for name.
func (n *directNet) host(t *testing.T, name string, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	n.roots.AddCert(srv.Certificate())
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	if name != "" {
		n.ports[name] = uint16(p)
	}
	return srv
}

func (n *directNet) options(opts Options) Options {
	opts.DirectRootCAs = n.roots
	opts.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
		n.lookups.Add(1)
		if c, ok := n.rebind[host]; ok && c.Add(1) == 1 {
			// A public address (never dialed: every dial looks up again).
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
		}
		if _, ok := n.ports[host]; ok || n.rebind[host] != nil {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return nil, fmt.Errorf("test resolver: no such host %q", host)
	}
	opts.dialPort = func(host string, port uint16) uint16 {
		if p, ok := n.ports[host]; ok && port == 443 {
			return p
		}
		return port
	}
	return opts
}

// metaPage answers go-get=1 requests with a go-import meta tag.
func metaPage(prefix, vcs, repo string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("go-get") != "1" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "<html><head><meta name=\"go-import\" content=\"%s %s %s\"></head></html>\n", prefix, vcs, repo)
	}
}

func needGoAndGit(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"go", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP (direct mode untested): %s not on PATH: %v", tool, err)
		}
	}
}

// TestDirectSSRF is the red-team finding: in direct mode a module path, a
// go-get meta tag or a redirect could make modgate's go command request a
// loopback service and relay its answer. Every case must fail without the
// internal service seeing a single HTTP request, and without its words in
// the error.
func TestDirectSSRF(t *testing.T) {
	needGoAndGit(t)
	const secret = "SECRET-INTERNAL-ADMIN-BODY"
	var internalHits atomic.Int32
	n := newDirectNet()
	internal := n.host(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		http.Error(w, secret, http.StatusInternalServerError)
	}))
	internalURL := internal.URL // https://127.0.0.1:<port>, its certificate trusted by modgate
	mux := http.NewServeMux()
	mux.Handle("/mod", metaPage("meta.example.com/mod", "mod", internalURL+"/internal/admin"))
	mux.Handle("/git", metaPage("meta.example.com/git", "git", internalURL+"/repo"))
	mux.Handle("/named", metaPage("meta.example.com/named", "mod", "https://internal.example.com/internal/admin"))
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internalURL+"/redirect?go-get=1", http.StatusFound)
	})
	n.host(t, "meta.example.com", mux)
	n.rebind["rebind.example.com"] = new(atomic.Int32)
	_, internalPort, _ := net.SplitHostPort(internal.Listener.Addr().String())
	p, _ := strconv.Atoi(internalPort)
	n.ports["internal.example.com"] = uint16(p) // resolves to 127.0.0.1, not allowed

	work := t.TempDir()
	r := newTestRouter(t, n.options(Options{
		Public:      "direct",
		WorkDir:     work,
		DirectAllow: "public,meta.example.com", // the discovery host only
	}))
	tests := []struct {
		name      string
		path      string
		wantText  []string
		goMayRun  bool
		wantNoRun bool
	}{
		{name: "module path names 127.0.0.1", path: "127.0.0.1/ssrf/x", wantText: []string{"refused to connect to 127.0.0.1", "loopback", "--direct-allow"}, wantNoRun: true},
		{name: "module host resolves to loopback", path: "internal.example.com/x", wantText: []string{"refused to connect to internal.example.com (127.0.0.1)", "loopback"}, wantNoRun: true},
		{name: "meta tag mod to a loopback port", path: "meta.example.com/mod", wantText: []string{"around its egress proxy"}},
		{name: "meta tag git to a loopback port", path: "meta.example.com/git", wantText: []string{"refused to connect to 127.0.0.1", "loopback"}},
		{name: "meta tag mod to a name of a loopback address", path: "meta.example.com/named", wantText: []string{"refused to connect to internal.example.com (127.0.0.1)"}},
		{name: "discovery redirects to a loopback port", path: "meta.example.com/redirect", wantText: []string{"around its egress proxy"}},
		{name: "host that does not resolve", path: "nowhere.example.com/x", wantText: []string{"egress proxy", "no such host"}},
		{name: "DNS rebinding", path: "rebind.example.com/x", wantText: []string{"refused to connect to rebind.example.com (127.0.0.1)", "loopback"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.RemoveAll(filepath.Join(work, "run"))
			_, err := r.Fetch(t.Context(), Request{Path: tt.path, Kind: List})
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			t.Logf("error: %v", err)
			for _, want := range tt.wantText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error = %q, want it to contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error relays the internal service's body: %q", err)
			}
			if errors.Is(err, ErrTimeout) {
				t.Errorf("error is a timeout: %v", err)
			}
			if _, statErr := os.Stat(filepath.Join(work, "run")); tt.wantNoRun && statErr == nil {
				t.Errorf("the go command ran; the module path should have been refused before")
			}
			if n := internalHits.Load(); n != 0 {
				t.Errorf("the internal service got %d HTTP requests", n)
			}
		})
	}
}

// gitHost serves a git repository with module path name+"/repo" over smart
// HTTP (git http-backend as CGI), with the go-import meta tag that points
// the go command to it. It returns the module path.
func gitHost(t *testing.T, n *directNet, name string) string {
	t.Helper()
	backend := filepath.Join(gitExecPath(t), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Skipf("SKIP: no git http-backend: %v", err)
	}
	root := t.TempDir()
	src := filepath.Join(root, "src")
	modPath := name + "/repo"
	runGit(t, "", "init", "-q", "-b", "main", src)
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module "+modPath+"\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runGit(t, src, "add", ".")
	runGit(t, src, "commit", "-q", "-m", "v1.0.0")
	runGit(t, src, "tag", "v1.0.0")
	runGit(t, "", "clone", "-q", "--bare", src, filepath.Join(root, "srv", "repo"))
	cgiHandler := &cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Join(root, "srv"), "GIT_HTTP_EXPORT_ALL=1"},
	}
	meta := metaPage(modPath, "git", "https://"+name+"/repo")
	n.host(t, name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("go-get") == "1" {
			meta(w, r)
			return
		}
		cgiHandler.ServeHTTP(w, r)
	}))
	return modPath
}

func gitExecPath(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skipf("SKIP: git --exec-path: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func runGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
		"GIT_AUTHOR_DATE=2024-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2024-01-02T03:04:05Z",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// TestDirectThroughEgressProxy fetches a real module over git smart HTTP
// through the egress proxy: discovery, clone and zip.
func TestDirectThroughEgressProxy(t *testing.T) {
	needGoAndGit(t)
	n := newDirectNet()
	modPath := gitHost(t, n, "git.example.com")
	r := newTestRouter(t, n.options(Options{
		Public:      "direct",
		WorkDir:     t.TempDir(),
		DirectAllow: "git.example.com",
		Env:         []string{"GIT_CONFIG_GLOBAL=" + os.DevNull, "GIT_CONFIG_NOSYSTEM=1"},
	}))
	body, _, err := fetchAll(t.Context(), r, Request{Path: modPath, Kind: List})
	if body != "v1.0.0\n" || err != nil {
		t.Fatalf("list = %q, %v; want v1.0.0", body, err)
	}
	body, _, err = fetchAll(t.Context(), r, Request{Path: modPath, Version: "v1.0.0", Kind: Mod})
	if want := "module " + modPath + "\n\ngo 1.21\n"; body != want || err != nil {
		t.Fatalf("mod = %q, %v; want %q", body, err, want)
	}
}

// TestDirectStarvation is the red-team finding: four modules on hosts that
// hang held every direct slot, and a fifth module from a healthy host
// waited for them. Now each host gets at most DirectMaxPerHost slots of
// DirectMaxTotal, so the fifth proceeds while the four still hang.
func TestDirectStarvation(t *testing.T) {
	needGoAndGit(t)
	n := newDirectNet()
	modPath := gitHost(t, n, "git.example.com")
	arrived := make(chan string, 8)
	release := make(chan struct{})
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("hang%d.example.com", i)
		n.host(t, name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			arrived <- name
			<-release
		}))
	}
	t.Cleanup(func() { close(release) })
	r := newTestRouter(t, n.options(Options{
		Public:      "direct",
		WorkDir:     t.TempDir(),
		DirectAllow: "*.example.com",
		Timeout:     time.Hour, // the hanging hosts hang for the whole test
		Env:         []string{"GIT_CONFIG_GLOBAL=" + os.DevNull, "GIT_CONFIG_NOSYSTEM=1"},
	}))
	ctx, cancel := context.WithCancel(t.Context())
	hung := make(chan error, 4)
	for i := 1; i <= 4; i++ {
		go func() {
			_, err := r.Fetch(ctx, Request{Path: fmt.Sprintf("hang%d.example.com/m", i), Kind: List})
			hung <- err
		}()
	}
	for range 4 {
		<-arrived // all four hosts hold a request
	}
	fifthCtx, fifthCancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer fifthCancel()
	start := time.Now()
	body, _, err := fetchAll(fifthCtx, r, Request{Path: modPath, Kind: List})
	t.Logf("fifth fetch with four hanging hosts: %v", time.Since(start))
	if body != "v1.0.0\n" || err != nil {
		t.Errorf("fifth fetch = %q, %v; want v1.0.0 while the others hang", body, err)
	}
	select {
	case err := <-hung:
		t.Errorf("a hanging fetch ended before the fifth was served: %v", err)
	default:
	}
	cancel()
	for range 4 {
		<-hung
	}
}

// TestDirectHangAndTrickle checks that what direct mode downloads is held to
// the header timeout and the minimum rate by the egress proxy, instead of
// the 10-minute DirectTimeout.
func TestDirectHangAndTrickle(t *testing.T) {
	needGoAndGit(t)
	n := newDirectNet()
	stop := make(chan struct{})
	defer close(stop) // before the servers' Close, which waits for handlers
	n.host(t, "hang.example.com", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-stop
	}))
	n.host(t, "trickle.example.com", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := io.WriteString(w, " "); err != nil {
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
	}))
	r := newTestRouter(t, n.options(Options{
		Public:        "direct",
		WorkDir:       t.TempDir(),
		DirectAllow:   "*.example.com",
		Timeout:       500 * time.Millisecond,
		IdleTimeout:   500 * time.Millisecond,
		MinRate:       1000,
		DirectTimeout: time.Hour,
	}))
	tests := []struct {
		path string
		want string
	}{
		{path: "hang.example.com/m", want: "did not answer within 500ms"},
		{path: "trickle.example.com/m", want: "below the minimum transfer rate of 1000 bytes/s"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			_, err := r.Fetch(ctx, Request{Path: tt.path, Kind: List})
			if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Fetch = %v, want ErrTimeout saying %q", err, tt.want)
			}
			if ctx.Err() != nil {
				t.Errorf("the fetch ran until the test's deadline")
			}
		})
	}
}
