package auth

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// The lockout, counted in the store so that every replica shares it and a
// restart does not reset it ([store.AuthFailures]). Failures are counted per
// key, two keys per failed attempt:
//
//   - the client address (an IPv6 address by its /64, which one client
//     usually holds whole), and
//   - the stored token the attempt aimed at: the tokens whose lookup prefix
//     the presented token carries, when a live one has it. The user name of
//     Basic credentials is not a key: modgate does not check it, so a key on
//     it would let anyone lock any user out by name while a guesser simply
//     sent another name. A guess whose prefix no live token has cannot
//     succeed, and counts against the address only.
//
// Each key may fail free times; every later failure locks the key out for
// twice as long as the one before (base, 2*base, ... up to max). A key with
// no failure for forget starts again from zero. What a lockout does:
//
//   - a locked token key: every attempt with that token is answered 429
//     without being checked, the right token included, from any address (a
//     guesser is stopped however many addresses it has; its owner waits, or
//     an admin gives it a new token, whose prefix differs);
//   - a locked address: its failed attempts get 429 instead of 401, and are
//     not counted again against it (so a flood from one address writes
//     nothing), but a valid token or session from it is still served, so one
//     client behind a NAT address does not lock out its neighbours. Guesses
//     from a locked address still count against the token they aim at.
//
// Only failures write. A success reads nothing more than authentication
// does anyway: the token key's lockout comes with the token lookup
// ([store.Tokens.TokensByPrefix]), and a token verified within CacheTTL is
// not looked up at all (so a token key's lockout reaches a token another
// replica verified within CacheTTL after that; on the replica that locked it,
// at once).
type rule struct {
	free      int
	base, max time.Duration
	forget    time.Duration
}

var defaultRule = rule{free: 5, base: time.Second, max: 5 * time.Minute, forget: time.Hour}

// lockFor returns how long the count-th failure in a row locks its key out.
func (r rule) lockFor(count int) time.Duration {
	over := count - r.free
	if over <= 0 {
		return 0
	}
	if over > 20 || r.base<<(over-1) >= r.max {
		return r.max
	}
	return r.base << (over - 1)
}

// limiter counts failures in the store and remembers which keys it has seen
// locked out, so that more failures of a locked key cost no database access
// in this process.
type limiter struct {
	rule
	st  store.AuthFailures
	log *slog.Logger

	mu     sync.Mutex
	locked map[string]time.Time // key -> end of its lockout, as last seen
	size   int                  // bound of locked
	pruned time.Time            // when this process last pruned the store
}

func newLimiter(st store.AuthFailures, log *slog.Logger) *limiter {
	return &limiter{rule: defaultRule, st: st, log: log, locked: map[string]time.Time{}, size: 10000}
}

// fail counts a failure of key at now. It returns how long key is locked out
// after it (0: not at all) and whether this failure was counted: false means
// key was already locked out, and nothing was written.
func (l *limiter) fail(ctx context.Context, key string, now time.Time) (wait time.Duration, counted bool, err error) {
	if l.st == nil {
		return 0, true, nil
	}
	l.mu.Lock()
	until, ok := l.locked[key]
	l.mu.Unlock()
	if ok && now.Before(until) {
		return until.Sub(now), false, nil
	}
	ctx = context.WithoutCancel(ctx) // a client that hangs up does not undo its failure
	f, counted, err := l.st.AddAuthFailure(ctx, key, now, now.Add(-l.forget), l.lockFor)
	if err != nil {
		return 0, false, err
	}
	l.prune(ctx, now)
	if !f.LockedUntil.After(now) {
		return 0, counted, nil
	}
	l.mu.Lock()
	if len(l.locked) >= l.size {
		for k, u := range l.locked {
			if !now.Before(u) {
				delete(l.locked, k)
			}
		}
		if len(l.locked) >= l.size {
			clear(l.locked)
		}
	}
	l.locked[key] = f.LockedUntil
	l.mu.Unlock()
	return f.LockedUntil.Sub(now), counted, nil
}

// prune deletes forgotten keys from the store, at most every 10 minutes per
// process. A failure to prune is not the request's failure.
func (l *limiter) prune(ctx context.Context, now time.Time) {
	l.mu.Lock()
	due := now.Sub(l.pruned) >= 10*time.Minute
	if due {
		l.pruned = now
	}
	l.mu.Unlock()
	if !due {
		return
	}
	if _, err := l.st.PruneAuthFailures(ctx, now.Add(-l.forget-l.max)); err != nil {
		l.log.Warn("pruning old authentication failures", "err", err.Error())
	}
}

// addressKey is the failure key of a client address: an IPv6 address by its
// /64, anything else as it is (bounded in length).
func addressKey(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil {
		a = a.WithZone("").Unmap()
		if a.Is6() {
			p, _ := a.Prefix(64)
			return store.AddressKey(p.String())
		}
		return store.AddressKey(a.String())
	}
	if len(ip) > 64 {
		ip = ip[:64]
	}
	return store.AddressKey(ip)
}
