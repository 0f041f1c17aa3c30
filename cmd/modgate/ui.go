package main

import (
	"context"
	"net/http"

	"github.com/modgate/modgate/internal/auth"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/web"
)

// mountUI mounts the dashboard (/ui/) and its JSON API (/api/overview,
// /api/audit, /api/versions/, /api/advisories/, /api/exemptions). Logins go
// through authn with --auth required; with --auth off the login page says
// so (authn's middleware makes every request an admin's).
func mountUI(mux *http.ServeMux, cfg config, st store.Store, audited store.Audit, policies *policyHolder, px *proxy.Server, authn *auth.Authenticator, e *env) error {
	var sessions web.Sessions
	if cfg.Auth == "required" {
		sessions = authn
	}
	ui, err := web.NewServer(web.Options{
		Audit: audited, Facts: st, VulnDB: st, Sums: st, SBOMs: st, Exemptions: st, Capabilities: st,
		Policy:   policies.Current,
		Decide:   px.Decide,
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
