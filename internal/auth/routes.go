package auth

import (
	"net/http"
	"path"
	"strings"
)

// Public is the "role" of routes anyone may use without credentials.
const Public Role = ""

// Need returns the role a request for method and urlPath needs; [Public]
// means none. Authentication comes before routing: a path no handler serves
// needs [Reader] (everything modgate does not know is handed to the GOPROXY
// handler), so an anonymous client cannot even learn which routes exist.
//
// The table, top to bottom (first match wins; HEAD is GET):
//
//	GET /healthz, /readyz                      public (load balancers)
//	/ui/login, /ui/logout, GET /ui/static/...  public (the dashboard's login page and its assets)
//	/ui/admin/...                              admin
//	GET /ui/...                                auditor
//	other methods on /ui/...                   admin (auditors are read-only)
//	GET /api/decision/...                      reader (what fetching would answer; `modgate check --server` from CI)
//	GET /api/tokens...                         admin
//	GET /api/audit/checkpoint                  auditor (the signed checkpoint of the audit chain)
//	GET /api/..., POST /api/sbom/project       auditor (audit log, SBOMs, policy, exemptions: read-only)
//	other methods on /api/...                  admin (policy reload, exemptions, tokens)
//	GET /metrics                               reader (operational counters; a scraper needs only the least role)
//	everything else                            reader (the GOPROXY protocol, /sumdb/, /vulndb/, /vulndb-status)
//
// A path that is not clean (".." or "//") needs the stricter of what it and
// its cleaned form need, so a path cannot climb out of a public prefix.
func Need(method, urlPath string) Role {
	need := needOf(method, urlPath)
	if c := cleanPath(urlPath); c != urlPath {
		if n := needOf(method, c); rank(n) > rank(need) {
			need = n
		}
	}
	return need
}

func needOf(method, p string) Role {
	read := method == http.MethodGet || method == http.MethodHead
	switch {
	case read && (p == "/healthz" || p == "/readyz"):
		return Public
	case p == "/ui/login" || p == "/ui/logout" || read && strings.HasPrefix(p, "/ui/static/"):
		return Public
	case p == "/ui/admin" || strings.HasPrefix(p, "/ui/admin/"):
		return Admin
	case p == "/ui" || strings.HasPrefix(p, "/ui/"):
		if read {
			return Auditor
		}
		return Admin
	case strings.HasPrefix(p, "/api/"):
		switch {
		case read && strings.HasPrefix(p, "/api/decision/"):
			return Reader
		case p == "/api/tokens" || strings.HasPrefix(p, "/api/tokens/"):
			return Admin
		case read && p == "/api/audit/checkpoint":
			return Auditor
		case read || method == http.MethodPost && p == "/api/sbom/project":
			return Auditor
		}
		return Admin
	}
	return Reader
}

// cleanPath is path.Clean keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
