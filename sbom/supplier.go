package sbom

import "strings"

// multiTenant are code hosts whose first path element after the host names
// the account (user or organization) that publishes the repository.
var multiTenant = map[string]bool{
	"github.com":    true,
	"gitlab.com":    true,
	"bitbucket.org": true,
	"codeberg.org":  true,
	"gitea.com":     true,
	"git.sr.ht":     true,
}

// Supplier derives the supplier of a module from its path, in SPDX form:
// "Organization: <namespace owner>" or "NOASSERTION".
//
//   - on a multi-tenant code host (github.com, gitlab.com, bitbucket.org,
//     codeberg.org, gitea.com, git.sr.ht) the account that owns the
//     repository, named with its host: github.com/owner/repo →
//     "github.com/owner";
//   - gopkg.in redirects to GitHub: gopkg.in/pkg.v3 → "github.com/go-pkg",
//     gopkg.in/user/pkg.v3 → "github.com/user";
//   - any other host (a vanity or company domain: golang.org, go.uber.org,
//     corp.example.com) → the host, since whoever controls the domain decides
//     what is served under it;
//   - a path whose first element is not a domain → NOASSERTION.
//
// SPDX 2.3 knows only Person and Organization; an account may be a person,
// but the account name, not a person's name, is what the path proves, so it
// is written as an Organization.
func Supplier(path string) string {
	return deriveSupplier(path).String()
}

func deriveSupplier(path string) supplier {
	elems := strings.Split(path, "/")
	host := elems[0]
	if !strings.Contains(host, ".") {
		return supplier{}
	}
	switch {
	case multiTenant[host] && len(elems) >= 2:
		return supplier{"Organization", host + "/" + elems[1]}
	case host == "gopkg.in" && len(elems) == 2:
		name, _, _ := strings.Cut(elems[1], ".")
		return supplier{"Organization", "github.com/go-" + name}
	case host == "gopkg.in" && len(elems) >= 3:
		return supplier{"Organization", "github.com/" + elems[1]}
	case multiTenant[host] || host == "gopkg.in":
		return supplier{}
	}
	return supplier{"Organization", host}
}

// parseSupplier reads an explicit supplier: "Organization: X", "Person: X",
// "NOASSERTION", or a bare organization name.
func parseSupplier(s string) supplier {
	s = entity(s)
	if s == "" || s == "NOASSERTION" {
		return supplier{}
	}
	if typ, name, ok := strings.Cut(s, ":"); ok {
		typ, name = strings.TrimSpace(typ), strings.TrimSpace(name)
		if (typ == "Organization" || typ == "Person") && name != "" {
			return supplier{typ, name}
		}
	}
	return supplier{"Organization", s}
}

// String renders the supplier in SPDX form.
func (s supplier) String() string {
	if s.typ == "" {
		return "NOASSERTION"
	}
	return s.typ + ": " + s.name
}
