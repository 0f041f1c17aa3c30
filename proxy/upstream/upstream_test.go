package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestMain clears go command settings so nothing of the developer's
// environment leaks into the direct-mode children.
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if isGoVar(name) {
			os.Unsetenv(name)
		}
	}
	os.Exit(m.Run())
}

// loopbackClient is an HTTP client that refuses to dial anything but
// 127.0.0.1 or ::1, so a test can never reach the network.
func loopbackClient() *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("test dialed non-loopback address %q", addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr}
}

// newTestRouter returns a Router with a loopback-only client and quiet
// logging; opts.Private defaults to "off" so no test runs direct by accident.
func newTestRouter(t *testing.T, opts Options) *Router {
	t.Helper()
	if opts.Client == nil {
		opts.Client = loopbackClient()
	}
	if opts.Private == "" {
		opts.Private = "off"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.lookup == nil {
		// No DNS in tests: direct mode's host check then leaves the
		// decision to the egress proxy, which refuses the name.
		opts.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return nil, fmt.Errorf("test resolver: no DNS in tests (looked up %q)", host)
		}
	}
	r, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// fetchAll fetches req and reads the whole body. The error is Fetch's or
// the body's.
func fetchAll(ctx context.Context, r *Router, req Request) (body string, resp *Response, err error) {
	resp, err = r.Fetch(ctx, req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return string(data), resp, err
}

// serve starts a test server on 127.0.0.1. The returned channel is closed
// when the test ends, before the server is closed, so handlers can block on
// it.
func serve(t *testing.T, h http.HandlerFunc) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	srv := httptest.NewServer(h)
	done := make(chan struct{})
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: unblocks handlers
	return srv, done
}

// behaviourURL returns the URL of an upstream that behaves as named:
// "ok" (200 with body "ok from <label>"), "404", "410", "500", "hang"
// (never answers), or "refused" (nothing listening).
func behaviourURL(t *testing.T, behaviour, label string) string {
	t.Helper()
	if behaviour == "refused" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}
	var h http.HandlerFunc
	srv, done := serve(t, func(w http.ResponseWriter, r *http.Request) { h(w, r) })
	h = func(w http.ResponseWriter, r *http.Request) {
		switch behaviour {
		case "ok":
			fmt.Fprintf(w, "ok from %s", label)
		case "404":
			http.Error(w, "not found: "+label, http.StatusNotFound)
		case "410":
			http.Error(w, "gone: "+label, http.StatusGone)
		case "500":
			http.Error(w, "broken: "+label, http.StatusInternalServerError)
		case "hang":
			<-done
		default:
			panic("unknown behaviour " + behaviour)
		}
	}
	return srv.URL
}

// outcome summarises a fetch for comparison.
type outcome struct {
	Body     string
	Source   string
	NotExist bool
	Timeout  bool
	Off      bool
	Code     int // of a *StatusError
	Err      string
}

func summarise(body string, resp *Response, err error, labels map[string]string) outcome {
	var o outcome
	if err != nil {
		o.NotExist = errors.Is(err, fs.ErrNotExist)
		o.Timeout = errors.Is(err, ErrTimeout)
		o.Off = errors.Is(err, ErrOff)
		var se *StatusError
		if errors.As(err, &se) {
			o.Code = se.Code
		}
		o.Err = "error"
		return o
	}
	o.Body = body
	o.Source = resp.Source
	if l, ok := labels[resp.Source]; ok {
		o.Source = l
	}
	return o
}

