package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
)

func TestNeed(t *testing.T) {
	tests := []struct {
		name, method, path string
		want               Role
	}{
		{"health", "GET", "/healthz", Public},
		{"ready", "HEAD", "/readyz", Public},
		{"health POST is not public", "POST", "/healthz", Reader},
		{"login page", "GET", "/ui/login", Public},
		{"login form", "POST", "/ui/login", Public},
		{"logout", "POST", "/ui/logout", Public},
		{"static", "GET", "/ui/static/app.css", Public},
		{"static escape", "GET", "/ui/static/../admin/tokens", Admin},
		{"login escape", "GET", "/ui/login/../audit", Auditor},
		{"dashboard", "GET", "/ui/", Auditor},
		{"dashboard root", "GET", "/ui", Auditor},
		{"version page", "GET", "/ui/version/example.com/m/@v/v1.0.0", Auditor},
		{"dashboard form", "POST", "/ui/exemptions", Admin},
		{"dashboard admin", "GET", "/ui/admin/tokens", Admin},
		{"protocol", "GET", "/example.com/m/@v/list", Reader},
		{"latest", "GET", "/example.com/m/@latest", Reader},
		{"zip", "GET", "/example.com/m/@v/v1.0.0.zip", Reader},
		{"sumdb", "GET", "/sumdb/sum.golang.org/lookup/example.com/m@v1.0.0", Reader},
		{"vulndb", "GET", "/vulndb/index/db.json", Reader},
		{"vulndb status", "GET", "/vulndb-status", Reader},
		{"metrics", "GET", "/metrics", Reader},
		{"unknown", "GET", "/nothing/here", Reader},
		{"root", "GET", "/", Reader},
		{"decision", "GET", "/api/decision/example.com/m/@v/v1.0.0", Reader},
		{"audit export", "GET", "/api/audit/export", Auditor},
		{"audit checkpoint", "GET", "/api/audit/checkpoint", Auditor},
		{"audit checkpoint written", "POST", "/api/audit/checkpoint", Admin},
		{"sbom", "GET", "/api/sbom/example.com/m/@v/v1.0.0", Auditor},
		{"project sbom", "POST", "/api/sbom/project", Auditor},
		{"policy", "GET", "/api/policy", Auditor},
		{"exemptions list", "GET", "/api/exemptions", Auditor},
		{"policy reload", "POST", "/api/policy/reload", Admin},
		{"exemption add", "POST", "/api/exemptions", Admin},
		{"exemption delete", "DELETE", "/api/exemptions/3", Admin},
		{"tokens list", "GET", "/api/tokens", Admin},
		{"token create", "POST", "/api/tokens", Admin},
		{"unknown api write", "PUT", "/api/whatever", Admin},
		{"decision escape", "GET", "/api/decision/../tokens", Admin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Need(tt.method, tt.path); got != tt.want {
				t.Errorf("Need(%s, %s) = %q, want %q", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

func TestToken(t *testing.T) {
	tok, prefix, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "mgt_") || len(tok) != 4+43 {
		t.Errorf("token %q: want mgt_ and 43 characters", tok)
	}
	if p, ok := Prefix(tok); !ok || p != prefix || len(p) != PrefixLen || !strings.HasPrefix(tok, "mgt_"+p) {
		t.Errorf("Prefix(%q) = %q, %v; NewToken said %q", tok, p, ok, prefix)
	}
	if hash != Hash(tok) || len(hash) != 64 {
		t.Errorf("hash %q", hash)
	}
	tok2, _, _, _ := NewToken()
	if tok2 == tok {
		t.Errorf("two tokens are equal")
	}
	for _, bad := range []string{"", "mgt_", "mgt_short", "xxx_" + tok[4:], tok + "x", "mgt_" + strings.Repeat("!", 43)} {
		if _, ok := Prefix(bad); ok {
			t.Errorf("Prefix(%q) accepted a malformed token", bad)
		}
	}
	for _, name := range []string{"ci-payments", "alice@example.com", "a.b_c"} {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", "a b", "a\nb", "a\x00", strings.Repeat("x", 65), "ä", "a:b", "a/b"} {
		if err := CheckName(name); err == nil {
			t.Errorf("CheckName(%q) accepted it", name)
		}
	}
	if _, err := ParseRole("root"); err == nil {
		t.Errorf("ParseRole(root) accepted it")
	}
}

func TestLockRule(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 17; n++ {
		got = append(got, defaultRule.lockFor(n))
	}
	want := []time.Duration{0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}
	for i := range want {
		want[i] *= time.Second
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lockouts of the 1st to 17th failure (-want +got):\n%s", diff)
	}
	if d := defaultRule.lockFor(1 << 30); d != 5*time.Minute {
		t.Errorf("lockFor(huge) = %v, want the maximum", d)
	}
}

func TestAddressKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "addr:192.0.2.1"},
		{"::ffff:192.0.2.1", "addr:192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "addr:2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "addr:2001:db8:1:2::/64"},
		{"fe80::1%eth0", "addr:fe80::/64"},
		{"pipe", "addr:pipe"},
		{strings.Repeat("x", 100), "addr:" + strings.Repeat("x", 64)},
	}
	for _, tt := range tests {
		if got := addressKey(tt.in); got != tt.want {
			t.Errorf("addressKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

type fixture struct {
	st    store.Store
	auth  *Authenticator
	clock *clock
	h     http.Handler
	seen  *Identity
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newFixture(t *testing.T, required bool) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newReplica(t, st, &clock{t: time.Now()}, required, -1)
}

// newReplica is an Authenticator on st, as one modgate process would have.
func newReplica(t *testing.T, st store.Store, c *clock, required bool, cacheTTL time.Duration) *fixture {
	f := &fixture{st: st, clock: c, seen: &Identity{}}
	f.auth = New(Options{Tokens: st, Required: required, LoginPath: "/ui/login", Now: f.clock.now, CacheTTL: cacheTTL,
		Logger: slog.New(slog.DiscardHandler)})
	f.h = f.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := FromContext(r.Context())
		*f.seen = id
		if r.Header.Get("Authorization") != "" {
			t.Errorf("the handler sees the Authorization header")
		}
		w.Write([]byte("ok"))
	}))
	return f
}

func (f *fixture) token(t *testing.T, name string, role Role) string {
	t.Helper()
	tok, prefix, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateToken(context.Background(), &store.Token{Name: name, Role: string(role), Prefix: prefix, Hash: hash}); err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) do(method, path string, set func(*http.Request)) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if set != nil {
		set(r)
	}
	w := httptest.NewRecorder()
	*f.seen = Identity{}
	f.h.ServeHTTP(w, r)
	return w
}

func basic(user, pw string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pw) }
}

