package proxy

import (
	"context"
	"net"
	"net/http"
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

// clientOf identifies the client of r by its address. (Trusted proxies'
// X-Forwarded-For and token names come with the audit and authentication work.)
func clientOf(r *http.Request) client {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	return client{IP: ip, UserAgent: r.UserAgent()}
}
