package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/modgate/modgate/internal/auth"
	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
)

// Pages.

func (s *Server) serveOverview(w http.ResponseWriter, r *http.Request) error {
	o, err := s.overview(r.Context(), r.URL.Query().Get("window"))
	if err != nil {
		return err
	}
	s.render(w, r, "overview", map[string]any{"O": o, "Chart": chartOf(o), "Now": s.now()})
	return nil
}

func (s *Server) serveAudit(w http.ResponseWriter, r *http.Request) error {
	p, err := s.auditLog(r.Context(), r.URL.Query())
	if err != nil {
		return err
	}
	s.render(w, r, "audit", map[string]any{"P": p, "Query": template.URL(p.Filter.Encode()),
		"F": func(k string) string { return p.Filter.Get(k) }})
	return nil
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) error {
	m, err := parseVersionPath(r.PathValue("mod"))
	if err != nil {
		return err
	}
	after, err := cursor(r.URL.Query().Get("after"))
	if err != nil {
		return err
	}
	p, err := s.versionPage(r.Context(), m, after)
	if err != nil {
		return err
	}
	s.render(w, r, "version", map[string]any{"P": p, "Now": s.now()})
	return nil
}

func (s *Server) serveAdvisory(w http.ResponseWriter, r *http.Request) error {
	p, err := s.advisoryPage(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.render(w, r, "advisory", map[string]any{"P": p})
	return nil
}

func (s *Server) servePolicy(w http.ResponseWriter, r *http.Request) error {
	after, err := cursor(r.URL.Query().Get("after"))
	if err != nil {
		return err
	}
	p, err := s.policyPage(r.Context(), after)
	if err != nil {
		return err
	}
	s.render(w, r, "policy", map[string]any{"P": p, "Flash": r.URL.Query().Get("done")})
	return nil
}

// Exemptions: the form and the API share addExemptionFrom and revoke.

// ExemptionRequest is the body of POST /api/exemptions and the fields of the
// add form.
type ExemptionRequest struct {
	Module   string `json:"module"`
	Versions string `json:"versions"`
	Rule     string `json:"rule"`
	Reason   string `json:"reason"`
	// Expires is a duration from now (720h, 30d) or a time (RFC 3339 or a
	// date).
	Expires string `json:"expires"`
}

func (s *Server) grant(ctx context.Context, req ExemptionRequest) (*store.Exemption, error) {
	id, _ := auth.FromContext(ctx)
	by := id.Token
	if by == "" {
		by = "dashboard"
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"module", req.Module}, {"reason", req.Reason}, {"expires", req.Expires}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, badRequest("required: %s", strings.Join(missing, ", "))
	}
	now := s.now()
	expires, err := parseExpiry(strings.TrimSpace(req.Expires), now)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	ex := &store.Exemption{Module: strings.TrimSpace(req.Module), Versions: strings.TrimSpace(req.Versions),
		Rule: strings.TrimSpace(req.Rule), Reason: req.Reason, GrantedBy: by, ExpiresAt: expires}
	if err := policy.CheckExemption(ex); err != nil {
		return nil, badRequest("%v", err)
	}
	added, err := s.opts.Exemptions.AddExemption(ctx, ex)
	if err != nil {
		return nil, err
	}
	if err := s.opts.Audit.AppendAudit(ctx, []*store.AuditEvent{exemptionAudit(ctx, "exemption added", added)}); err != nil {
		// An exemption nobody can account for must not apply: take it back.
		if _, rmErr := s.opts.Exemptions.RemoveExemption(ctx, added.ID); rmErr != nil {
			return nil, fmt.Errorf("audit record of exemption %d failed (%v), and so did removing it again: %w", added.ID, err, rmErr)
		}
		return nil, fmt.Errorf("exemption not added: its audit record failed: %w", err)
	}
	s.log.Info("exemption added", "id", added.ID, "module", added.Module, "versions", added.Versions,
		"rule", added.Rule, "by", added.GrantedBy, "expires", added.ExpiresAt)
	return added, nil
}

func (s *Server) revoke(ctx context.Context, idText string) (*store.Exemption, error) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return nil, badRequest("%q is not an exemption ID", idText)
	}
	removed, err := s.opts.Exemptions.RemoveExemption(ctx, id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFoundf("no exemption %d", id)
	}
	if err != nil {
		return nil, err
	}
	if err := s.opts.Audit.AppendAudit(ctx, []*store.AuditEvent{exemptionAudit(ctx, "exemption removed", removed)}); err != nil {
		return nil, fmt.Errorf("exemption %d removed, but its audit record failed: %w", id, err)
	}
	s.log.Info("exemption removed", "id", removed.ID, "module", removed.Module)
	return removed, nil
}

