package upstream

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// How direct mode is confined.
//
// The go command run by "direct" opens connections itself: the go-get
// discovery request (https://<module path>?go-get=1), the GOPROXY-protocol
// requests of a "mod" go-import meta tag, and git's clones. Any of them may
// name a host chosen by hostile content (a module path, a meta tag, a
// redirect). modgate cannot hook the child's dialer, so:
//
//  1. Every run gets its own egressProxy, an HTTP CONNECT proxy on
//     127.0.0.1, named in HTTPS_PROXY for the go command and in http.proxy for
//     git (curl). It resolves each target and dials it through egressDialer,
//     which checks the address actually connected to against --direct-allow:
//     after DNS, on every connection, so a redirect or a rebinding name is
//     checked like the first request.
//  2. A proxy alone is not enough: Go's net/http never uses a proxy for
//     "localhost" or a loopback IP literal (see
//     golang.org/x/net/http/httpproxy, useProxy), so a meta tag naming
//     https://127.0.0.1:9443/ would be fetched directly. Therefore the proxy
//     terminates TLS itself with certificates from a throwaway authority
//     created for the run, and the child trusts only that authority
//     (SSL_CERT_FILE/SSL_CERT_DIR for the go command, GIT_SSL_CAINFO,
//     GIT_SSL_CAPATH and http.sslCAInfo for git). A connection that
//     bypasses the proxy fails its TLS handshake before any request is sent,
//     whatever certificate the target has. The proxy makes its own TLS
//     connection to the real host, verified against DirectRootCAs (or the
//     system roots).
//  3. Plain http is refused (the go command uses it only with GOINSECURE,
//     which is not passed), git may use https only (GIT_ALLOW_PROTOCOL=https,
//     which the go command also honours when choosing a scheme; ssh and
//     git:// would dial around the proxy), and GOVCS=*:git keeps other
//     version control tools, with their own network stacks, out.
//  4. A module path whose host is refused is answered before the go command
//     starts (see direct.fetch), so a loopback literal module path never
//     causes even a TCP connection from the child.
//
// Because every byte from the network passes through the proxy, it also
// enforces the response-header timeout and the minimum transfer rate on
// what direct mode downloads, so a hanging host fails within
// Options.Timeout or Options.IdleTimeout instead of holding a slot for the
// whole DirectTimeout.
//
// What is left: a bypassing connection to a loopback port still completes
// its TCP handshake and sends a TLS ClientHello before failing; no HTTP
// request reaches the service. Options.Env is added after these settings
// and can loosen them (tests use it for file:// repositories).
type egressProxy struct {
	dial          *egressDialer
	roots         *x509.CertPool
	headerTimeout time.Duration
	idleTimeout   time.Duration
	minRate       int64

	caPEM  []byte
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	leafK  *ecdsa.PrivateKey

	ln        net.Listener
	srv       *http.Server
	transport *http.Transport

	mu       sync.Mutex
	leaves   map[string]*tls.Certificate
	conns    map[net.Conn]struct{}
	failures []error // refusals and timeouts, the first few
	closed   bool
}

// startEgressProxy creates the run's authority, listens on 127.0.0.1 and
// serves. Close it when the run is over.
func startEgressProxy(dial *egressDialer, roots *x509.CertPool, headerTimeout, idleTimeout time.Duration, minRate int64) (*egressProxy, error) {
	p := &egressProxy{
		dial:          dial,
		roots:         roots,
		headerTimeout: headerTimeout,
		idleTimeout:   idleTimeout,
		minRate:       minRate,
		leaves:        map[string]*tls.Certificate{},
		conns:         map[net.Conn]struct{}{},
	}
	if err := p.newAuthority(); err != nil {
		return nil, fmt.Errorf("direct: creating the egress proxy's certificate authority: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("direct: starting the egress proxy: %w", err)
	}
	p.ln = ln
	p.transport = &http.Transport{
		Proxy:                 nil, // never modgate's own proxy settings: the dial check must see the target
		DialContext:           dial.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   headerTimeout,
		ResponseHeaderTimeout: headerTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go p.srv.Serve(ln)
	return p, nil
}

// URL is the proxy's URL for HTTPS_PROXY and http.proxy.
func (p *egressProxy) URL() string { return "http://" + p.ln.Addr().String() }

// Close stops the proxy and every tunnel.
func (p *egressProxy) Close() {
	p.srv.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.transport.CloseIdleConnections()
}

// record keeps a refusal or timeout for the run's error message.
func (p *egressProxy) record(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failures) < 4 {
		p.failures = append(p.failures, err)
	}
}

// failure returns what the proxy recorded: cause is a refusal (first) or a
// timeout, which explains a failed run better than the go command can;
// note is another failure (a lookup, a TLS error of the real host), which
// only adds to the go command's words. Requests the child itself abandoned
// are not failures.
func (p *egressProxy) failure() (cause, note error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, err := range p.failures {
		var refused *refusedError
		switch {
		case errors.As(err, &refused):
			return err, nil
		case errors.Is(err, ErrTimeout):
			if cause == nil {
				cause = err
			}
		case errors.Is(err, context.Canceled):
		default:
			if note == nil {
				note = err
			}
		}
	}
	if cause != nil {
		return cause, nil
	}
	return nil, note
}

// writeCA writes the authority's certificate as dir/ca.pem, the only file
// in dir, and returns its path.
func (p *egressProxy) writeCA(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	file := filepath.Join(dir, "ca.pem")
	return file, os.WriteFile(file, p.caPEM, 0o644)
}

func (p *egressProxy) newAuthority() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "modgate direct-mode egress proxy (one run)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	p.caCert, p.caKey, p.leafK = cert, key, leafKey
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return nil
}

