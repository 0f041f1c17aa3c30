package proxy

import (
	"context"
	"net/http"

	"github.com/modgate/modgate/internal/audit"
)

// client identifies who made a request, for pins and audit records.
type client struct {
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

// clientOf identifies the client of r: its address, or the address a trusted
// proxy forwarded in X-Forwarded-For. (Token names come with authentication.)
func (s *Server) clientOf(r *http.Request) client {
	return client{IP: audit.ClientIP(r, s.opts.TrustedProxies), UserAgent: r.UserAgent()}
}
