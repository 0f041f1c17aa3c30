// Package auth identifies modgate's clients: API tokens sent as the HTTP Basic
// password (so GOPROXY=https://name:token@host and ~/.netrc work as the go
// command supports them), and dashboard sessions; and it says which role may
// use which route.
package auth

import "context"

// Role is what a token may do.
type Role string

// Roles, each allowed what the ones before it may do.
const (
	Reader  Role = "reader"  // fetch modules
	Auditor Role = "auditor" // and read the dashboard and exports
	Admin   Role = "admin"   // and reload the policy, manage exemptions and tokens
)

// Allows reports whether r may do what need requires.
func (r Role) Allows(need Role) bool { return rank(r) >= rank(need) && rank(need) > 0 }

func rank(r Role) int {
	switch r {
	case Reader:
		return 1
	case Auditor:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Identity is who made a request.
type Identity struct {
	Token string // the token's name ("ci-payments"); "" when authentication is off
	Role  Role
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity the request of ctx was authenticated as.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
