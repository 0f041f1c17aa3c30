package web_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/auth"
	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/web"
)

// hostile is text from the internet: a summary, a reason, a User-Agent.
const hostile = `<script>document.title="pwned"</script><img src=x onerror=alert(1)>`

var evil = module.Version{Path: "example.com/Evil", Version: "v1.0.0"}

type dash struct {
	st   *sqlite.Store
	srv  *httptest.Server
	path string // the SQLite file
}

// fakeSessions accepts three tokens, and stands in for the auth
// middleware too (see authenticate).
type fakeSessions struct{}

var fakeTokens = map[string]auth.Identity{
	"admin-secret":   {Token: "alice", Role: auth.Admin},
	"auditor-secret": {Token: "bob", Role: auth.Auditor},
	"reader-secret":  {Token: "ci", Role: auth.Reader},
}

func (fakeSessions) Login(w http.ResponseWriter, r *http.Request, token string) (auth.Identity, error) {
	id, ok := fakeTokens[token]
	if !ok {
		return auth.Identity{}, errors.New("bad token")
	}
	http.SetCookie(w, &http.Cookie{Name: "modgate_session", Value: "cookie-" + token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return id, nil
}

func (fakeSessions) Logout(w http.ResponseWriter, r *http.Request) error { return nil }

// authenticate is what the auth middleware does for the dashboard: the
// session cookie's identity into the context.
func authenticate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("modgate_session"); err == nil {
			if id, ok := fakeTokens[strings.TrimPrefix(c.Value, "cookie-")]; ok {
				r = r.WithContext(auth.WithIdentity(r.Context(), id))
			}
		}
		h.ServeHTTP(w, r)
	})
}

func newDash(t *testing.T, sessions web.Sessions) *dash {
	t.Helper()
	return newDashDecide(t, sessions, func(ctx context.Context, m module.Version) (policy.Decision, error) {
		return policy.Decision{Blocked: true, WouldBlock: true, Findings: []policy.Finding{{Rule: policy.RuleVulnerability,
			Action: policy.Block, Reason: "GO-2099-0001: " + hostile, Advisory: "GO-2099-0001"}}}, nil
	})
}