func TestFallthrough(t *testing.T) {
	const timeout = 200 * time.Millisecond
	tests := []struct {
		name         string
		first        string
		sep          string
		second       string // behaviour, or "off"
		want         outcome
		wantContains string
	}{
		{name: "comma after 404", first: "404", sep: ",", second: "ok", want: outcome{Body: "ok from B", Source: "B"}},
		{name: "comma after 410", first: "410", sep: ",", second: "ok", want: outcome{Body: "ok from B", Source: "B"}},
		{name: "comma stops at 500", first: "500", sep: ",", second: "ok", want: outcome{Err: "error", Code: 500}, wantContains: "answered 500 Internal Server Error"},
		{name: "comma stops at timeout", first: "hang", sep: ",", second: "ok", want: outcome{Err: "error", Timeout: true}},
		{name: "comma stops at refused", first: "refused", sep: ",", second: "ok", want: outcome{Err: "error"}, wantContains: "connection refused"},
		{name: "pipe after 404", first: "404", sep: "|", second: "ok", want: outcome{Body: "ok from B", Source: "B"}},
		{name: "pipe after 410", first: "410", sep: "|", second: "ok", want: outcome{Body: "ok from B", Source: "B"}},
		{name: "pipe after 500", first: "500", sep: "|", second: "ok", want: outcome{Body: "ok from B", Source: "B"}},
		{name: "pipe after timeout", first: "hang", sep: "|", second: "ok", want: outcome{Body: "ok from B", Source: "B"}},
		{name: "pipe after refused", first: "refused", sep: "|", second: "ok", want: outcome{Body: "ok from B", Source: "B"}},
		{name: "both not found", first: "404", sep: ",", second: "410", want: outcome{Err: "error", NotExist: true, Code: 410}},
		{name: "500 beats later 404", first: "500", sep: "|", second: "404", want: outcome{Err: "error", Code: 500}},
		{name: "later 500 beats 404", first: "404", sep: ",", second: "500", want: outcome{Err: "error", Code: 500}},
		{name: "off after 404", first: "404", sep: ",", second: "off", want: outcome{Err: "error", NotExist: true, Off: true}},
		{name: "500 beats off", first: "500", sep: "|", second: "off", want: outcome{Err: "error", Code: 500}},
		{name: "timeout beats off", first: "hang", sep: "|", second: "off", want: outcome{Err: "error", Timeout: true}},
		{name: "ok first", first: "ok", sep: ",", second: "500", want: outcome{Body: "ok from A", Source: "A"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := behaviourURL(t, tt.first, "A")
			list := a + tt.sep
			labels := map[string]string{a: "A"}
			if tt.second == "off" {
				list += "off"
			} else {
				b := behaviourURL(t, tt.second, "B")
				list += b
				labels[b] = "B"
			}
			r := newTestRouter(t, Options{Public: list, Timeout: timeout})
			start := time.Now()
			body, resp, err := fetchAll(t.Context(), r, Request{Path: "example.com/m", Version: "v1.0.0", Kind: Info})
			if elapsed := time.Since(start); elapsed > 20*timeout {
				t.Errorf("fetch took %v with Timeout %v", elapsed, timeout)
			}
			got := summarise(body, resp, err, labels)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fetch via %q mismatch (-want +got):\n%s\nerror: %v", list, diff, err)
			}
			if tt.wantContains != "" && (err == nil || !strings.Contains(err.Error(), tt.wantContains)) {
				t.Errorf("error = %v, want it to contain %q", err, tt.wantContains)
			}
			if err != nil && strings.Contains(err.Error(), "broken: A") {
				t.Errorf("error = %v relays the upstream's body", err)
			}
		})
	}
}

func TestOff(t *testing.T) {
	r := newTestRouter(t, Options{Public: "off"})
	_, err := r.Fetch(t.Context(), Request{Path: "example.com/m", Kind: List})
	got := summarise("", nil, err, nil)
	want := outcome{Err: "error", NotExist: true, Off: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fetch via off mismatch (-want +got):\n%s\nerror: %v", diff, err)
	}
}

