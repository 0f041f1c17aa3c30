package upstream

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