// leaf returns a certificate for host signed by the run's authority.
func (p *egressProxy) leaf(host string) (*tls.Certificate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.leaves[host]; ok {
		return c, nil
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(48 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if a, err := netip.ParseAddr(host); err == nil {
		tmpl.IPAddresses = []net.IP{a.AsSlice()}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &p.leafK.PublicKey, p.caKey)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: p.leafK}
	p.leaves[host] = c
	return c, nil
}

// ServeHTTP handles the child's proxy requests: CONNECT only.
func (p *egressProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		err := fmt.Errorf("modgate refused a plain http request to %s: direct mode uses https only", r.URL.Host)
		p.record(&refusedError{Host: r.URL.Hostname(), Reason: "plain http"})
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		http.Error(w, "modgate: bad CONNECT target", http.StatusBadRequest)
		return
	}
	// Refuse early so the child fails fast; the dial checks again.
	if _, err := p.dial.allowed(r.Context(), host); err != nil {
		var refused *refusedError
		if !errors.As(err, &refused) {
			err = fmt.Errorf("direct: looking up %s: %w", host, err)
		}
		p.record(err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	cert, err := p.leaf(host)
	if err != nil {
		http.Error(w, "modgate: "+err.Error(), http.StatusInternalServerError)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		conn.Close()
		return
	}
	tc := tls.Server(&bufferedConn{Conn: conn, r: brw.Reader}, &tls.Config{
		Certificates: []tls.Certificate{*cert},
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
	})
	cn := &closeNotifyConn{Conn: tc, done: make(chan struct{})}
	if !p.track(cn) {
		cn.Close()
		return
	}
	inner := &http.Server{
		Handler:           p.forwarder(host, port),
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go inner.Serve(&oneConnListener{conn: cn})
}

// track remembers c so Close can close it; false if already closed.
func (p *egressProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// forwarder relays the tunnel's requests to https://host:port, one at a
// time, without following redirects: the child follows them, and each new
// target is checked again.
func (p *egressProxy) forwarder(host, port string) http.Handler {
	authority := net.JoinHostPort(host, port)
	if port == "443" {
		authority = host
		if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
			authority = "[" + host + "]"
		}
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "https"
			pr.Out.URL.Host = authority
			pr.Out.Host = authority
		},
		Transport:     p.transport,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
		ModifyResponse: func(resp *http.Response) error {
			minRate := p.minRate
			if resp.Header.Get("Content-Type") == "application/x-git-upload-pack-result" {
				// While a server prepares a large pack, git's upload-pack
				// sends only keepalive packets (uploadpack.keepAlive,
				// every 5s by default): a few bytes, far below any rate.
				// Such a response gets the idle timeout only.
				minRate = 0
			}
			resp.Body = p.watched(resp.Body, "https://"+authority, minRate)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("%w: direct: https://%s did not answer within %v", ErrTimeout, authority, p.headerTimeout)
			}
			var refused *refusedError
			if errors.As(err, &refused) {
				err = refused
			}
			p.record(err)
			http.Error(w, "modgate: "+err.Error(), http.StatusBadGateway)
		},
	}
}

// watched wraps a response body with the idle timeout and minimum rate.
func (p *egressProxy) watched(rc io.ReadCloser, where string, minRate int64) io.ReadCloser {
	w := &watchedBody{rc: rc}
	w.stall = newStallWatch(where, p.idleTimeout, minRate, func(cause error) {
		w.mu.Lock()
		w.cause = cause
		w.mu.Unlock()
		p.record(cause)
		rc.Close() // makes the waiting Read return
	})
	return w
}

type watchedBody struct {
	rc    io.ReadCloser
	stall *stallWatch
	mu    sync.Mutex
	cause error
}

func (w *watchedBody) Read(b []byte) (int, error) {
	w.stall.before()
	n, err := w.rc.Read(b)
	if serr := w.stall.after(n); serr != nil && err == nil {
		w.rc.Close()
		return n, serr
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil && w.cause != nil {
		err = w.cause
	}
	return n, err
}

func (w *watchedBody) Close() error {
	w.stall.stop()
	return w.rc.Close()
}

// bufferedConn reads what the CONNECT request's reader already buffered
// before reading the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// oneConnListener hands out one connection, then blocks until that
// connection is closed, so the http.Server serving it keeps serving it and
// then returns.
type oneConnListener struct {
	mu   sync.Mutex
	conn *closeNotifyConn
	used bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	used := l.used
	l.used = true
	l.mu.Unlock()
	if !used {
		return l.conn, nil
	}
	<-l.conn.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error { return nil }
func (l *oneConnListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
}

// closeNotifyConn ends its listener's Accept when the connection closes,
// so the serving goroutine exits.
type closeNotifyConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
}

func (c *closeNotifyConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// hostLimiter bounds concurrent work per host.
type hostLimiter struct {
	per   int
	mu    sync.Mutex
	hosts map[string]*hostSlots
}

type hostSlots struct {
	sem   chan struct{}
	users int
}

func newHostLimiter(per int) *hostLimiter {
	return &hostLimiter{per: per, hosts: map[string]*hostSlots{}}
}

// acquire waits for one of host's slots; release it with the returned
// function.
func (l *hostLimiter) acquire(ctx context.Context, host string) (func(), error) {
	l.mu.Lock()
	s := l.hosts[host]
	if s == nil {
		s = &hostSlots{sem: make(chan struct{}, l.per)}
		l.hosts[host] = s
	}
	s.users++
	l.mu.Unlock()
	done := func() {
		l.mu.Lock()
		s.users--
		if s.users == 0 {
			delete(l.hosts, host)
		}
		l.mu.Unlock()
	}
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem; done() }, nil
	case <-ctx.Done():
		done()
		return nil, context.Cause(ctx)
	}
}