// TestDirectErrorWins checks cmd/go's ranking: an error from direct is
// reported over an earlier "not found".
func TestDirectErrorWins(t *testing.T) {
	a := behaviourURL(t, "404", "A")
	r := newTestRouter(t, Options{Public: a + ",direct", GoCommand: filepath.Join(t.TempDir(), "no-go"), WorkDir: t.TempDir()})
	_, err := r.Fetch(t.Context(), Request{Path: "example.com/m", Kind: Latest})
	if err == nil || !strings.Contains(err.Error(), "direct mode needs the go command and git") {
		t.Fatalf("Fetch error = %v, want the direct error", err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Fetch error %v is fs.ErrNotExist; a missing go command must not look like a missing module", err)
	}
}

func TestURLLayout(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{name: "list", req: Request{Path: "github.com/Azure/azure-sdk", Kind: List}, want: "/base/github.com/!azure/azure-sdk/@v/list"},
		{name: "latest", req: Request{Path: "github.com/Azure/azure-sdk", Kind: Latest}, want: "/base/github.com/!azure/azure-sdk/@latest"},
		{name: "info query", req: Request{Path: "example.com/m", Version: "Main", Kind: Info}, want: "/base/example.com/m/@v/!main.info"},
		{name: "mod", req: Request{Path: "example.com/m", Version: "v1.0.0-RC1", Kind: Mod}, want: "/base/example.com/m/@v/v1.0.0-!r!c1.mod"},
		{name: "zip", req: Request{Path: "example.com/m/v2", Version: "v2.0.0", Kind: Zip}, want: "/base/example.com/m/v2/@v/v2.0.0.zip"},
		{name: "incompatible", req: Request{Path: "example.com/m", Version: "v3.0.0+incompatible", Kind: Mod}, want: "/base/example.com/m/@v/v3.0.0+incompatible.mod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				got = r.URL.EscapedPath()
				io.WriteString(w, "x")
			})
			r := newTestRouter(t, Options{Public: srv.URL + "/base/"})
			if _, _, err := fetchAll(t.Context(), r, tt.req); err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("requested path mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFileProxy(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"github.com/!azure/azure-sdk/@v/list":                "v1.0.0\nv1.1.0-!r!c1\n",
		"github.com/!azure/azure-sdk/@latest":                `{"Version":"v1.0.0"}`,
		"github.com/!azure/azure-sdk/@v/v1.0.0.info":         `{"Version":"v1.0.0"}`,
		"github.com/!azure/azure-sdk/@v/v1.1.0-!r!c1.mod":    "module github.com/Azure/azure-sdk\n",
		"github.com/!azure/azure-sdk/@v/v1.0.0.zip":          "PK zip bytes",
		"github.com/!azure/azure-sdk/@v/v9.0.0.info/oops.go": "a directory where a file should be",
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fileURL := "file://" + filepath.ToSlash(dir)
	const mod = "github.com/Azure/azure-sdk"
	tests := []struct {
		name string
		req  Request
		want outcome
	}{
		{name: "list", req: Request{Path: mod, Kind: List}, want: outcome{Body: "v1.0.0\nv1.1.0-!r!c1\n", Source: "F"}},
		{name: "latest", req: Request{Path: mod, Kind: Latest}, want: outcome{Body: `{"Version":"v1.0.0"}`, Source: "F"}},
		{name: "info", req: Request{Path: mod, Version: "v1.0.0", Kind: Info}, want: outcome{Body: `{"Version":"v1.0.0"}`, Source: "F"}},
		{name: "mod with escaped version", req: Request{Path: mod, Version: "v1.1.0-RC1", Kind: Mod}, want: outcome{Body: "module github.com/Azure/azure-sdk\n", Source: "F"}},
		{name: "zip", req: Request{Path: mod, Version: "v1.0.0", Kind: Zip}, want: outcome{Body: "PK zip bytes", Source: "F"}},
		{name: "missing version", req: Request{Path: mod, Version: "v2.0.0", Kind: Info}, want: outcome{Err: "error", NotExist: true}},
		{name: "lower-case path is another module", req: Request{Path: "github.com/azure/azure-sdk", Kind: List}, want: outcome{Err: "error", NotExist: true}},
		{name: "directory instead of file", req: Request{Path: mod, Version: "v9.0.0", Kind: Info}, want: outcome{Err: "error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRouter(t, Options{Public: fileURL})
			body, resp, err := fetchAll(t.Context(), r, tt.req)
			got := summarise(body, resp, err, map[string]string{fileURL: "F"})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fetch mismatch (-want +got):\n%s\nerror: %v", diff, err)
			}
			if resp != nil && resp.Size != int64(len(body)) {
				t.Errorf("Size = %d, want %d", resp.Size, len(body))
			}
		})
	}

	t.Run("missing file falls through to the next entry", func(t *testing.T) {
		b := behaviourURL(t, "ok", "B")
		r := newTestRouter(t, Options{Public: fileURL + "," + b})
		body, resp, err := fetchAll(t.Context(), r, Request{Path: mod, Version: "v2.0.0", Kind: Info})
		got := summarise(body, resp, err, map[string]string{b: "B"})
		if diff := cmp.Diff(outcome{Body: "ok from B", Source: "B"}, got); diff != "" {
			t.Errorf("fetch mismatch (-want +got):\n%s\nerror: %v", diff, err)
		}
	})
}

