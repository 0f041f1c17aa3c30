package proxy

import (
	"context"
	"net/http"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/auth"
)

// client identifies who made a request, for pins and audit records.
type client struct {
	Token     string // the token's name, when the request was authenticated
	IP        string
	UserAgent string
}

type clientKey struct{}

func withClient(ctx context.Context, c client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// clientFrom returns the client of the request that ctx belongs to (also in
// fetches detached from it, which keep its values).
func clientFrom(ctx context.Context) client {
	c, _ := ctx.Value(clientKey{}).(client)
	return c
}

// clientOf identifies the client of r: the token it authenticated with, and
// its address (or the address a trusted proxy forwarded in X-Forwarded-For).
func (s *Server) clientOf(r *http.Request) client {
	c := client{IP: audit.ClientIP(r, s.opts.TrustedProxies), UserAgent: r.UserAgent()}
	if id, ok := auth.FromContext(r.Context()); ok {
		c.Token = id.Token
	}
	return c
}