func newDashDecide(t *testing.T, sessions web.Sessions, decide func(context.Context, module.Version) (policy.Decision, error)) *dash {
	t.Helper()
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "modgate.db")
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	learnt := nowTime.Add(-2 * time.Hour)
	// A real entry (its shape as the Go vulnerability database serves it),
	// with hostile values in its text fields and the fixture's module.
	osv := hostileEntry(t, "GO-2099-0001", "CVE-2099-0001", evil.Path)
	if err := st.ApplyVulnSync(ctx, &store.VulnSync{
		Put: []store.VulnEntry{{ID: "GO-2099-0001", Modified: learnt, Summary: hostile, ReviewStatus: "REVIEWED",
			Aliases: []string{"CVE-2099-0001"}, Modules: []string{evil.Path}}},
		Files: []store.VulnFile{{Path: "ID/GO-2099-0001.json", JSON: osv, Gzip: gzipped(t, osv)}},
		State: store.VulnState{Source: "file:///db", DBModified: learnt, SyncedAt: learnt, AttemptedAt: learnt},
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutFacts(ctx, &store.Facts{Module: evil, Licenses: []string{"MIT"}, LicensesKnown: true,
		Published: ingestTime, PublishedSource: store.PublishedFirstSeen, UpdatedAt: ingestTime,
		Vulns: []store.Vuln{{ID: "GO-2099-0001", Fixed: "v1.0.1", LearntAt: learnt, AtIngest: false}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutChecksum(ctx, &store.Checksum{Module: evil, Kind: store.KindZip, Hash: "h1:" + strings.Repeat("A", 43) + "=",
		Source: "sumdb:sum.golang.org"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAudit(ctx, []*store.AuditEvent{
		{Time: nowTime.Add(-3 * time.Hour), Type: store.AuditFetch, ClientIP: "10.0.0.7", UserAgent: hostile,
			Module: evil.Path, Version: evil.Version, Kind: "zip", Decision: store.DecisionServed, Source: "cache"},
		{Time: nowTime.Add(-time.Hour), Type: store.AuditFetch, ClientIP: "10.0.0.8", UserAgent: "Go-http-client/1.1",
			Module: evil.Path, Version: evil.Version, Kind: "zip", Decision: store.DecisionBlocked,
			Reasons: []string{"block vulnerabilities: GO-2099-0001 " + hostile}},
	}); err != nil {
		t.Fatal(err)
	}
	s, err := web.NewServer(web.Options{
		Audit: st, Facts: st, VulnDB: st, Sums: st, SBOMs: st, Exemptions: st, Capabilities: st,
		Policy: func() *policy.Policy { return policy.Default() },
		Decide: decide,
		Health: func(context.Context) map[string]string {
			return map[string]string{"upstream": hostile, "database": "ok"}
		},
		Sessions: sessions,
		Now:      func() time.Time { return nowTime },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(authenticate(s.Handler()))
	t.Cleanup(srv.Close)
	return &dash{st: st, srv: srv, path: dbPath}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// realEntry reads an entry of the Go vulnerability database from the
// repository's real subset (../testdata/vulndb, see its README).
func realEntry(t *testing.T, id string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "vulndb", "ID", id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// hostileEntry is the real entry GO-2021-0113 with its id, aliases, summary,
// details and affected module replaced: the same fields, other values.
func hostileEntry(t *testing.T, id, alias, path string) []byte {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(realEntry(t, "GO-2021-0113"), &e); err != nil {
		t.Fatal(err)
	}
	e["id"], e["aliases"], e["summary"], e["details"] = id, []string{alias}, hostile, "details "+hostile
	affected := e["affected"].([]any)
	affected[0].(map[string]any)["package"].(map[string]any)["name"] = path
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// client returns an HTTP client with a cookie jar that does not follow
// redirects.
func (d *dash) client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestPagesRenderHostileTextInert(t *testing.T) {
	d := newDash(t, nil)
	c := d.client(t)
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"overview", "/ui/", []string{"Top blocked", "example.com/Evil@v1.0.0", "GO-2099-0001"}},
		{"audit", "/ui/audit", []string{"10.0.0.7", "format=csv"}},
		{"audit filtered", "/ui/audit?decision=blocked&module=example.com%2FEvil&since=2025-01-01", []string{"10.0.0.8"}},
		{"version", "/ui/version/example.com/!evil/@v/v1.0.0", []string{"Blocked", "GO-2099-0001", "pkg.go.dev/vuln/GO-2099-0001", "sumdb:sum.golang.org", "MIT", "No SBOM"}},
		{"advisory", "/ui/advisory/GO-2099-0001", []string{"CVE-2099-0001", "its zip was served 1 times, to 10.0.0.7 (1 served)", "10.0.0.8 (0 served, 1 refused)"}},
		{"policy", "/ui/policy", []string{"default policy (no file)", "Add an exemption"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, c, d.srv.URL+tc.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d\n%s", resp.StatusCode, body)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if strings.Contains(body, "<script") || strings.Contains(body, "<img src=x") {
				t.Errorf("hostile text rendered as markup:\n%s", body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if tc.name != "policy" && tc.name != "audit filtered" && !strings.Contains(body, "&lt;script&gt;") {
				t.Errorf("hostile text not shown escaped")
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	d := newDash(t, nil)
	c := d.client(t)
	_, body := get(t, c, d.srv.URL+"/ui/policy")
	m := csrfInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in the policy page")
	}
	form := url.Values{"module": {evil.Path}, "versions": {evil.Version}, "rule": {"GO-2099-0001"},
		"reason": {"not reachable " + hostile}, "expires": {"30d"}}
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"missing", "", http.StatusForbidden},
		{"wrong", strings.Repeat("x", 43), http.StatusForbidden},
		{"right", m[1], http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if tc.token != "" {
				f.Set("csrf", tc.token)
			}
			resp, err := c.PostForm(d.srv.URL+"/ui/admin/exemptions", f)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	list, err := d.st.ListExemptions(context.Background())
	if err != nil || len(list) != 1 || list[0].Rule != "GO-2099-0001" || list[0].GrantedBy != "dashboard" {
		t.Fatalf("exemptions after one good POST: %+v, %v", list, err)
	}
	evs, _ := d.st.AuditEvents(context.Background(), store.AuditQuery{Type: store.AuditAdmin})
	if len(evs) != 1 || evs[0].Decision != "exemption added" {
		t.Errorf("admin audit records: %+v", evs)
	}
	// The history shows it, escaped; revoke it with the form.
	_, body = get(t, c, d.srv.URL+"/ui/policy")
	if !strings.Contains(body, "exemption added") || strings.Contains(body, "<script") {
		t.Errorf("policy page after adding:\n%s", body)
	}
	resp, err := c.PostForm(d.srv.URL+"/ui/admin/exemptions/1/revoke", url.Values{"csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if list, _ := d.st.ListExemptions(context.Background()); resp.StatusCode != http.StatusSeeOther || len(list) != 0 {
		t.Errorf("revoke: status %d, exemptions left %v", resp.StatusCode, list)
	}
}

func TestLoginSessionsAndRoles(t *testing.T) {
	d := newDash(t, fakeSessions{})
	c := d.client(t)
	resp, _ := get(t, c, d.srv.URL+"/ui/audit")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login?next=") {
		t.Fatalf("anonymous /ui/audit: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = get(t, c, d.srv.URL+"/api/exemptions")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous API: %d", resp.StatusCode)
	}
	_, body := get(t, c, d.srv.URL+"/ui/login")
	csrf := csrfInput.FindStringSubmatch(body)[1]
	login := func(token string) *http.Response {
		resp, err := c.PostForm(d.srv.URL+"/ui/login", url.Values{"csrf": {csrf}, "token": {token}, "next": {"//evil.example/"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, bad := range []string{"wrong", "reader-secret"} {
		if resp := login(bad); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("login with %s: %d", bad, resp.StatusCode)
		}
	}
	resp = login("auditor-secret")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, w := range []string{"modgate_session=cookie-auditor-secret", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(sc, w) {
			t.Errorf("session cookie %q lacks %s", sc, w)
		}
	}
	if resp, body := get(t, c, d.srv.URL+"/ui/audit"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "bob (auditor)") {
		t.Errorf("auditor /ui/audit: %d", resp.StatusCode)
	}
	// An auditor may not change exemptions, even with a good CSRF token.
	resp, err := c.PostForm(d.srv.URL+"/ui/admin/exemptions", url.Values{"csrf": {csrf}, "module": {"x.example/m"}, "reason": {"r"}, "expires": {"1d"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("auditor adding an exemption: %d", resp.StatusCode)
	}
	// A JSON POST riding on the session cookie needs the CSRF header too.
	req, _ := http.NewRequest("POST", d.srv.URL+"/api/exemptions", strings.NewReader(`{"module":"x.example/m","reason":"r","expires":"1d"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("API POST with a session cookie and no CSRF header: %d", resp.StatusCode)
	}
}

func TestAPI(t *testing.T) {
	d := newDash(t, nil)
	c := d.client(t)
	resp, body := get(t, c, d.srv.URL+"/api/versions/example.com/!evil/@v/v1.0.0")
	var v struct {
		Module   string
		Decision struct{ Blocked bool }
		Fetches  []struct {
			UserAgent string `json:"user_agent"`
		}
	}
	// Its audit records: the pin of its checksum (put by newDash), then two fetches.
	if err := json.Unmarshal([]byte(body), &v); err != nil || resp.StatusCode != 200 || !v.Decision.Blocked || len(v.Fetches) != 3 || v.Fetches[1].UserAgent != hostile {
		t.Errorf("/api/versions: %d %v %+v\n%s", resp.StatusCode, err, v, body)
	}
	resp, body = get(t, c, d.srv.URL+"/api/advisories/GO-2099-0001")
	if resp.StatusCode != 200 || !strings.Contains(body, `"served_before_learnt": 1`) {
		t.Errorf("/api/advisories: %d\n%s", resp.StatusCode, body)
	}
	resp, body = get(t, c, d.srv.URL+"/api/overview")
	if resp.StatusCode != 200 || !strings.Contains(body, `"top_blocked"`) {
		t.Errorf("/api/overview: %d\n%s", resp.StatusCode, body)
	}
	// Without a browser session (auth off, or a token from the middleware),
	// a JSON POST needs no CSRF token; a form-encoded one is refused.
	post := func(ct, body string) *http.Response {
		req, _ := http.NewRequest("POST", d.srv.URL+"/api/exemptions", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("application/x-www-form-urlencoded", "module=x"); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form POST to the API: %d", resp.StatusCode)
	}
	if resp := post("application/json", `{"module":"example.com/Evil","rule":"vulnerabilities","reason":"r","expires":"2h"}`); resp.StatusCode != http.StatusCreated {
		t.Errorf("JSON POST to the API: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("DELETE", d.srv.URL+"/api/exemptions/1", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("DELETE: %v %v", resp, err)
	}
	for _, bad := range []string{"/api/versions/example.com/!evil", "/api/advisories/..%2f..%2fx", "/ui/version/example.com/!evil/@v/v9.9.9"} {
		if resp, _ := get(t, c, d.srv.URL+bad); resp.StatusCode/100 != 4 {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
}

// TestVersionPageNotChecked: a version decided without vulnerability data is
// "not checked", never "Allowed" with "No known vulnerability".
func TestVersionPageNotChecked(t *testing.T) {
	d := newDashDecide(t, nil, func(ctx context.Context, m module.Version) (policy.Decision, error) {
		// The default policy: the missing data warns.
		return policy.Default().Decide(policy.Input{Module: m, Facts: &store.Facts{Module: m}}, nowTime), nil
	})
	if err := d.st.PutFacts(context.Background(), &store.Facts{Module: module.Version{Path: "example.com/clean", Version: "v1.0.0"},
		UpdatedAt: ingestTime, Published: ingestTime, PublishedSource: store.PublishedFirstSeen}); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, d.client(t), d.srv.URL+"/ui/version/example.com/clean/@v/v1.0.0")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{"Served, not checked", "Not checked: vulnerability data: never synced (no attempt yet)"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	for _, bad := range []string{">Allowed<", "No known vulnerability"} {
		if strings.Contains(body, bad) {
			t.Errorf("page says %q about a version it has no data for", bad)
		}
	}
}

// TestVersionPageMalwareFeedUnchecked: while a malware feed lacks its data,
// a version with no known advisory is "not checked", naming the feed, never
// "No known vulnerability".
func TestVersionPageMalwareFeedUnchecked(t *testing.T) {
	data := policy.Data{VulnSynced: nowTime, VulnAttempted: nowTime, Feeds: []policy.Source{{URL: "https://feeds.example/go/all.zip",
		Attempted: nowTime.Add(-time.Minute), Error: "HTTP status 503 Service Unavailable"}}}
	d := newDashDecide(t, nil, func(ctx context.Context, m module.Version) (policy.Decision, error) {
		return policy.Default().Decide(policy.Input{Module: m, Facts: &store.Facts{Module: m, LicensesKnown: true}, Data: data}, nowTime), nil
	})
	if err := d.st.PutFacts(context.Background(), &store.Facts{Module: module.Version{Path: "example.com/clean", Version: "v1.0.0"},
		UpdatedAt: ingestTime, Published: ingestTime, PublishedSource: store.PublishedFirstSeen}); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, d.client(t), d.srv.URL+"/ui/version/example.com/clean/@v/v1.0.0")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, `<p class="warn" id="vulns-unchecked">Not checked: malware feed https://feeds.example/go/all.zip: never synced (last attempt `) {
		t.Errorf("the advisories section does not say the feed is missing:\n%s", body)
	}
	for _, bad := range []string{">Allowed<", "No known vulnerability"} {
		if strings.Contains(body, bad) {
			t.Errorf("page says %q about a version a malware feed was not checked for", bad)
		}
	}
}

// TestVersionPageUnreadablePin: a checksum row edited behind modgate's back
// into something the store could not have written does not fail the page:
// the page (and the API) say the pin cannot be read and vouches for nothing.
func TestVersionPageUnreadablePin(t *testing.T) {
	d := newDash(t, nil)
	raw, err := sql.Open("sqlite", d.path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE checksums SET hash = ? WHERE module_path = ? AND version = ? AND kind = 'zip'`,
		"h1:<script>not base64", evil.Path, evil.Version); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, d.client(t), d.srv.URL+"/ui/version/example.com/!evil/@v/v1.0.0")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, `id="unreadable-pin">The recorded .zip hash cannot be read (`) {
		t.Errorf("the page does not say the pin is unreadable:\n%s", body)
	}
	if strings.Contains(body, "<script>not base64") {
		t.Errorf("the row's hostile text reached the page unescaped")
	}
	resp, body = get(t, d.client(t), d.srv.URL+"/api/versions/example.com/!evil/@v/v1.0.0")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API status %d\n%s", resp.StatusCode, body)
	}
	var got struct {
		Unreadable []map[string]string `json:"unreadable_checksums"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Unreadable) != 1 || got.Unreadable[0]["kind"] != "zip" {
		t.Errorf("API unreadable_checksums = %v, want the zip row", got.Unreadable)
	}
}

// TestVersionPagePublishedSource: the version page states the publication
// time's source in words (the checksum database's is an upper bound, "no
// later than"), and shows first sight only as first sight.
func TestVersionPagePublishedSource(t *testing.T) {
	d := newDash(t, nil)
	tree := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		path, source string
		published    time.Time
		want         []string
		bad          []string
	}{
		{"example.com/bysumdb", store.PublishedSumDB, tree,
			[]string{`<td id="published">no later than 2026-11-20 08:00:00Z (`, "source checksum-database: its record was in a signed tree head modgate first saw then: published no later)"},
			[]string{"First seen"}},
		{"example.com/byindex", store.PublishedIndex, tree,
			[]string{`<td id="published">2026-11-20 08:00:00Z (`, "source module-index: when the public mirror first served it)"},
			[]string{"First seen", "no later than"}},
		{"example.com/unseen", store.PublishedFirstSeen, ingestTime,
			[]string{`<span class="warn">unknown</span>: no source an author cannot set (module index, upstream Last-Modified, checksum database) has dated it yet`,
				"First seen"},
			[]string{"source first-seen"}},
	} {
		m := module.Version{Path: c.path, Version: "v1.0.0"}
		if err := d.st.PutFacts(context.Background(), &store.Facts{Module: m, UpdatedAt: ingestTime, Published: c.published,
			PublishedSource: c.source, LicensesKnown: true}); err != nil {
			t.Fatal(err)
		}
		resp, body := get(t, d.client(t), d.srv.URL+"/ui/version/"+c.path+"/@v/v1.0.0")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d\n%s", c.path, resp.StatusCode, body)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: page lacks %q", c.path, w)
			}
		}
		for _, b := range c.bad {
			if strings.Contains(body, b) {
				t.Errorf("%s: page says %q", c.path, b)
			}
		}
	}
}
