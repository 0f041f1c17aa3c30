package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// logWatcher is the stderr of an in-process modgate: it keeps the log and
// reports the address of the "listening" line.
type logWatcher struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string
}

func (w *logWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for _, line := range strings.Split(string(p), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			select {
			case w.addr <- rec.Addr:
			default:
			}
		}
	}
	return len(p), nil
}

func (w *logWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// serveInProcess runs `modgate serve` through run with args and data as
// MODGATE_DATA, until the test ends; it returns the base URL and the log.
func serveInProcess(t *testing.T, data string, args ...string) (string, *logWatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logWatcher{addr: make(chan string, 1)}
	done := make(chan error, 1)
	getenv := dataEnv(data)
	args = append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--vulndb", "off", "--index", "off", "--drain-delay", "0s"}, args...)
	go func() { done <- run(ctx, args, getenv, io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("modgate did not stop")
		}
	})
	select {
	case a := <-logs.addr:
		return "http://" + a, logs
	case err := <-done:
		t.Fatalf("modgate serve: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("modgate did not listen\n%s", logs)
	}
	return "", nil
}

// newTokens creates a reader, an auditor, an admin and a revoked token in the
// database of data, and returns them by name.
func newTokens(t *testing.T, data string) map[string]string {
	t.Helper()
	modgate := modgateIn(t, data)
	toks := map[string]string{}
	for _, nr := range [][2]string{{"reader", "reader"}, {"auditor", "auditor"}, {"admin", "admin"}, {"revoked", "admin"}} {
		out, _, err := modgate("token", "create", "--name", nr[0], "--role", nr[1])
		if err != nil {
			t.Fatalf("token create %s: %v", nr[0], err)
		}
		toks[nr[0]] = strings.TrimSpace(out)
	}
	if _, _, err := modgate("token", "revoke", "revoked"); err != nil {
		t.Fatalf("token revoke: %v", err)
	}
	return toks
}

// TestRoutesByRole checks every route serve mounts against every kind of
// caller: the statuses the middleware decides (401, 403, 429), and for callers
// it lets through, that the handler answered (not 401/403) or the status it
// is known to give.
func TestRoutesByRole(t *testing.T) {
	mods := e2eModules(t)
	up := testkit.NewUpstream(t, mods...)
	db := testkit.NewSumDB(t, "sum.modgate.test", mods...)
	data := t.TempDir()
	toks := newTokens(t, data)
	// Each request comes from its own address (X-Forwarded-For from a trusted
	// proxy), so the failures of this test do not lock anyone out.
	base, logs := serveInProcess(t, data, "--upstream", up.URL, "--sumdb", db.Key+" "+db.URL, "--auth", "required",
		"--trusted-proxies", "127.0.0.1")
	n := 0

	const (
		public  = "public"
		reader  = "reader"
		auditor = "auditor"
		admin   = "admin"
	)
	// want: the role the route needs; status: what the handler answers a
	// caller allowed in (0: anything but 401 and 403).
	routes := []struct {
		method, path, body string
		need               string
		status             int
	}{
		{"GET", "/healthz", "", public, 200},
		{"GET", "/readyz", "", public, 0},
		{"GET", "/ui/login", "", public, 0},
		{"GET", "/ui/static/style.css", "", public, 0},
		{"GET", "/metrics", "", reader, 200},
		{"GET", "/example.com/!upper/!lib/@v/list", "", reader, 200},
		{"GET", "/example.com/!upper/!lib/@latest", "", reader, 200},
		{"GET", "/example.com/!upper/!lib/@v/v1.0.0.info", "", reader, 200},
		{"GET", "/example.com/!upper/!lib/@v/v1.0.0.mod", "", reader, 200},
		{"GET", "/example.com/!upper/!lib/@v/v1.0.0.zip", "", reader, 200},
		{"GET", "/example.com/nosuch/@v/list", "", reader, 404},
		{"GET", "/sumdb/sum.modgate.test/supported", "", reader, 200},
		{"GET", "/sumdb/sum.modgate.test/latest", "", reader, 200},
		{"GET", "/vulndb/index/db.json", "", reader, 0},
		{"GET", "/vulndb-status", "", reader, 0},
		{"GET", "/nothing/here", "", reader, 404},
		{"GET", "/api/decision/example.com/!upper/!lib/@v/v1.0.0", "", reader, 200},
		{"GET", "/api/audit/export", "", auditor, 200},
		{"GET", "/api/policy", "", auditor, 200},
		{"GET", "/api/sbom/example.com/!upper/!lib/@v/v1.0.0", "", auditor, 0},
		{"GET", "/api/sbom/window?client=reader", "", auditor, 0},
		{"POST", "/api/sbom/project", "module x\n", auditor, 0},
		{"GET", "/api/exemptions", "", auditor, 0},
		{"GET", "/ui/", "", auditor, 0},
		{"GET", "/ui/audit", "", auditor, 0},
		{"POST", "/api/policy/reload", "", admin, 0},
		{"POST", "/api/exemptions", "{}", admin, 0},
		{"DELETE", "/api/exemptions/1", "", admin, 0},
		{"GET", "/api/tokens", "", admin, 0},
		{"GET", "/ui/admin/tokens", "", admin, 0},
	}
	rank := map[string]int{public: 0, reader: 1, auditor: 2, admin: 3}
	callers := []struct {
		name, user, token string
		rank              int // -1: not authenticated
	}{
		{"no credentials", "", "", -1},
		{"wrong token", "reader", "mgt_" + strings.Repeat("A", 43), -1},
		{"revoked token", "revoked", toks["revoked"], -1},
		{"reader", "reader", toks["reader"], 1},
		{"auditor", "auditor", toks["auditor"], 2},
		{"admin", "admin", toks["admin"], 3},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, rt := range routes {
		for _, c := range callers {
			t.Run(rt.method+" "+rt.path+" as "+c.name, func(t *testing.T) {
				req, err := http.NewRequest(rt.method, base+rt.path, strings.NewReader(rt.body))
				if err != nil {
					t.Fatal(err)
				}
				n++
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.0.%d.%d", n/250, n%250))
				if c.token != "" {
					req.SetBasicAuth(c.user, c.token)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				need := rank[rt.need]
				var want string
				switch {
				case rt.need == public:
					want = "handler"
				case c.name == "no credentials" && strings.HasPrefix(rt.path, "/ui/") && rt.method == "GET":
					// A browser without a session is sent to the login page.
					want = "303"
				case c.rank < 0:
					want = "401"
				case c.rank < need:
					want = "403"
				default:
					want = "handler"
				}
				got := resp.StatusCode
				switch want {
				case "401":
					if got != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="modgate", charset="UTF-8"` {
						t.Errorf("status %d, WWW-Authenticate %q; want 401 with a Basic challenge\n%s", got, resp.Header.Get("WWW-Authenticate"), body)
					}
				case "403", "303":
					if fmt.Sprint(got) != want {
						t.Errorf("status %d, want %s\n%s", got, want, body)
					}
				case "handler":
					if got == 401 || got == 403 || got == 429 {
						t.Errorf("status %d: refused, want the handler's answer\n%s", got, body)
					} else if rt.status != 0 && got != rt.status {
						t.Errorf("status %d, want %d\n%s", got, rt.status, body)
					}
				}
			})
		}
	}
	if t.Failed() {
		t.Logf("modgate log:\n%s", logs)
	}
	for name, tok := range toks {
		if strings.Contains(logs.String(), tok) {
			t.Errorf("the log contains the %s token", name)
		}
	}
}

// TestLockout checks, with real modgate processes, that repeated failures
// from one address get 429 with Retry-After while a good token from it
// (another user behind the same NAT address) and other addresses are served,
// that guesses at one token from many addresses lock that token out, and
// that a modgate restarted on the same data still has both lockouts.
func TestLockout(t *testing.T) {
	data := t.TempDir()
	toks := newTokens(t, data)
	args := []string{"--data", data, "--upstream", "off", "--auth", "required", "--trusted-proxies", "127.0.0.1"}
	mg := startModgate(t, args...)
	get := func(from, token string) *http.Response {
		req, _ := http.NewRequest("GET", mg.URL+"/metrics", nil)
		req.Header.Set("X-Forwarded-For", from)
		req.SetBasicAuth("x", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 6 {
		if resp := get("192.0.2.7", fmt.Sprint("wrong-", i)); resp.StatusCode != 401 {
			t.Fatalf("failure %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := get("192.0.2.7", "wrong-again")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("after 6 failures: status %d, Retry-After %q; want 429 and a delay", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := get("192.0.2.7", toks["reader"]); resp.StatusCode != 200 {
		t.Errorf("a good token from the locked-out address: status %d, want 200", resp.StatusCode)
	}
	if resp := get("192.0.2.8", toks["reader"]); resp.StatusCode != 200 {
		t.Errorf("another address: status %d, want 200", resp.StatusCode)
	}
	// Guesses at the auditor's token (its prefix, wrong secrets), each from
	// another address.
	aud := toks["auditor"]
	for i := range 6 {
		guess := aud[:12] + fmt.Sprintf("%035d", i)
		if resp := get(fmt.Sprint("198.51.100.", i+1), guess); resp.StatusCode != 401 {
			t.Fatalf("guess %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	if resp := get("192.0.2.8", aud); resp.StatusCode != 429 {
		t.Errorf("the guessed-at token: status %d, want 429", resp.StatusCode)
	}

	// A restart keeps both counts: whether or not the 1s lockouts ended
	// while modgate restarted, one more failure locks again at once (a
	// count started afresh would allow 5 more).
	mg.stop(t)
	mg = startModgate(t, args...)
	if resp := get("192.0.2.7", "wrong-after-restart"); resp.StatusCode != 401 && resp.StatusCode != 429 {
		t.Errorf("after a restart, a failure from the address: status %d, want 401 or 429", resp.StatusCode)
	}
	if resp := get("198.51.100.50", aud[:12]+fmt.Sprintf("%035d", 99)); resp.StatusCode != 401 && resp.StatusCode != 429 {
		t.Errorf("after a restart, a guess at the token: status %d, want 401 or 429", resp.StatusCode)
	}
	if resp := get("192.0.2.7", "wrong-again"); resp.StatusCode != 429 {
		t.Errorf("after a restart, a failure from the locked-out address: status %d, want 429", resp.StatusCode)
	}
	if resp := get("192.0.2.8", aud); resp.StatusCode != 429 {
		t.Errorf("after a restart, the locked-out token: status %d, want 429", resp.StatusCode)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "modgate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestEndToEndAuth drives the real go command through modgate with --auth
// required over TLS (the go command sends credentials over HTTPS only):
// credentials in GOPROXY, a wrong token, and .netrc.
func TestEndToEndAuth(t *testing.T) {
	mods := e2eModules(t)
	up := testkit.NewUpstream(t, mods...)
	db := testkit.NewSumDB(t, "sum.modgate.test", mods...)
	data := t.TempDir()
	toks := newTokens(t, data)
	certFile, keyFile := selfSigned(t, t.TempDir())
	mg := startModgate(t, "--data", data, "--upstream", up.URL, "--sumdb", db.Key+" "+db.URL,
		"--auth", "required", "--tls-cert", certFile, "--tls-key", keyFile)
	host := strings.TrimPrefix(mg.URL, "http://")

	work := t.TempDir()
	app := filepath.Join(work, "app")
	os.MkdirAll(app, 0o755)
	os.WriteFile(filepath.Join(app, "go.mod"), []byte(e2eGoMod), 0o644)
	os.WriteFile(filepath.Join(app, "main.go"), []byte(e2eMain), 0o644)
	goEnv := func(home, goproxy string, extra ...string) []string {
		return testkit.GoEnv(t, filepath.Join(work, home), goproxy,
			append([]string{"GOSUMDB=" + db.GOSUMDB(), "SSL_CERT_FILE=" + certFile, "NETRC=" + filepath.Join(work, "no-netrc")}, extra...)...)
	}

	// Credentials in GOPROXY: modules and the checksum database through modgate.
	env := goEnv("home1", "https://reader:"+toks["reader"]+"@"+host)
	testkit.RunGo(t, app, env, false, "mod", "download", "example.com/Upper/Lib@v1.0.0")
	if db.Lookups("example.com/!upper/!lib", "v1.0.0") == 0 && db.Lookups("example.com/Upper/Lib", "v1.0.0") == 0 {
		t.Logf("note: the checksum database was not consulted through modgate for this download")
	}

	// A wrong token: the go command fails and shows the 401.
	env = goEnv("home2", "https://reader:mgt_"+strings.Repeat("A", 43)+"@"+host)
	out := testkit.RunGo(t, app, env, true, "mod", "download", "example.com/Upper/Lib@v1.0.0")
	if !strings.Contains(out, "401 Unauthorized") {
		t.Errorf("go with a wrong token: output does not show 401 Unauthorized:\n%s", out)
	}
	if strings.Contains(out, strings.Repeat("A", 43)) {
		t.Errorf("go's output shows the token:\n%s", out)
	}

	// No credentials at all.
	env = goEnv("home3", "https://"+host)
	out = testkit.RunGo(t, app, env, true, "mod", "download", "example.com/Upper/Lib@v1.0.0")
	if !strings.Contains(out, "401 Unauthorized") {
		t.Errorf("go without credentials: output does not show 401 Unauthorized:\n%s", out)
	}

	// .netrc: the machine is host:port when modgate is not on 443.
	netrc := filepath.Join(work, "netrc")
	os.WriteFile(netrc, []byte("machine "+host+" login ci password "+toks["reader"]+"\n"), 0o600)
	env = goEnv("home4", "https://"+host, "NETRC="+netrc)
	testkit.RunGo(t, app, env, false, "mod", "download", "all")

	// The audit log names the token, never its secret; the log neither.
	mg.stop(t) // flushes the audit log
	recs := auditRecords(t, "--data", data)
	named := 0
	for _, r := range recs {
		if r.ClientToken == "reader" {
			named++
		}
	}
	if named == 0 {
		t.Errorf("no audit record names the token %q: %+v", "reader", recs)
	}
	line, _ := json.Marshal(recs)
	for name, tok := range toks {
		if strings.Contains(string(line), tok) || strings.Contains(mg.Logs(), tok) {
			t.Errorf("the audit log or the server log contains the %s token", name)
		}
	}
}

// TestCrossOriginPolicyReload checks that a policy reload with an admin's
// Basic credentials is refused when a browser sends it from another site,
// and that `modgate policy reload --server` (no browser headers) still works.
func TestCrossOriginPolicyReload(t *testing.T) {
	data := t.TempDir()
	toks := newTokens(t, data)
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("mode: audit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base, _ := serveInProcess(t, data, "--upstream", "off", "--auth", "required", "--policy", pol)
	post := func(set func(*http.Request)) (int, string) {
		req, _ := http.NewRequest("POST", base+"/api/policy/reload", nil)
		req.SetBasicAuth("admin", toks["admin"])
		set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for name, set := range map[string]func(*http.Request){
		"Origin":         func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
		"Sec-Fetch-Site": func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
	} {
		if code, body := post(set); code != http.StatusForbidden || !strings.Contains(body, "cross-origin request refused") {
			t.Errorf("reload from another site (%s): %d %q; want 403 cross-origin request refused", name, code, body)
		}
	}
	if code, body := post(func(r *http.Request) { r.Header.Set("Origin", base) }); code != http.StatusOK {
		t.Errorf("reload from modgate's own origin: %d %q; want 200", code, body)
	}
	u := strings.Replace(base, "http://", "http://admin:"+toks["admin"]+"@", 1)
	if _, err := logged(t, modgateIn(t, data))("policy", "reload", "--server", u); err != nil {
		t.Errorf("modgate policy reload --server: %v", err)
	}
}