func TestPrivateRouting(t *testing.T) {
	var publicHits, privateHits atomic.Int32
	pub, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		publicHits.Add(1)
		io.WriteString(w, "public")
	})
	priv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		privateHits.Add(1)
		if strings.Contains(r.URL.Path, "missing") {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "private")
	})
	r := newTestRouter(t, Options{
		Public:          pub.URL,
		Private:         priv.URL,
		PrivatePatterns: "corp.example.com, *.internal.example",
	})
	type hits struct {
		Outcome         outcome
		Public, Private int32
		IsPrivate       bool
	}
	tests := []struct {
		name string
		path string
		want hits
	}{
		{name: "private prefix", path: "corp.example.com/team/lib", want: hits{Outcome: outcome{Body: "private", Source: "priv"}, Private: 1, IsPrivate: true}},
		{name: "private glob", path: "git.internal.example/x", want: hits{Outcome: outcome{Body: "private", Source: "priv"}, Private: 1, IsPrivate: true}},
		{name: "private not found does not fall back to public", path: "corp.example.com/missing", want: hits{Outcome: outcome{Err: "error", NotExist: true, Code: 404}, Private: 1, IsPrivate: true}},
		{name: "public", path: "github.com/x/y", want: hits{Outcome: outcome{Body: "public", Source: "pub"}, Public: 1}},
		{name: "prefix match is by path element", path: "corp.example.com.evil/x", want: hits{Outcome: outcome{Body: "public", Source: "pub"}, Public: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			publicHits.Store(0)
			privateHits.Store(0)
			body, resp, err := fetchAll(t.Context(), r, Request{Path: tt.path, Kind: List})
			got := hits{
				Outcome:   summarise(body, resp, err, map[string]string{pub.URL: "pub", priv.URL: "priv"}),
				Public:    publicHits.Load(),
				Private:   privateHits.Load(),
				IsPrivate: r.IsPrivate(tt.path),
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fetch %s mismatch (-want +got):\n%s\nerror: %v", tt.path, diff, err)
			}
		})
	}
}

func TestSizeCap(t *testing.T) {
	const infoCap = 1 << 20
	tests := []struct {
		name    string
		size    int
		chunked bool // no Content-Length: the cap is hit while reading
		wantErr bool
	}{
		{name: "at cap with length", size: infoCap},
		{name: "at cap chunked", size: infoCap, chunked: true},
		{name: "over cap with length", size: infoCap + 1, wantErr: true},
		{name: "over cap chunked", size: infoCap + 1, chunked: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if !tt.chunked {
					w.Header().Set("Content-Length", fmt.Sprint(tt.size))
				}
				data := []byte(strings.Repeat("x", tt.size))
				for len(data) > 0 {
					n := min(len(data), 64<<10)
					w.Write(data[:n])
					data = data[n:]
					if tt.chunked {
						w.(http.Flusher).Flush()
					}
				}
			})
			r := newTestRouter(t, Options{Public: srv.URL})
			body, _, err := fetchAll(t.Context(), r, Request{Path: "example.com/m", Kind: Latest})
			if !tt.wantErr {
				if err != nil || len(body) != tt.size {
					t.Fatalf("got %d bytes, error %v; want %d bytes", len(body), err, tt.size)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %d bytes and no error; want a size-cap error", len(body))
			}
			if !strings.Contains(err.Error(), "1048576-byte limit for latest responses") {
				t.Errorf("error = %v, want it to name the latest cap", err)
			}
			if len(body) > infoCap {
				t.Errorf("got %d bytes, more than the cap", len(body))
			}
		})
	}
}

