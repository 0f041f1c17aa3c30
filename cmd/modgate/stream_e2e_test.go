package main

import (
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// TestEndToEndStreamedZipCut drives the real go command at a zip that modgate
// streams as it downloads it and that then fails its check against the
// checksum database: the go command must reject the cut download and keep
// nothing of it in its module cache; asking again gets modgate's 403 with
// the mismatch. A good zip streamed the same way is accepted.
func TestEndToEndStreamedZipCut(t *testing.T) {
	random := make([]byte, 512<<10) // far more than the end held back
	rand.New(rand.NewSource(1)).Read(random)
	files := map[string]string{"data.bin": string(random), "a.go": "package big\n"}
	good := testkit.Build(t, testkit.Module{Path: "example.com/big", Version: "v1.0.0", Files: files})
	evilFiles := map[string]string{"evil.go": "package big\n\nfunc init() { println(\"pwned\") }\n"}
	for k, v := range files {
		evilFiles[k] = v
	}
	evil := testkit.Build(t, testkit.Module{Path: "example.com/big", Version: "v1.0.0", Files: evilFiles})
	fine := testkit.Build(t, testkit.Module{Path: "example.com/fine", Version: "v1.0.0", Files: files})

	skey, vkey := testkit.NewSumDBKey(t, "sum.modgate.test")
	db := testkit.NewSumDBSigned(t, skey, vkey, good, fine)
	up := testkit.NewUpstream(t, evil, fine)
	data := t.TempDir()
	mg := startModgate(t, "--data", data, "--sumdb", vkey+" "+db.URL, "--upstream", up.URL)
	// The go command reaches modgate through a relay that counts what
	// modgate sends it; the upstream holds the evil zip's end back until
	// modgate has streamed part of the zip to the go command, so the cut
	// is tested whatever the machine's load (without it, an ingest that
	// ended before the first byte was streamed answered 403).
	relay := newByteRelay(t, mg.URL)
	holdZipEnd(t, up, "/example.com/big/@v/v1.0.0.zip", evil.Zip, relay, 128<<10)

	work := t.TempDir()
	home := filepath.Join(work, "home")
	env := testkit.GoEnv(t, home, relay.URL, "GOSUMDB="+vkey)
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")

	out := testkit.RunGo(t, app, env, true, "mod", "download", "example.com/big@v1.0.0")
	t.Logf("the go command on the cut download:\n%s", out)
	if strings.Contains(out, "403") {
		t.Errorf("the first download was refused before streaming; want a cut download:\n%s", out)
	}
	cache := filepath.Join(home, "modcache")
	for _, p := range []string{
		filepath.Join(cache, "example.com", "big@v1.0.0"),
		filepath.Join(cache, "cache", "download", "example.com", "big", "@v", "v1.0.0.zip"),
		filepath.Join(cache, "cache", "download", "example.com", "big", "@v", "v1.0.0.ziphash"),
	} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the go command kept %s of a cut download", p)
		}
	}
	out = testkit.RunGo(t, app, env, true, "mod", "download", "example.com/big@v1.0.0")
	for _, want := range []string{"403 Forbidden", "checksum mismatch", good.Hash} {
		if !strings.Contains(out, want) {
			t.Errorf("asking again: output lacks %q:\n%s", want, out)
		}
	}
	blobs, _ := filepath.Glob(filepath.Join(data, "blobs", "??", "*"))
	if len(blobs) != 0 {
		t.Errorf("blobs stored: %v", blobs)
	}

	testkit.RunGo(t, app, env, false, "mod", "download", "example.com/fine@v1.0.0")
	if _, err := os.Stat(filepath.Join(cache, "example.com", "fine@v1.0.0", "data.bin")); err != nil {
		t.Errorf("the streamed good zip was not extracted: %v", err)
	}
}

// byteRelay is a TCP relay in front of a server that counts the bytes the
// server sends back.
type byteRelay struct {
	URL  string
	sent atomic.Int64
	mu   sync.Mutex
	wait []chan struct{}
	at   []int64
}

func newByteRelay(t *testing.T, target string) *byteRelay {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &byteRelay{URL: "http://" + ln.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				s, err := net.Dial("tcp", u.Host)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { io.Copy(s, c); s.(*net.TCPConn).CloseWrite() }()
				buf := make([]byte, 32<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
						r.add(int64(n))
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return r
}

func (r *byteRelay) add(n int64) {
	total := r.sent.Add(n)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 0; i < len(r.wait); i++ {
		if total >= r.at[i] {
			close(r.wait[i])
			r.wait, r.at = append(r.wait[:i], r.wait[i+1:]...), append(r.at[:i], r.at[i+1:]...)
			i--
		}
	}
}

// after returns a channel closed once n more bytes than now were relayed.
func (r *byteRelay) after(n int64) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	r.wait, r.at = append(r.wait, ch), append(r.at, r.sent.Load()+n)
	return ch
}

// holdZipEnd makes up serve zip at urlPath with its last 128 KiB sent only
// once relay has relayed want bytes more than when the request came (or
// after a minute: then the test fails on what the go command got).
func holdZipEnd(t *testing.T, up *testkit.Upstream, urlPath string, zip []byte, relay *byteRelay, want int64) {
	t.Helper()
	const end = 128 << 10
	if len(zip) < 2*end+int(want) {
		t.Fatalf("zip of %d bytes too small to hold its end back", len(zip))
	}
	up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != urlPath {
			return false
		}
		streamed := relay.after(want)
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Length", strconv.Itoa(len(zip)))
		w.Write(zip[:len(zip)-end])
		http.NewResponseController(w).Flush()
		select {
		case <-streamed:
		case <-time.After(time.Minute):
		case <-r.Context().Done():
			return true
		}
		w.Write(zip[len(zip)-end:])
		return true
	}
}
