package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// CookieName is the dashboard's session cookie.
const CookieName = "modgate_session"

// Options configure an [Authenticator]. Only Tokens is required.
type Options struct {
	// Tokens keeps the tokens and sessions.
	Tokens store.Tokens
	// Failures counts failed authentications for the lockout, shared by
	// every replica (see limit.go for the rules). Nil: Tokens, if it
	// implements store.AuthFailures (every store.Store does); else failures
	// are not counted.
	Failures store.AuthFailures
	// Required turns authentication on (--auth required). False (--auth off):
	// every request is let through as [Admin] with no token name, and audit
	// records name clients by address only.
	Required bool
	// Secure marks session cookies Secure (modgate serves TLS itself, or sits
	// behind a TLS-terminating proxy). Cookies set over a TLS connection are
	// Secure whatever this says.
	Secure bool
	// ClientIP names the client address that failures are counted against
	// (audit.ClientIP with the trusted proxies; an IPv6 address counts by
	// its /64). Nil: the connection's peer.
	ClientIP func(*http.Request) string
	// LoginPath is where a browser without a valid session is sent (303) when
	// it asks for a page under /ui/; empty: it gets 401 like everyone else.
	LoginPath string
	// SessionTTL is how long a dashboard login lasts; 0 means 12h.
	SessionTTL time.Duration
	// CacheTTL is how long a verified token is believed without asking the
	// store again: a revocation takes effect within it on every replica.
	// 0 means 5s; negative: ask every time.
	CacheTTL time.Duration
	// Logger logs refusals (never a token or password); nil: slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Authenticator checks credentials and roles; see [Authenticator.Middleware].
// It is safe for concurrent use.
type Authenticator struct {
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	limit *limiter
	// origin refuses cross-origin browser writes; no trusted origins.
	origin *http.CrossOriginProtection

	mu      sync.Mutex
	cache   map[string]cached   // token hash -> verified token
	touched map[int64]time.Time // token id -> last-used time last written
}

type cached struct {
	tok store.Token
	at  time.Time
}

// New returns an Authenticator. It does no I/O.
func New(opts Options) *Authenticator {
	a := &Authenticator{opts: opts, log: opts.Logger, now: opts.Now,
		origin: http.NewCrossOriginProtection(), cache: map[string]cached{}, touched: map[int64]time.Time{}}
	if a.log == nil {
		a.log = slog.Default()
	}
	failures := opts.Failures
	if failures == nil {
		failures, _ = opts.Tokens.(store.AuthFailures)
	}
	a.limit = newLimiter(failures, a.log)
	if a.now == nil {
		a.now = time.Now
	}
	if a.opts.SessionTTL <= 0 {
		a.opts.SessionTTL = 12 * time.Hour
	}
	if a.opts.CacheTTL == 0 {
		a.opts.CacheTTL = 5 * time.Second
	}
	return a
}

// ErrBadToken is the answer to any token that does not authenticate: unknown,
// malformed, revoked. It says no more, so nobody learns which tokens exist.
var ErrBadToken = errors.New("modgate: authentication required: send a valid modgate token as the HTTP Basic password " +
	"(GOPROXY=https://NAME:TOKEN@host, or a machine line in ~/.netrc)")

// LimitError refuses an attempt because of earlier failures: with a token
// that has been guessed at too often (Token), or a failed attempt from an
// address that failed too often.
type LimitError struct {
	RetryAfter time.Duration
	Token      bool // the token presented is locked out, not (only) the address
}

func (e *LimitError) Error() string {
	if e.Token {
		return fmt.Sprintf("modgate: too many failed attempts with this token (someone may be guessing it); retry after %s, "+
			"or ask an admin for a new token", e.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("modgate: too many failed logins from this address; retry after %s", e.RetryAfter.Round(time.Second))
}

// ErrCrossOrigin refuses a state-changing request that a browser sent from
// another site's page.
var ErrCrossOrigin = errors.New("modgate: cross-origin request refused: a page of another site asked your browser to change " +
	"something here (POST, PUT, DELETE, ...). Make the change from modgate's own pages, or from a client that is not " +
	"a browser (curl, modgate policy reload)")

// Middleware checks every request before next sees it, in this order:
//
//  0. A state-changing request (any method but GET, HEAD and OPTIONS) that a
//     browser sent from another origin (Sec-Fetch-Site other than
//     same-origin or none; else an Origin whose host is not the request's
//     Host) gets 403 ([ErrCrossOrigin]), on every route, whatever its
//     credentials (Basic, Bearer, cookie or none) and with authentication
//     off too: browsers attach cached Basic credentials and cookies to
//     cross-site requests, and with --auth off a page could otherwise drive
//     a modgate on localhost. Clients that are not browsers send neither
//     header and pass (net/http's CrossOriginProtection).
//  1. [Need] says which role the route needs; public routes pass at once.
//  2. With authentication off, the request passes as Identity{Role: Admin}.
//  3. Credentials: a token as the HTTP Basic password (the user name is
//     ignored: name the token there by convention), or as a Bearer token;
//     else the session cookie. None: 401 with WWW-Authenticate (a browser
//     asking for a /ui/ page is sent to LoginPath instead).
//  4. A token whose key is locked out after repeated failures gets 429
//     with Retry-After, without being checked (see limit.go).
//  5. A bad token or session: 401, the same answer for every reason, and the
//     failure counts against the address and the token it aimed at; from an
//     address already locked out, 429 with Retry-After instead. A valid
//     token or session from a locked-out address is served.
//  6. A role below the need: 403.
//  7. next runs with the [Identity] in the request's context.
//
// The Authorization header is removed before any handler runs (public routes
// and --auth off included), so no handler can log or forward a token.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		need := Need(r.Method, r.URL.Path)
		token, cookie, sent := credentials(r)
		r.Header.Del("Authorization") // whatever happens next, no handler can log or forward it
		if err := a.origin.Check(r); err != nil {
			a.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
				"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "client", a.clientIP(r))
			http.Error(w, ErrCrossOrigin.Error(), http.StatusForbidden)
			return
		}
		if need == Public {
			next.ServeHTTP(w, r)
			return
		}
		if !a.opts.Required {
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), Identity{Role: Admin})))
			return
		}
		browser := r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/ui/") && a.opts.LoginPath != "" && token == ""
		if !sent {
			a.refuse(w, r, browser, false)
			return
		}
		addr := a.clientIP(r)
		now := a.now()
		var id Identity
		var err error
		via, key := "token", ""
		if cookie != "" {
			via = "session"
			id, err = a.session(r.Context(), cookie)
		} else {
			var t store.Token
			t, key, err = a.verify(r.Context(), token)
			id = identityOf(t)
		}
		if errors.Is(err, ErrBadToken) {
			var wait time.Duration
			if wait, err = a.failed(r.Context(), addr, key, now); err == nil {
				a.log.Info("authentication failed", "client", addr, "method", r.Method, "path", r.URL.Path, "via", via)
				if wait <= 0 || browser {
					// A browser is sent to log in even from a locked-out
					// address: its expired session is no guess, and a
					// valid token logs in from there.
					a.refuse(w, r, browser, cookie != "")
					return
				}
				err = &LimitError{RetryAfter: wait}
			}
		}
		var limit *LimitError
		if errors.As(err, &limit) {
			a.log.Warn("authentication refused: too many failures", "client", addr, "token_locked", limit.Token,
				"retry_after", limit.RetryAfter.Round(time.Second).String())
			secs := int((limit.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			limit.RetryAfter = time.Duration(secs) * time.Second
			http.Error(w, limit.Error(), http.StatusTooManyRequests)
			return
		}
		if err != nil {
			a.log.Error("authentication: store unavailable", "err", err.Error())
			http.Error(w, "modgate: cannot check credentials now; try again", http.StatusServiceUnavailable)
			return
		}
		if !id.Role.Allows(need) {
			a.log.Info("authorization refused", "token", id.Token, "role", string(id.Role), "need", string(need),
				"method", r.Method, "path", r.URL.Path)
			http.Error(w, fmt.Sprintf("modgate: token %q has role %s; this needs %s", id.Token, id.Role, need), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// refuse answers 401, or sends a browser to the login page.
func (a *Authenticator) refuse(w http.ResponseWriter, r *http.Request, browser, viaCookie bool) {
	if browser {
		http.Redirect(w, r, a.opts.LoginPath+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	if !viaCookie {
		// A browser that logged in with a cookie must not get a Basic dialog.
		w.Header().Set("WWW-Authenticate", `Basic realm="modgate", charset="UTF-8"`)
	}
	http.Error(w, ErrBadToken.Error(), http.StatusUnauthorized)
}

// credentials returns the token of r (Basic password or Bearer) or its
// session cookie, and whether it sent any.
func credentials(r *http.Request) (token, cookie string, sent bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if _, pw, ok := r.BasicAuth(); ok {
			return pw, "", true
		}
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t), "", true
		}
		return "", "", true // a scheme modgate does not take: a failed attempt
	}
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		return "", c.Value, true
	}
	return "", "", false
}

func (a *Authenticator) clientIP(r *http.Request) string {
	if a.opts.ClientIP != nil {
		return a.opts.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// failed counts a failed attempt from addr aimed at the token key key ("":
// none) at now, and returns how long addr is locked out if it already was
// (then this failure was not counted against it). A failure that locks key
// out drops this process's cached tokens of that key at once.
func (a *Authenticator) failed(ctx context.Context, addr, key string, now time.Time) (time.Duration, error) {
	if key != "" {
		wait, counted, err := a.limit.fail(ctx, key, now)
		if err != nil {
			return 0, err
		}
		if wait > 0 && counted {
			a.log.Warn("authentication: token locked out after repeated failures", "key", key, "client", addr,
				"until", now.Add(wait).UTC().Format(time.RFC3339))
			a.forget(strings.TrimPrefix(key, store.TokenKey("")))
		}
	}
	wait, counted, err := a.limit.fail(ctx, addressKey(addr), now)
	if err != nil {
		return 0, err
	}
	if wait > 0 && counted {
		a.log.Warn("authentication: address locked out after repeated failures", "client", addr,
			"until", now.Add(wait).UTC().Format(time.RFC3339))
	}
	if counted {
		return 0, nil
	}
	return wait, nil
}

// forget drops the cached tokens whose prefix is prefix.
func (a *Authenticator) forget(prefix string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for h, c := range a.cache {
		if c.tok.Prefix == prefix {
			delete(a.cache, h)
		}
	}
}

// dummyHash is compared against when no stored token has the prefix, so an
// unknown token takes the same path as a known one with a wrong secret.
var dummyHash = Hash("modgate: no such token")

// Verify returns the identity token authenticates as, [ErrBadToken] if it
// does not (unknown, malformed or revoked), a [*LimitError] if the token is
// locked out after repeated failures (it was not checked), or another error
// if the store failed. It counts no failure. A verified token is remembered
// for Options.CacheTTL, and its last use is recorded at most once a minute
// per process.
func (a *Authenticator) Verify(ctx context.Context, token string) (Identity, error) {
	t, _, err := a.verify(ctx, token)
	if err != nil {
		return Identity{}, err
	}
	return identityOf(t), nil
}

// verify is Verify; it also returns the failure key of the stored tokens
// token aims at ("" if no live token has its prefix).
func (a *Authenticator) verify(ctx context.Context, token string) (store.Token, string, error) {
	h := Hash(token)
	now := a.now()
	a.mu.Lock()
	c, ok := a.cache[h]
	a.mu.Unlock()
	if ok && now.Sub(c.at) < a.opts.CacheTTL {
		a.touch(ctx, c.tok, now)
		return c.tok, "", nil
	}
	var rows []store.Token
	key := ""
	if prefix, ok := Prefix(token); ok {
		var err error
		if rows, err = a.opts.Tokens.TokensByPrefix(ctx, prefix); err != nil {
			return store.Token{}, "", err
		}
		for _, t := range rows {
			if t.RevokedAt.IsZero() {
				key = store.TokenKey(prefix)
			}
			if t.LockedUntil.After(now) {
				return store.Token{}, "", &LimitError{RetryAfter: t.LockedUntil.Sub(now), Token: true}
			}
		}
	}
	var found *store.Token
	if len(rows) == 0 {
		subtle.ConstantTimeCompare([]byte(h), []byte(dummyHash))
	}
	for i := range rows {
		if subtle.ConstantTimeCompare([]byte(h), []byte(rows[i].Hash)) == 1 && rows[i].RevokedAt.IsZero() {
			found = &rows[i]
		}
	}
	if found == nil {
		return store.Token{}, key, ErrBadToken
	}
	a.mu.Lock()
	if len(a.cache) >= 1024 {
		clear(a.cache)
	}
	a.cache[h] = cached{tok: *found, at: now}
	a.mu.Unlock()
	a.touch(ctx, *found, now)
	return *found, "", nil
}

func identityOf(t store.Token) Identity { return Identity{Token: t.Name, Role: Role(t.Role)} }

// touch records the use of t, at most once a minute per token and process.
func (a *Authenticator) touch(ctx context.Context, t store.Token, now time.Time) {
	a.mu.Lock()
	last := a.touched[t.ID]
	if t.LastUsed.After(last) {
		last = t.LastUsed
	}
	if now.Sub(last) < time.Minute {
		a.mu.Unlock()
		return
	}
	if len(a.touched) >= 10000 {
		clear(a.touched)
	}
	a.touched[t.ID] = now
	a.mu.Unlock()
	if err := a.opts.Tokens.TouchToken(context.WithoutCancel(ctx), t.ID, now); err != nil {
		a.log.Warn("recording a token's last use", "token", t.Name, "err", err.Error())
	}
}

func (a *Authenticator) session(ctx context.Context, cookie string) (Identity, error) {
	t, err := a.opts.Tokens.SessionToken(ctx, Hash(cookie), a.now())
	if errors.Is(err, fs.ErrNotExist) {
		return Identity{}, ErrBadToken
	}
	if err != nil {
		return Identity{}, err
	}
	a.touch(ctx, *t, a.now())
	return identityOf(*t), nil
}

// Login checks token (a failure counted like any other attempt)
// and, if it authenticates, starts a dashboard session: it sets the session
// cookie (HttpOnly, SameSite=Strict, Path=/, Secure under TLS) on w and
// returns the identity. Errors: [ErrBadToken], a [*LimitError] (tell the user
// to wait), or a store failure. It works with authentication off too.
func (a *Authenticator) Login(w http.ResponseWriter, r *http.Request, token string) (Identity, error) {
	addr := a.clientIP(r)
	now := a.now()
	t, key, err := a.verify(r.Context(), token)
	if errors.Is(err, ErrBadToken) {
		wait, ferr := a.failed(r.Context(), addr, key, now)
		a.log.Info("dashboard login failed", "client", addr)
		switch {
		case ferr != nil:
			return Identity{}, ferr
		case wait > 0:
			return Identity{}, &LimitError{RetryAfter: wait}
		}
		return Identity{}, err
	}
	if err != nil {
		return Identity{}, err
	}
	id := identityOf(t)
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Identity{}, err
	}
	value := base64.RawURLEncoding.EncodeToString(b[:])
	expires := now.Add(a.opts.SessionTTL)
	if err := a.opts.Tokens.CreateSession(r.Context(), &store.Session{Hash: Hash(value), TokenID: t.ID,
		CreatedAt: now, ExpiresAt: expires}); err != nil {
		return Identity{}, err
	}
	http.SetCookie(w, a.cookie(r, value, int(a.opts.SessionTTL/time.Second)))
	a.log.Info("dashboard login", "token", id.Token, "role", string(id.Role), "client", addr)
	return id, nil
}

// Logout ends r's dashboard session, if any, and clears its cookie on w.
func (a *Authenticator) Logout(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, a.cookie(r, "", -1))
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	return a.opts.Tokens.DeleteSession(r.Context(), Hash(c.Value))
}

func (a *Authenticator) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: a.opts.Secure || r.TLS != nil}
}