func TestTruncatedBody(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{
			name: "shorter than Content-Length",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "100")
				io.WriteString(w, "only ten!!")
			},
		},
		{
			name: "chunked body cut by closing the connection",
			handler: func(w http.ResponseWriter, r *http.Request) {
				conn, buf, err := w.(http.Hijacker).Hijack()
				if err != nil {
					panic(err)
				}
				defer conn.Close()
				buf.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/zip\r\n\r\n")
				buf.WriteString("a\r\nonly ten!!\r\n") // and no terminating chunk
				buf.Flush()
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := serve(t, tt.handler)
			r := newTestRouter(t, Options{Public: srv.URL})
			resp, err := r.Fetch(t.Context(), Request{Path: "example.com/m", Version: "v1.0.0", Kind: Zip})
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("ReadAll = %q, %v; want io.ErrUnexpectedEOF", data, err)
			}
			// Errors are sticky: a second Read must not turn into EOF.
			if _, err2 := resp.Body.Read(make([]byte, 1)); err2 == nil || err2 == io.EOF {
				t.Errorf("Read after the error = %v, want the error again", err2)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	const short = 150 * time.Millisecond
	const long = time.Minute
	tests := []struct {
		name        string
		kind        Kind
		timeout     time.Duration
		idleTimeout time.Duration
		handler     func(w http.ResponseWriter, done <-chan struct{})
		wantFetch   bool // timeout already from Fetch; else from reading the body
	}{
		{
			name: "no headers, info", kind: Info, timeout: short, idleTimeout: long, wantFetch: true,
			handler: func(w http.ResponseWriter, done <-chan struct{}) { <-done },
		},
		{
			name: "no headers, zip", kind: Zip, timeout: short, idleTimeout: long, wantFetch: true,
			handler: func(w http.ResponseWriter, done <-chan struct{}) { <-done },
		},
		{
			name: "zip body stalls mid-way", kind: Zip, timeout: long, idleTimeout: short,
			handler: func(w http.ResponseWriter, done <-chan struct{}) {
				w.Header().Set("Content-Length", "100")
				io.WriteString(w, "first half")
				w.(http.Flusher).Flush()
				<-done
			},
		},
		{
			name: "info body slower than the whole-request timeout", kind: Info, timeout: short, idleTimeout: long,
			handler: func(w http.ResponseWriter, done <-chan struct{}) {
				io.WriteString(w, "{")
				w.(http.Flusher).Flush()
				<-done
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var done <-chan struct{}
			srv, d := serve(t, func(w http.ResponseWriter, r *http.Request) { tt.handler(w, done) })
			done = d
			r := newTestRouter(t, Options{Public: srv.URL, Timeout: tt.timeout, IdleTimeout: tt.idleTimeout})
			start := time.Now()
			resp, err := r.Fetch(t.Context(), Request{Path: "example.com/m", Version: "v1.0.0", Kind: tt.kind})
			if tt.wantFetch {
				if !errors.Is(err, ErrTimeout) {
					t.Fatalf("Fetch error = %v, want ErrTimeout", err)
				}
			} else {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				defer resp.Body.Close()
				_, err = io.ReadAll(resp.Body)
				if !errors.Is(err, ErrTimeout) {
					t.Fatalf("ReadAll error = %v, want ErrTimeout", err)
				}
			}
			if elapsed := time.Since(start); elapsed > 20*short {
				t.Errorf("timed out after %v, want about %v", elapsed, short)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("timeout error %v is fs.ErrNotExist", err)
			}
		})
	}
}

// TestBodyOutlivesFetch checks that the request is not cancelled when Fetch
// returns: the body is read later, slowly, within the idle timeout.
func TestBodyOutlivesFetch(t *testing.T) {
	next := make(chan struct{})
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part1,")
		w.(http.Flusher).Flush()
		<-next
		io.WriteString(w, "part2")
	})
	r := newTestRouter(t, Options{Public: srv.URL})
	resp, err := r.Fetch(t.Context(), Request{Path: "example.com/m", Version: "v1.0.0", Kind: Zip})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	defer resp.Body.Close()
	close(next)
	data, err := io.ReadAll(resp.Body)
	if diff := cmp.Diff("part1,part2", string(data)); diff != "" || err != nil {
		t.Errorf("body mismatch (-want +got):\n%s\nerror: %v", diff, err)
	}
}