// exemptionAudit is the audit record of a change to ex, as `modgate exempt`
// writes it, with the dashboard user as the client.
func exemptionAudit(ctx context.Context, decision string, ex *store.Exemption) *store.AuditEvent {
	rule := ex.Rule
	if rule == "" {
		rule = "(every rule)"
	}
	id, _ := auth.FromContext(ctx)
	return &store.AuditEvent{
		Type: store.AuditAdmin, Decision: decision, Module: ex.Module, Version: ex.Versions,
		ClientToken: id.Token, UserAgent: "modgate dashboard",
		Reasons: []string{
			"rule: " + rule,
			"reason: " + ex.Reason,
			"by: " + ex.GrantedBy,
			"expires: " + ex.ExpiresAt.UTC().Format(time.RFC3339),
			"id: " + strconv.FormatInt(ex.ID, 10),
		},
	}
}

// parseExpiry parses an exemption's expiry: a duration from now (720h, 30d)
// or a time (RFC 3339 or a date), in the future.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	var t time.Time
	if s == "never" {
		return policy.NeverExpires, nil // the look-alike rule only (policy.CheckExemption)
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err := strconv.Atoi(n)
		if err != nil || d <= 0 {
			return t, fmt.Errorf("expires %q: want a duration from now (720h, 30d) or a time (2026-06-30T18:00:00Z, 2026-06-30)", s)
		}
		t = now.Add(time.Duration(d) * 24 * time.Hour)
	} else if d, err := time.ParseDuration(s); err == nil {
		t = now.Add(d)
	} else if t, err = ParseTime(s); err != nil {
		return t, fmt.Errorf("expires %q: want a duration from now (720h, 30d) or a time (2026-06-30T18:00:00Z, 2026-06-30)", s)
	}
	if !t.After(now) {
		return t, fmt.Errorf("expires %q: %s is not in the future", s, t.UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}

func (s *Server) addExemption(w http.ResponseWriter, r *http.Request) error {
	ex, err := s.grant(r.Context(), ExemptionRequest{Module: r.PostFormValue("module"), Versions: r.PostFormValue("versions"),
		Rule: r.PostFormValue("rule"), Reason: r.PostFormValue("reason"), Expires: r.PostFormValue("expires")})
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/policy?done="+strconv.FormatInt(ex.ID, 10)+"+added", http.StatusSeeOther)
	return nil
}

func (s *Server) revokeExemption(w http.ResponseWriter, r *http.Request) error {
	ex, err := s.revoke(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/ui/policy?done="+strconv.FormatInt(ex.ID, 10)+"+revoked", http.StatusSeeOther)
	return nil
}

// Login and logout.

func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, "login", map[string]any{"Next": safeNext(r.URL.Query().Get("next")), "Off": s.opts.Sessions == nil})
	return nil
}

