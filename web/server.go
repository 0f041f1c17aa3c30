package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/auth"
	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
)

// The dashboard: server-rendered pages under /ui/ and the JSON API they are
// built from under /api/ (see [Server.Install] for the routes). Every string
// shown comes from the internet (module paths, versions, advisory texts,
// User-Agents, reasons) and is hostile: pages are html/template only, with a
// Content-Security-Policy that allows no script and no inline style, and
// every form carries a CSRF token.

//go:embed templates/*.tmpl static/*
var assets embed.FS

// Options configures [NewServer]. Every store role is required unless its
// comment says otherwise.
type Options struct {
	// Audit is read for the overview, the audit log, the version and
	// advisory pages, and appended to for every change made in the
	// dashboard (exemptions).
	Audit store.Audit
	// Facts are the per-version facts (vulnerabilities, license, ...).
	Facts store.VersionFacts
	// VulnDB is the synced vulnerability database (advisories, data age).
	VulnDB store.VulnDB
	// Sums is the checksum store (source of a version's hashes).
	Sums store.Sums
	// SBOMs tells whether a version has an SBOM to download. Nil: links are
	// shown regardless.
	SBOMs store.SBOMs
	// Exemptions are listed, added and revoked on the policy page.
	Exemptions store.Exemptions
	// Capabilities are the versions' capability facts (package
	// scanner/caps): the version page shows them and what they add to the
	// version before. Nil: not shown.
	Capabilities store.Capabilities

	// Policy is the policy in force; nil: the page shows the default.
	Policy func() *policy.Policy
	// Decide makes the proxy's decision on a version (as GET /api/decision
	// does). Nil: the version page shows no decision.
	Decide func(ctx context.Context, m module.Version) (policy.Decision, error)
	// Health reports named components ("upstream", "checksum database",
	// "database") as "ok" or what is wrong. Nil: the overview shows none.
	Health func(ctx context.Context) map[string]string
	// Sessions logs in with a token and resolves session cookies. Nil:
	// authentication is off and every visitor is an admin (the embedded
	// quick start on localhost).
	Sessions Sessions
	// Tokens, if set, adds the admins' token page.
	Tokens Tokens

	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Logger logs failures; nil: slog.Default().
	Logger *slog.Logger
}

// Sessions is the dashboard's view of authentication (auth.Authenticator
// implements it): exchanging a token for a session cookie and ending the
// session. Resolving the cookie on later requests is the auth middleware's
// job: it puts the [auth.Identity] in the request's context.
type Sessions interface {
	// Login checks token and, if it authenticates, sets the session cookie
	// (HttpOnly, SameSite=Strict, Secure under TLS) on w and returns who it
	// is. A wrong token is an error that does not say whether the token
	// exists.
	Login(w http.ResponseWriter, r *http.Request, token string) (auth.Identity, error)
	// Logout ends r's session, if any, and clears its cookie on w.
	Logout(w http.ResponseWriter, r *http.Request) error
}

// Token is an API token as the token page lists it.
type Token struct {
	Name     string
	Role     auth.Role
	Created  time.Time
	LastUsed time.Time // zero: never used
}

// Tokens manages API tokens for the admins' token page.
type Tokens interface {
	// ListTokens returns every token, without secrets.
	ListTokens(ctx context.Context) ([]Token, error)
	// CreateToken makes a token and returns its secret, shown once.
	CreateToken(ctx context.Context, name string, role auth.Role) (secret string, err error)
	// RevokeToken deletes the token; fs.ErrNotExist if there is none.
	RevokeToken(ctx context.Context, name string) error
}

// Server serves the dashboard and its JSON API.
type Server struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	pages map[string]*template.Template
}

// NewServer returns the dashboard's server. It does no I/O.
func NewServer(opts Options) (*Server, error) {
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, pages: map[string]*template.Template{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if opts.Audit == nil || opts.Facts == nil || opts.VulnDB == nil || opts.Sums == nil || opts.Exemptions == nil {
		return nil, errors.New("web: Audit, Facts, VulnDB, Sums and Exemptions are required")
	}
	names, err := fs.Glob(assets, "templates/*.tmpl")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "templates/layout.tmpl" {
			continue
		}
		t, err := template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.tmpl", n)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		s.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".tmpl")] = t
	}
	return s, nil
}