func TestContextCancelStopsBody(t *testing.T) {
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part1,")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	r := newTestRouter(t, Options{Public: srv.URL})
	ctx, cancel := context.WithCancel(t.Context())
	resp, err := r.Fetch(ctx, Request{Path: "example.com/m", Version: "v1.0.0", Kind: Zip})
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("reading the first part: %v", err)
	}
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAll after cancel = %v, want context.Canceled", err)
	}
}

func TestRedirect(t *testing.T) {
	cdn, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/blobs/abc" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "zip from cdn")
	})
	mirror, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/v1.0.0.zip"):
			http.Redirect(w, r, cdn.URL+"/blobs/abc", http.StatusFound)
		case strings.HasSuffix(r.URL.Path, "/v2.0.0.zip"):
			http.Redirect(w, r, cdn.URL+"/blobs/missing", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	})
	// The CDN is another port of 127.0.0.1: another host, listed here.
	r := newTestRouter(t, Options{Public: mirror.URL, RedirectAllow: "127.0.0.1"})
	tests := []struct {
		name    string
		version string
		want    outcome
	}{
		{name: "followed", version: "v1.0.0", want: outcome{Body: "zip from cdn", Source: "mirror"}},
		{name: "redirect to 404 is not found", version: "v2.0.0", want: outcome{Err: "error", NotExist: true, Code: 404}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, resp, err := fetchAll(t.Context(), r, Request{Path: "example.com/m", Version: tt.version, Kind: Zip})
			got := summarise(body, resp, err, map[string]string{mirror.URL: "mirror"})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fetch mismatch (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestUserinfo(t *testing.T) {
	const user, pass = "ci-bot", "s3cret-pw"
	var logs strings.Builder
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if strings.Contains(r.URL.Path, "missing") {
			http.Error(w, "no such module", http.StatusNotFound)
			return
		}
		if strings.Contains(r.URL.Path, "broken") {
			http.Error(w, "backend down", http.StatusBadGateway)
			return
		}
		io.WriteString(w, "authorized")
	})
	withAuth := strings.Replace(srv.URL, "http://", "http://"+user+":"+pass+"@", 1)
	r := newTestRouter(t, Options{
		Public: withAuth + "|" + withAuth,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	tests := []struct {
		name string
		path string
		want outcome
	}{
		{name: "basic auth sent", path: "example.com/ok", want: outcome{Body: "authorized", Source: srv.URL}},
		{name: "not found", path: "example.com/missing", want: outcome{Err: "error", NotExist: true, Code: 404}},
		{name: "server error", path: "example.com/broken", want: outcome{Err: "error", Code: 502}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, resp, err := fetchAll(t.Context(), r, Request{Path: tt.path, Kind: List})
			got := summarise(body, resp, err, nil)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fetch mismatch (-want +got):\n%s\nerror: %v", diff, err)
			}
			if err != nil {
				var se *StatusError
				if errors.As(err, &se) && strings.Contains(se.Source+se.URL, pass) {
					t.Errorf("StatusError %+v shows the password", se)
				}
				if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), user) {
					t.Errorf("error %q shows the credentials", err)
				}
			}
		})
	}
	if strings.Contains(logs.String(), pass) {
		t.Errorf("logs show the password:\n%s", logs.String())
	}
	if got := r.FirstProxyURL(); got != withAuth {
		t.Errorf("FirstProxyURL() = %q, want %q (with credentials, for reaching /sumdb/)", got, withAuth)
	}
}