// safeNext keeps a post-login redirect on this site's dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.PostFormValue("next"))
	if s.opts.Sessions == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	// The cookie is set only for a token that may read the dashboard: a
	// reader's token is refused like a wrong one (the check comes first, on
	// a recorder, so nothing of a refused login reaches w).
	rec := httptest.NewRecorder()
	id, err := s.opts.Sessions.Login(rec, r, strings.TrimSpace(r.PostFormValue("token")))
	switch {
	case err == nil && !id.Role.Allows(auth.Auditor):
		s.opts.Sessions.Logout(httptest.NewRecorder(), withCookies(r, rec))
		fallthrough
	case err != nil:
		if err != nil {
			s.log.Info("dashboard login refused", "err", err.Error()) // the error never holds the token
		}
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, r, "login", map[string]any{"Next": next,
			"Failed": "That token was not accepted (wrong, revoked, without dashboard access, or too many attempts: wait a minute)."})
		return nil
	}
	for _, c := range rec.Result().Cookies() {
		http.SetCookie(w, c)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// withCookies returns r carrying the cookies set on rec (to log out a session
// just made).
func withCookies(r *http.Request, rec *httptest.ResponseRecorder) *http.Request {
	r2 := r.Clone(r.Context())
	for _, c := range rec.Result().Cookies() {
		r2.AddCookie(c)
	}
	return r2
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Sessions != nil {
		if err := s.opts.Sessions.Logout(w, r); err != nil {
			return err
		}
	}
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return nil
}

// Tokens (admins; only with a Tokens option).

func (s *Server) serveTokens(w http.ResponseWriter, r *http.Request) error {
	list, err := s.opts.Tokens.ListTokens(r.Context())
	if err != nil {
		return err
	}
	s.render(w, r, "tokens", map[string]any{"Tokens": list, "Roles": []auth.Role{auth.Reader, auth.Auditor, auth.Admin}})
	return nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	name, role := strings.TrimSpace(r.PostFormValue("name")), auth.Role(r.PostFormValue("role"))
	if name == "" || !role.Allows(auth.Reader) {
		return badRequest("want a name and a role (reader, auditor or admin)")
	}
	secret, err := s.opts.Tokens.CreateToken(r.Context(), name, role)
	if err != nil {
		return err
	}
	id, _ := auth.FromContext(r.Context())
	s.log.Info("token created in the dashboard", "name", name, "role", role, "by", id.Token)
	list, err := s.opts.Tokens.ListTokens(r.Context())
	if err != nil {
		return err
	}
	// The secret is shown once, on this answer only (no redirect, no store).
	s.render(w, r, "tokens", map[string]any{"Tokens": list, "Roles": []auth.Role{auth.Reader, auth.Auditor, auth.Admin},
		"Created": name, "Secret": secret})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := s.opts.Tokens.RevokeToken(r.Context(), name); err != nil {
		return err
	}
	id, _ := auth.FromContext(r.Context())
	s.log.Info("token revoked in the dashboard", "name", name, "by", id.Token)
	http.Redirect(w, r, "/ui/admin/tokens", http.StatusSeeOther)
	return nil
}

// The JSON API.

func (s *Server) apiOverview(w http.ResponseWriter, r *http.Request) error {
	o, err := s.overview(r.Context(), r.URL.Query().Get("window"))
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{
		"since": o.Since, "until": o.Until, "step_ns": o.Step, "buckets": o.Buckets,
		"scanned": o.Scanned, "truncated": o.Truncated,
		"top_modules": nonNil(o.TopModules), "top_blocked": nonNil(o.TopBlocked),
		"newly_affected": findingsJSON(o.NewlyAffected), "vulndb": o.VulnState, "vulndb_age_ns": o.VulnAge,
		"health": o.Health, "upstream": upstreamJSON(o.Upstream),
	})
}