// Install registers every route of the dashboard and its API on mux: the one
// place routes are named. need is the least role each route requires (the
// auth middleware's table must agree; the handlers check it again).
//
//	GET  /ui/                                  overview
//	GET  /ui/audit                             audit log (filters as /api/audit/export)
//	GET  /ui/version/{module}/@v/{version}     one version (escaped as in GOPROXY)
//	GET  /ui/advisory/{id}                     one advisory and who fetched what it affects
//	GET  /ui/policy                            policy in force, exemptions, their history
//	POST /ui/admin/exemptions                  add an exemption (admin)
//	POST /ui/admin/exemptions/{id}/revoke      revoke one (admin)
//	GET  /ui/admin/tokens, POST /ui/admin/tokens, POST /ui/admin/tokens/{name}/revoke (admin, with Tokens)
//	GET  /ui/login, POST /ui/login, POST /ui/logout
//	GET  /ui/static/...                        embedded CSS
//	GET  /api/overview, /api/audit, /api/versions/{module}/@v/{version},
//	     /api/advisories/{id}, /api/exemptions
//	POST /api/exemptions, DELETE /api/exemptions/{id} (admin; JSON)
func (s *Server) Install(mux *http.ServeMux) {
	page := func(pattern string, need auth.Role, fn func(w http.ResponseWriter, r *http.Request) error) {
		mux.Handle(pattern, s.handle(need, fn))
	}
	page("GET /ui/{$}", auth.Auditor, s.serveOverview)
	page("GET /ui/audit", auth.Auditor, s.serveAudit)
	page("GET /ui/version/{mod...}", auth.Auditor, s.serveVersion)
	page("GET /ui/advisory/{id}", auth.Auditor, s.serveAdvisory)
	page("GET /ui/policy", auth.Auditor, s.servePolicy)
	page("POST /ui/admin/exemptions", auth.Admin, s.addExemption)
	page("POST /ui/admin/exemptions/{id}/revoke", auth.Admin, s.revokeExemption)
	if s.opts.Tokens != nil {
		page("GET /ui/admin/tokens", auth.Admin, s.serveTokens)
		page("POST /ui/admin/tokens", auth.Admin, s.createToken)
		page("POST /ui/admin/tokens/{name}/revoke", auth.Admin, s.revokeToken)
	}
	page("GET /ui/login", "", s.serveLogin)
	page("POST /ui/login", "", s.login)
	page("POST /ui/logout", "", s.logout)
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /ui/static/", s.secure(http.StripPrefix("/ui/static/", staticHandler(static))))
	mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))

	page("GET /api/overview", auth.Auditor, s.apiOverview)
	page("GET /api/audit", auth.Auditor, s.apiAudit)
	page("GET /api/versions/{mod...}", auth.Auditor, s.apiVersion)
	page("GET /api/advisories/{id}", auth.Auditor, s.apiAdvisory)
	page("GET /api/exemptions", auth.Auditor, s.apiExemptions)
	page("POST /api/exemptions", auth.Admin, s.apiAddExemption)
	page("DELETE /api/exemptions/{id}", auth.Admin, s.apiRevokeExemption)
}

// Handler returns a mux with only the dashboard's routes (for tests and for
// mounting under /ui/ and /api/).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Install(mux)
	return mux
}

func staticHandler(fsys fs.FS) http.Handler {
	fsrv := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// csp allows the page's own stylesheet and images, and nothing else: no
// script at all, no inline style, no framing, forms only to this origin.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func (s *Server) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// httpError is an error with the status and the message the user sees
// (defined in sbom.go); loginRequired sends a browser to the login page.
var errLoginRequired = errors.New("login required")

// handle adapts a handler that returns an error: the one place where the
// identity is resolved, the role checked, CSRF verified on every POST, and
// errors rendered.
func (s *Server) handle(need auth.Role, fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return s.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		ctx, id, ok := s.identify(r)
		r = r.WithContext(ctx)
		var err error
		switch {
		case need != "" && !ok:
			err = errLoginRequired
		case need != "" && !id.Role.Allows(need):
			err = &httpError{http.StatusForbidden, fmt.Sprintf("this needs the %s role; you are %s", need, id.Role)}
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			err = s.checkCSRF(r)
		}
		if err == nil {
			err = fn(w, r)
		}
		if err != nil {
			s.renderError(w, r, err)
		}
	}))
}