func TestStatusErrorDetail(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		want        string
	}{
		{name: "text", contentType: "text/plain; charset=utf-8", body: "not found: unknown revision v9\n", want: "not found: unknown revision v9"},
		{name: "control characters removed", contentType: "text/plain", body: "bad\x1b[31m red\x00\n", want: "bad[31m red"},
		{name: "stops at blank line", contentType: "text/plain", body: "line1\nline2\n\nhidden", want: "line1\nline2"},
		{name: "at most 8 lines", contentType: "text/plain", body: strings.Repeat("l\n", 20), want: strings.TrimSuffix(strings.Repeat("l\n", 8), "\n")},
		{name: "at most 648 bytes", contentType: "text/plain", body: strings.Repeat("x", 2000), want: strings.Repeat("x", 648)},
		{name: "html ignored", contentType: "text/html", body: "<html>oops</html>", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, tt.body)
			})
			r := newTestRouter(t, Options{Public: srv.URL})
			_, err := r.Fetch(t.Context(), Request{Path: "example.com/m", Kind: List})
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("Fetch error = %v, want *StatusError", err)
			}
			want := &StatusError{Source: srv.URL, URL: srv.URL + "/example.com/m/@v/list", Code: 500, Body: tt.want}
			if diff := cmp.Diff(want, se); diff != "" {
				t.Errorf("StatusError mismatch (-want +got):\n%s", diff)
			}
			if tt.want != "" && strings.Contains(se.Error(), tt.want) {
				t.Errorf("StatusError text %q relays the upstream's body", se.Error())
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "default lists need WorkDir", opts: Options{}, wantErr: "WorkDir is required"},
		{name: "relative WorkDir", opts: Options{Public: "off", Private: "direct", WorkDir: "scratch"}, wantErr: "must be an absolute path"},
		{name: "bad public", opts: Options{Public: "https://a.example,,off"}, wantErr: "public upstream list: GOPROXY list: entry 2 is empty"},
		{name: "bad private", opts: Options{Public: "off", Private: "ftp://x.example"}, wantErr: "private upstream list"},
		{name: "bad pattern", opts: Options{Public: "off", Private: "off", PrivatePatterns: "corp.example.com,[x"}, wantErr: "private patterns"},
		{name: "bad direct-allow", opts: Options{Public: "direct", WorkDir: "/tmp/x", DirectAllow: "public,example.com/x"}, wantErr: "--direct-allow"},
		{name: "bad redirect-allow", opts: Options{Public: "off", RedirectAllow: "cdn.example,[x"}, wantErr: "--upstream-redirect-allow"},
		{name: "public redirects", opts: Options{Public: "off", RedirectAllow: "public"}, wantErr: "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	// No I/O happens in New: a missing go command or WorkDir is fine.
	r, err := New(Options{WorkDir: filepath.Join(t.TempDir(), "not-yet"), GoCommand: "/nonexistent/go"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if diff := cmp.Diff("https://proxy.golang.org", r.FirstProxyURL()); diff != "" {
		t.Errorf("FirstProxyURL mismatch (-want +got):\n%s", diff)
	}
	if r.IsPrivate("github.com/x/y") {
		t.Errorf("IsPrivate with no patterns = true")
	}
	r = newTestRouter(t, Options{Public: "off"})
	if got := r.FirstProxyURL(); got != "" {
		t.Errorf("FirstProxyURL() with only off = %q, want empty", got)
	}
}

func TestRequestCheck(t *testing.T) {
	tests := []struct {
		name string
		req  Request
	}{
		{name: "bad path", req: Request{Path: "../etc/passwd", Kind: List}},
		{name: "list with version", req: Request{Path: "example.com/m", Version: "v1.0.0", Kind: List}},
		{name: "info without version", req: Request{Path: "example.com/m", Kind: Info}},
		{name: "zip with query", req: Request{Path: "example.com/m", Version: "main", Kind: Zip}},
		{name: "mod non-canonical", req: Request{Path: "example.com/m", Version: "v1.0", Kind: Mod}},
		{name: "version with slash", req: Request{Path: "example.com/m", Version: "feature/x", Kind: Info}},
		{name: "unknown kind", req: Request{Path: "example.com/m", Kind: "sum"}},
	}
	var hits atomic.Int32
	srv, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	r := newTestRouter(t, Options{Public: srv.URL})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Fetch(t.Context(), tt.req)
			if err == nil || !strings.Contains(err.Error(), "invalid request") {
				t.Errorf("Fetch(%+v) error = %v, want an invalid request error", tt.req, err)
			}
			if errors.Is(err, fs.ErrNotExist) {
				t.Errorf("invalid request error %v is fs.ErrNotExist", err)
			}
		})
	}
	if hits.Load() != 0 {
		t.Errorf("invalid requests reached the upstream %d times", hits.Load())
	}
}