func upstreamJSON(vs []UpstreamVersion) []map[string]any {
	out := []map[string]any{}
	for _, v := range vs {
		out = append(out, map[string]any{"module": v.State.Module.Path, "version": v.State.Module.Version,
			"finding": v.Finding, "since": v.Since, "source": v.State.Source, "withdrawn_status": v.State.WithdrawnStatus,
			"origin_hash": v.State.Origin.Hash, "moved_hash": v.State.Moved.Hash,
			"served_before": v.Fetches.Before, "served_after": v.Fetches.After,
			"clients_before": nonNil(v.Fetches.BeforeClients), "clients_after": nonNil(v.Fetches.AfterClients)})
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type findingJSON struct {
	Module     string    `json:"module"`
	Version    string    `json:"version"`
	Via        string    `json:"via,omitempty"`
	ViaVersion string    `json:"via_version,omitempty"`
	Advisory   string    `json:"advisory"`
	Fixed      string    `json:"fixed,omitempty"`
	LearntAt   time.Time `json:"learnt_at"`
	AtIngest   bool      `json:"at_ingest"`
}

func findingsJSON(fs []store.Finding) []findingJSON {
	out := []findingJSON{}
	for _, f := range fs {
		out = append(out, findingJSON{Module: f.Module.Path, Version: f.Module.Version, Via: f.Via.Path, ViaVersion: f.Via.Version,
			Advisory: f.VulnID, Fixed: f.Fixed, LearntAt: f.LearntAt, AtIngest: f.AtIngest})
	}
	return out
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) error {
	p, err := s.auditLog(r.Context(), r.URL.Query())
	if err != nil {
		return err
	}
	recs := []any{}
	for _, e := range p.Events {
		recs = append(recs, auditRecord(e))
	}
	return writeJSON(w, map[string]any{"records": recs, "next_after": p.Next})
}

func (s *Server) apiVersion(w http.ResponseWriter, r *http.Request) error {
	m, err := parseVersionPath(r.PathValue("mod"))
	if err != nil {
		return err
	}
	after, err := cursor(r.URL.Query().Get("after"))
	if err != nil {
		return err
	}
	p, err := s.versionPage(r.Context(), m, after)
	if err != nil {
		return err
	}
	out := map[string]any{"module": m.Path, "version": m.Version, "facts": p.Facts, "checksums": nonNil(p.Checksums),
		"sbom": p.HasSBOM, "next_after": p.NextFetch}
	unreadable := []map[string]string{}
	for _, c := range p.UnreadablePins {
		unreadable = append(unreadable, map[string]string{"kind": string(c.Kind), "detail": c.Detail})
	}
	out["unreadable_checksums"] = unreadable
	fetches := []any{}
	for _, e := range p.Fetches {
		fetches = append(fetches, auditRecord(e))
	}
	out["fetches"] = fetches
	if p.Decision != nil {
		out["decision"] = p.Decision
	}
	if p.Capabilities != nil {
		out["capabilities"] = p.Capabilities
	}
	return writeJSON(w, out)
}

func (s *Server) apiAdvisory(w http.ResponseWriter, r *http.Request) error {
	p, err := s.advisoryPage(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	type version struct {
		Module        string          `json:"module"`
		Version       string          `json:"version"`
		Fixed         string          `json:"fixed,omitempty"`
		LearntAt      time.Time       `json:"learnt_at"`
		AtIngest      bool            `json:"at_ingest"`
		ServedBefore  int             `json:"served_before_learnt"`
		ServedAfter   int             `json:"served_after_learnt"`
		ClientsBefore []ClientFetches `json:"clients_before_learnt"`
		ClientsAfter  []ClientFetches `json:"clients_after_learnt"`
		CountsCapped  bool            `json:"counts_truncated"`
		Fetches       []any           `json:"fetches"`
		FetchesCapped bool            `json:"fetches_truncated"`
	}
	vs := []version{}
	for _, v := range p.Versions {
		x := version{Module: v.Module.Path, Version: v.Module.Version, Fixed: v.Fixed, LearntAt: v.LearntAt, AtIngest: v.AtIngest,
			ServedBefore: v.Before, ServedAfter: v.After, ClientsBefore: v.BeforeClients, ClientsAfter: v.AfterClients,
			CountsCapped: v.ScanTruncated, Fetches: []any{}, FetchesCapped: v.Truncated}
		for _, e := range v.Fetches {
			x.Fetches = append(x.Fetches, auditRecord(e))
		}
		vs = append(vs, x)
	}
	return writeJSON(w, map[string]any{"advisory": p.Advisory, "versions": vs, "versions_truncated": p.Truncated})
}

type exemptionJSON struct {
	ID        int64     `json:"id"`
	Module    string    `json:"module"`
	Versions  string    `json:"versions"`
	Rule      string    `json:"rule"`
	Reason    string    `json:"reason"`
	GrantedBy string    `json:"granted_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Expired   bool      `json:"expired"`
}

func (s *Server) exemptionJSON(e *store.Exemption) exemptionJSON {
	return exemptionJSON{ID: e.ID, Module: e.Module, Versions: e.Versions, Rule: e.Rule, Reason: e.Reason,
		GrantedBy: e.GrantedBy, CreatedAt: e.CreatedAt, ExpiresAt: e.ExpiresAt, Expired: !e.ExpiresAt.After(s.now())}
}

func (s *Server) apiExemptions(w http.ResponseWriter, r *http.Request) error {
	list, err := s.opts.Exemptions.ListExemptions(r.Context())
	if err != nil {
		return err
	}
	out := []exemptionJSON{}
	for i := range list {
		out = append(out, s.exemptionJSON(&list[i]))
	}
	return writeJSON(w, out)
}

func (s *Server) apiAddExemption(w http.ResponseWriter, r *http.Request) error {
	var req ExemptionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badRequest("body: %v", err)
	}
	ex, err := s.grant(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSONStatus(w, http.StatusCreated, s.exemptionJSON(ex))
	return nil
}

func (s *Server) apiRevokeExemption(w http.ResponseWriter, r *http.Request) error {
	ex, err := s.revoke(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, s.exemptionJSON(ex))
}
