package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/auth"
	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/web"
)

// mountUI mounts the dashboard (/ui/) and its JSON API (/api/overview,
// /api/audit, /api/versions/, /api/advisories/, /api/exemptions). Logins go
// through authn with --auth required; with --auth off the login page says
// so (authn's middleware makes every request an admin's).
func mountUI(mux *http.ServeMux, cfg config, st store.Store, policies *policyHolder, px *proxy.Server, authn *auth.Authenticator, e *env) error {
	var sessions web.Sessions
	if cfg.Auth == "required" {
		sessions = authn
	}
	ui, err := web.NewServer(web.Options{
		Audit: st, Facts: st, VulnDB: st, Sums: st, SBOMs: st, Exemptions: st,
		Policy:   policies.Current,
		Decide:   decider(px),
		Health:   func(ctx context.Context) map[string]string { return health(ctx, px) },
		Sessions: sessions,
		Tokens:   tokenAdmin{st},
		Logger:   e.log,
	})
	if err != nil {
		return err
	}
	ui.Install(mux)
	return nil
}

// decider makes the proxy's decision through its decision API, in process.
// TODO(lead): an exported proxy.Server.Decide would save the JSON round trip.
func decider(px *proxy.Server) func(ctx context.Context, m module.Version) (policy.Decision, error) {
	h := px.DecisionHandler()
	return func(ctx context.Context, m module.Version) (policy.Decision, error) {
		p, err1 := module.EscapePath(m.Path)
		v, err2 := module.EscapeVersion(m.Version)
		if err1 != nil || err2 != nil {
			return policy.Decision{}, fmt.Errorf("%s@%s: not a module version", m.Path, m.Version)
		}
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/decision/"+p+"/@v/"+v, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			return policy.Decision{}, fmt.Errorf("%s@%s: decision: %d %s", m.Path, m.Version, rec.Code, rec.Body.String())
		}
		var dj proxy.DecisionJSON
		if err := json.Unmarshal(rec.Body.Bytes(), &dj); err != nil {
			return policy.Decision{}, err
		}
		d := policy.Decision{Blocked: dj.Blocked, WouldBlock: dj.WouldBlock}
		for _, f := range dj.Findings {
			d.Findings = append(d.Findings, policy.Finding{Rule: f.Rule, Action: policy.Action(f.Action), Reason: f.Reason,
				Advisory: f.Advisory, Fixed: f.Fixed, Until: f.Until, Exemption: f.Exemption})
		}
		return d, nil
	}
}

// health is the overview's health table.
func health(ctx context.Context, px *proxy.Server) map[string]string {
	out := map[string]string{}
	if err := px.Ready(ctx); err != nil {
		out["database, blobs, checksum database"] = err.Error()
	} else {
		out["database, blobs, checksum database"] = "ok"
	}
	return out
}