func TestMiddleware(t *testing.T) {
	f := newFixture(t, true)
	reader := f.token(t, "ci", Reader)
	admin := f.token(t, "alice", Admin)
	revoked := f.token(t, "old", Admin)
	if _, err := f.st.RevokeToken(context.Background(), "old", time.Now()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		method string
		path   string
		set    func(*http.Request)
		status int
		id     Identity
	}{
		{"public without credentials", "GET", "/healthz", nil, 200, Identity{}},
		{"public with a bad token", "GET", "/healthz", basic("x", "bad"), 200, Identity{}},
		{"no credentials", "GET", "/example.com/m/@v/list", nil, 401, Identity{}},
		{"reader", "GET", "/example.com/m/@v/list", basic("ci", reader), 200, Identity{Token: "ci", Role: Reader}},
		{"user name ignored", "GET", "/example.com/m/@v/list", basic("anything", reader), 200, Identity{Token: "ci", Role: Reader}},
		{"bearer", "GET", "/example.com/m/@v/list", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+reader) }, 200, Identity{Token: "ci", Role: Reader}},
		{"token as user name", "GET", "/example.com/m/@v/list", basic(reader, ""), 401, Identity{}},
		{"reader on admin route", "POST", "/api/policy/reload", basic("ci", reader), 403, Identity{}},
		{"admin on admin route", "POST", "/api/policy/reload", basic("alice", admin), 200, Identity{Token: "alice", Role: Admin}},
		{"revoked", "GET", "/example.com/m/@v/list", basic("old", revoked), 401, Identity{}},
		{"other scheme", "GET", "/example.com/m/@v/list", func(r *http.Request) { r.Header.Set("Authorization", "Digest x") }, 401, Identity{}},
		{"browser to login", "GET", "/ui/", nil, 303, Identity{}},
		{"bad session to login", "GET", "/ui/", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: CookieName, Value: "forged"}) }, 303, Identity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(tt.method, tt.path, tt.set)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %q", w.Code, tt.status, w.Body)
			}
			if diff := cmp.Diff(tt.id, *f.seen); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if w.Code == 401 {
				if got := w.Header().Get("WWW-Authenticate"); got != `Basic realm="modgate", charset="UTF-8"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if got := w.Body.String(); got != ErrBadToken.Error()+"\n" {
					t.Errorf("401 body %q, want the one answer for every bad token", got)
				}
			}
			if w.Code == 303 && w.Header().Get("Location") != "/ui/login?next=%2Fui%2F" {
				t.Errorf("Location = %q", w.Header().Get("Location"))
			}
		})
	}
	// Last use recorded, at most once a minute.
	list, _ := f.st.ListTokens(context.Background())
	for _, tok := range list {
		if tok.Name == "ci" && tok.LastUsed.IsZero() {
			t.Errorf("last use of ci not recorded")
		}
	}
}

func TestAuthOff(t *testing.T) {
	f := newFixture(t, false)
	for _, set := range []func(*http.Request){nil, basic("x", "wrong")} {
		w := f.do("POST", "/api/policy/reload", set)
		if w.Code != 200 || *f.seen != (Identity{Role: Admin}) {
			t.Errorf("auth off: status %d, identity %+v; want 200 as admin without a name", w.Code, *f.seen)
		}
	}
}

func from(ip, user, pw string) func(*http.Request) {
	return func(r *http.Request) { r.RemoteAddr = ip + ":1234"; r.SetBasicAuth(user, pw) }
}

// wrongSecret is tok with its secret changed: a guess at tok's stored token.
func wrongSecret(tok string, i int) string {
	return tok[:4+PrefixLen] + fmt.Sprintf("%0*d", len(tok)-4-PrefixLen, i)
}

// TestAddressLockout checks the lockout of an address: 5 failures are free,
// then each locks it out for twice as long; its failed attempts then get 429,
// while valid tokens from it (other users behind the same NAT address) are
// served.
func TestAddressLockout(t *testing.T) {
	f := newFixture(t, true)
	good := f.token(t, "ci", Reader)
	bob := f.token(t, "bob", Reader)
	for i := range 6 {
		if w := f.do("GET", "/m/@v/list", from("192.0.2.1", "x", fmt.Sprint("wrong", i))); w.Code != 401 {
			t.Fatalf("failure %d: status %d, want 401", i+1, w.Code)
		}
	}
	w := f.do("GET", "/m/@v/list", from("192.0.2.1", "x", "wrong again"))
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), "from this address") {
		t.Fatalf("a failure while locked out: status %d, Retry-After %q, body %q; want 429, 1, from this address", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	for name, tok := range map[string]string{"ci": good, "bob": bob} {
		if w := f.do("GET", "/m/@v/list", from("192.0.2.1", name, tok)); w.Code != 200 || f.seen.Token != name {
			t.Errorf("valid token %s from the locked-out address: status %d as %q, want 200", name, w.Code, f.seen.Token)
		}
	}
	if w := f.do("GET", "/m/@v/list", from("192.0.2.2", "x", "wrong")); w.Code != 401 {
		t.Errorf("a failure from another address: status %d, want 401", w.Code)
	}
	f.clock.add(time.Second)
	if w := f.do("GET", "/m/@v/list", from("192.0.2.1", "x", "wrong")); w.Code != 401 {
		t.Fatalf("after the lockout: status %d, want 401", w.Code)
	}
	w = f.do("GET", "/m/@v/list", from("192.0.2.1", "x", "wrong"))
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
		t.Errorf("second lockout: status %d, Retry-After %q; want 429, 2 (doubled)", w.Code, w.Header().Get("Retry-After"))
	}
	// One IPv6 client is its /64.
	for i := range 6 {
		f.do("GET", "/m/@v/list", func(r *http.Request) {
			r.RemoteAddr = fmt.Sprintf("[2001:db8:7:7::%x]:1", i+1)
			r.SetBasicAuth("x", "wrong")
		})
	}
	if w := f.do("GET", "/m/@v/list", func(r *http.Request) { r.RemoteAddr = "[2001:db8:7:7::ffff]:1"; r.SetBasicAuth("x", "wrong") }); w.Code != 429 {
		t.Errorf("failures spread over one /64: status %d, want 429", w.Code)
	}
	// A browser with an expired or unknown session is sent to log in, not
	// shown a 429, even from the locked-out address.
	if w := f.do("GET", "/ui/", func(r *http.Request) {
		r.RemoteAddr = "192.0.2.1:1"
		r.AddCookie(&http.Cookie{Name: CookieName, Value: "expired"})
	}); w.Code != 303 {
		t.Errorf("browser with a bad session from the locked-out address: status %d, want 303 to the login page", w.Code)
	}
	// Login counts against the same address, and a valid token still logs in.
	r := httptest.NewRequest("POST", "/ui/login", nil)
	r.RemoteAddr = "192.0.2.1:1"
	if _, err := f.auth.Login(httptest.NewRecorder(), r, "mgt_wrong"); err == nil {
		t.Errorf("Login with a wrong token from a locked-out address succeeded")
	} else if _, ok := err.(*LimitError); !ok {
		t.Errorf("Login with a wrong token from a locked-out address: %v, want a *LimitError", err)
	}
	if _, err := f.auth.Login(httptest.NewRecorder(), r, good); err != nil {
		t.Errorf("Login with a valid token from a locked-out address: %v", err)
	}
}

// TestTokenLockout checks the lockout of a token: guesses at one stored
// token (its prefix, a wrong secret) from many addresses lock that token
// out everywhere, the right token included, while other tokens work.
func TestTokenLockout(t *testing.T) {
	f := newFixture(t, true)
	victim := f.token(t, "ci", Reader)
	other := f.token(t, "bob", Reader)
	for i := range 6 {
		ip := fmt.Sprint("198.51.100.", i+1) // a new address each time: no address lockout
		if w := f.do("GET", "/m/@v/list", from(ip, "ci", wrongSecret(victim, i))); w.Code != 401 {
			t.Fatalf("guess %d: status %d, want 401", i+1, w.Code)
		}
	}
	for _, set := range []func(*http.Request){from("198.51.100.99", "ci", wrongSecret(victim, 99)), from("203.0.113.1", "ci", victim)} {
		w := f.do("GET", "/m/@v/list", set)
		if w.Code != 429 || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), "with this token") {
			t.Errorf("locked-out token: status %d, Retry-After %q, body %q; want 429, 1, with this token", w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	if w := f.do("GET", "/m/@v/list", from("198.51.100.1", "bob", other)); w.Code != 200 {
		t.Errorf("another token: status %d, want 200", w.Code)
	}
	// The user name is not a key: guesses under the name "bob" with bob's
	// prefix unknown lock nothing of bob's.
	for i := range 8 {
		f.do("GET", "/m/@v/list", from(fmt.Sprint("198.51.101.", i+1), "bob", wrongSecret("mgt_ZZZZZZZZ"+other[12:], i)))
	}
	if w := f.do("GET", "/m/@v/list", from("203.0.113.1", "bob", other)); w.Code != 200 {
		t.Errorf("bob after guesses under his name: status %d, want 200", w.Code)
	}
	r := httptest.NewRequest("POST", "/ui/login", nil)
	if _, err := f.auth.Login(httptest.NewRecorder(), r, victim); !isTokenLimit(err) {
		t.Errorf("Login with the locked-out token: %v, want a *LimitError for the token", err)
	}
	f.clock.add(time.Second)
	if w := f.do("GET", "/m/@v/list", from("203.0.113.1", "ci", victim)); w.Code != 200 {
		t.Errorf("after the lockout: status %d, want 200", w.Code)
	}
}

func TestSessions(t *testing.T) {
	f := newFixture(t, true)
	tok := f.token(t, "sec", Auditor)
	r := httptest.NewRequest("POST", "/ui/login", nil)
	if _, err := f.auth.Login(httptest.NewRecorder(), r, "mgt_wrong"); err != ErrBadToken {
		t.Errorf("Login with a bad token: %v, want ErrBadToken", err)
	}
	w := httptest.NewRecorder()
	id, err := f.auth.Login(w, r, tok)
	if err != nil || id != (Identity{Token: "sec", Role: Auditor}) {
		t.Fatalf("Login = %+v, %v", id, err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Login set %d cookies", len(cookies))
	}
	c := cookies[0]
	if c.Name != CookieName || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || c.MaxAge != 12*3600 {
		t.Errorf("cookie %+v", c)
	}
	withCookie := func(r *http.Request) { r.AddCookie(c) }
	if w := f.do("GET", "/ui/", withCookie); w.Code != 200 || *f.seen != id {
		t.Errorf("dashboard with the session: %d %+v", w.Code, *f.seen)
	}
	if w := f.do("GET", "/ui/admin/tokens", withCookie); w.Code != 403 {
		t.Errorf("admin page as auditor: %d, want 403", w.Code)
	}
	// A cross-origin write with the cookie is refused even for the right role.
	if w := f.do("POST", "/api/sbom/project", func(r *http.Request) { withCookie(r); r.Header.Set("Origin", "https://evil.example") }); w.Code != 403 {
		t.Errorf("cross-origin POST: %d, want 403", w.Code)
	}
	if w := f.do("POST", "/api/sbom/project", func(r *http.Request) { withCookie(r); r.Header.Set("Origin", "http://example.com") }); w.Code != 200 {
		t.Errorf("same-origin POST: %d, want 200", w.Code)
	}
	// An expired session sends the browser to log in again; API calls get 401 without a Basic dialog.
	f.clock.add(13 * time.Hour)
	if w := f.do("GET", "/ui/", withCookie); w.Code != 303 {
		t.Errorf("expired session: %d, want 303", w.Code)
	}
	if w := f.do("GET", "/api/policy", withCookie); w.Code != 401 || w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("expired session on the API: %d, WWW-Authenticate %q; want 401 and none", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	// Logout ends the session.
	f.clock.add(-13 * time.Hour)
	lr := httptest.NewRequest("POST", "/ui/logout", nil)
	lr.AddCookie(c)
	lw := httptest.NewRecorder()
	if err := f.auth.Logout(lw, lr); err != nil {
		t.Fatal(err)
	}
	if got := lw.Result().Cookies(); len(got) != 1 || got[0].MaxAge >= 0 {
		t.Errorf("Logout cookies %+v, want one clearing it", got)
	}
	if w := f.do("GET", "/api/policy", withCookie); w.Code != 401 {
		t.Errorf("after logout: %d, want 401", w.Code)
	}
}

// TestCrossOrigin checks the one rule for state-changing requests: a browser
// request from another origin is refused whatever its credentials, with
// authentication on or off; same-origin pages and clients that are not
// browsers (no Origin, no Sec-Fetch-Site: modgate policy reload, curl) pass.
func TestCrossOrigin(t *testing.T) {
	on := newFixture(t, true)
	admin := on.token(t, "alice", Admin)
	off := newFixture(t, false)
	header := func(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	both := func(sets ...func(*http.Request)) func(*http.Request) {
		return func(r *http.Request) {
			for _, s := range sets {
				s(r)
			}
		}
	}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+admin) }
	tests := []struct {
		name   string
		f      *fixture
		method string
		path   string
		set    func(*http.Request)
		status int
	}{
		{"basic, foreign Origin", on, "POST", "/api/policy/reload", both(basic("alice", admin), header("Origin", "https://evil.example")), 403},
		{"basic, foreign Origin on the same host name, other port", on, "POST", "/api/policy/reload", both(basic("alice", admin), header("Origin", "http://example.com:8080")), 403},
		{"basic, Origin null", on, "POST", "/api/policy/reload", both(basic("alice", admin), header("Origin", "null")), 403},
		{"basic, Sec-Fetch-Site cross-site", on, "POST", "/api/policy/reload", both(basic("alice", admin), header("Sec-Fetch-Site", "cross-site")), 403},
		{"basic, Sec-Fetch-Site same-site", on, "DELETE", "/api/exemptions/1", both(basic("alice", admin), header("Sec-Fetch-Site", "same-site")), 403},
		{"bearer, foreign Origin", on, "PUT", "/api/whatever", both(bearer, header("Origin", "https://evil.example")), 403},
		{"bad credentials, foreign Origin: refused before they count", on, "POST", "/api/policy/reload", both(basic("alice", "wrong"), header("Origin", "https://evil.example")), 403},
		{"login form from another site", on, "POST", "/ui/login", header("Sec-Fetch-Site", "cross-site"), 403},
		{"auth off, foreign Origin", off, "POST", "/api/policy/reload", header("Origin", "https://evil.example"), 403},
		{"auth off, cross-site", off, "POST", "/api/exemptions", header("Sec-Fetch-Site", "cross-site"), 403},
		{"basic, no browser headers (modgate policy reload)", on, "POST", "/api/policy/reload", basic("alice", admin), 200},
		{"basic, same Origin", on, "POST", "/api/policy/reload", both(basic("alice", admin), header("Origin", "http://example.com")), 200},
		{"basic, Sec-Fetch-Site same-origin", on, "POST", "/api/policy/reload", both(basic("alice", admin), header("Sec-Fetch-Site", "same-origin")), 200},
		{"basic, Sec-Fetch-Site none (typed by the user)", on, "POST", "/api/policy/reload", both(basic("alice", admin), header("Sec-Fetch-Site", "none")), 200},
		{"auth off, no browser headers", off, "POST", "/api/policy/reload", nil, 200},
		{"reads are not state changes", on, "GET", "/api/policy", both(basic("alice", admin), header("Origin", "https://evil.example"), header("Sec-Fetch-Site", "cross-site")), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.f.do(tt.method, tt.path, tt.set)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %q", w.Code, tt.status, w.Body)
			}
			if tt.status == 403 {
				if got := w.Body.String(); got != ErrCrossOrigin.Error()+"\n" {
					t.Errorf("body %q, want ErrCrossOrigin", got)
				}
				if *tt.f.seen != (Identity{}) {
					t.Errorf("the handler ran as %+v", *tt.f.seen)
				}
			}
		})
	}
}

func isTokenLimit(err error) bool {
	var l *LimitError
	return errors.As(err, &l) && l.Token
}
