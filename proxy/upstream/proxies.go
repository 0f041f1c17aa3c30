package upstream

import "net/http"

// PublicEntries returns the entries of the public list in order, for reaching
// the checksum database through them as the go command does. URLs keep any
// userinfo: never log or show them (use [Entry.Redacted]).
func (r *Router) PublicEntries() []Entry {
	out := make([]Entry, len(r.public))
	for i, e := range r.public {
		out[i] = e.Entry
	}
	return out
}

// CheckRedirect returns the redirect policy of the upstream client (the same
// host, or a host in Options.RedirectAllow), for other requests modgate sends
// to the upstream proxies, such as the checksum database's.
func (r *Router) CheckRedirect() func(*http.Request, []*http.Request) error {
	return r.checkRedirect(nil)
}