// identify returns who makes r: the identity the auth middleware put in the
// context; without one, with authentication off (no Sessions), an admin.
func (s *Server) identify(r *http.Request) (context.Context, auth.Identity, bool) {
	ctx := r.Context()
	if id, ok := auth.FromContext(ctx); ok && id.Role != "" {
		return ctx, id, true
	}
	if s.opts.Sessions == nil {
		id := auth.Identity{Role: auth.Admin}
		return auth.WithIdentity(ctx, id), id, true
	}
	return ctx, auth.Identity{}, false
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// renderError is the one place errors become statuses and pages.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errLoginRequired) {
		if isAPI(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="modgate"`)
			writeJSONStatus(w, http.StatusUnauthorized, map[string]string{"error": "authentication required"})
			return
		}
		http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	status, msg := errorStatus(err)
	if status >= 500 {
		s.log.Error("dashboard", "method", r.Method, "path", r.URL.Path, "status", status, "err", err.Error())
		msg = "internal error (logged)"
	}
	if isAPI(r) {
		writeJSONStatus(w, status, map[string]string{"error": msg})
		return
	}
	w.WriteHeader(status)
	s.render(w, r, "error", map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg})
}

func notFoundf(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

// view is what every page's template gets.
type view struct {
	Title  string
	User   auth.Identity
	Auth   bool // authentication is on (show logout)
	Tokens bool // the token page exists
	CSRF   string
	Path   string
	Data   any
}

// render executes page with data into a buffer first, so a template error
// never leaves half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, page string, data any) {
	t := s.pages[page]
	id, _ := auth.FromContext(r.Context())
	v := view{User: id, Auth: s.opts.Sessions != nil, Tokens: s.opts.Tokens != nil, CSRF: s.csrfToken(w, r), Path: r.URL.Path, Data: data}
	var b bytes.Buffer
	if t == nil {
		s.log.Error("dashboard: no template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		s.log.Error("dashboard: template", "page", page, "err", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

func writeJSON(w http.ResponseWriter, v any) error {
	writeJSONStatus(w, http.StatusOK, v)
	return nil
}

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// Cookies. The session cookie is HttpOnly and SameSite=Strict (Secure under
// TLS); the CSRF cookie is the double-submit token every form repeats in a
// hidden field, checked on every state-changing request.
const (
	sessionCookie = "modgate_session"
	csrfCookie    = "modgate_csrf"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
)

func secureRequest(r *http.Request) bool {
	return r.TLS != nil
}

// csrfToken returns the request's CSRF token, setting a new cookie if it has
// none.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	if v, ok := r.Context().Value(csrfKey{}).(string); ok {
		return v
	}
	b := make([]byte, 32)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	return tok
}

type csrfKey struct{}

// checkCSRF accepts a state-changing request only if it repeats the CSRF
// cookie in the form field (or, for the JSON API, the X-CSRF-Token header),
// or if it is an API call not made with a browser session (a token in the
// Authorization header is not sent by browsers on their own).
func (s *Server) checkCSRF(r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); isAPI(r) && (err != nil || c.Value == "") {
		// Not authenticated by the session cookie: no ambient authority
		// for a forged request to borrow. Still insist on JSON, which a
		// cross-site form cannot send.
		if ct := r.Header.Get("Content-Type"); r.Method == http.MethodPost && !strings.HasPrefix(ct, "application/json") {
			return &httpError{http.StatusUnsupportedMediaType, "want Content-Type: application/json"}
		}
		return nil
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) < 32 {
		return &httpError{http.StatusForbidden, "missing CSRF cookie: reload the page and try again"}
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
		got = r.PostFormValue(csrfField)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) != 1 {
		return &httpError{http.StatusForbidden, "bad CSRF token: reload the page and try again"}
	}
	return nil
}

// versionPath is the escaped "module/@v/version" of the version routes.
func versionPath(m module.Version) string {
	p, err1 := module.EscapePath(m.Path)
	v, err2 := module.EscapeVersion(m.Version)
	if err1 != nil || err2 != nil {
		return ""
	}
	return p + "/@v/" + v
}

// parseVersionPath parses the {mod...} of the version routes.
func parseVersionPath(s string) (module.Version, error) {
	p, v, ok := strings.Cut(s, "/@v/")
	if !ok {
		return module.Version{}, badRequest("want /<module>/@v/<version>")
	}
	path, err := module.UnescapePath(p)
	if err != nil {
		return module.Version{}, badRequest("bad module path: %v", err)
	}
	version, err := module.UnescapeVersion(v)
	if err != nil {
		return module.Version{}, badRequest("bad version: %v", err)
	}
	return module.Version{Path: path, Version: version}, nil
}

var funcs = template.FuncMap{
	"versionURL": func(path, version string) string {
		vp := versionPath(module.Version{Path: path, Version: version})
		if vp == "" {
			return ""
		}
		return "/ui/version/" + vp
	},
	"sbomURL": func(m module.Version, format string) string {
		return "/api/sbom/" + versionPath(m) + "?format=" + url.QueryEscape(format)
	},
	"advisoryURL": func(id string) string { return "/ui/advisory/" + url.PathEscape(id) },
	"pkgsiteURL":  func(id string) string { return "https://pkg.go.dev/vuln/" + url.PathEscape(id) },
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return fmtAge(now.Sub(t)) + " ago"
	},
	"age": fmtAge,
	// pubsource says in words what a publication time's source proves.
	"pubsource": func(src string) string {
		switch src {
		case store.PublishedIndex:
			return "when the public mirror first served it"
		case store.PublishedUpstream:
			return "the upstream mirror's Last-Modified"
		case store.PublishedSumDB:
			return "its record was in a signed tree head modgate first saw then: published no later"
		}
		return src
	},
	"join":    strings.Join,
	"trimcap": func(s string) string { return strings.TrimPrefix(s, "CAPABILITY_") },
	"list":    func(s ...string) []string { return s },
	"allows": func(id auth.Identity, need string) bool {
		return id.Role.Allows(auth.Role(need))
	},
}

func fmtAge(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
