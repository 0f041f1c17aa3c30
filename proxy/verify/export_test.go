package verify

// ClientsMade is how many sumdb clients v made after its first one.
func (v *Verifier) ClientsMade() int64 { return v.clients.Load() }
