package auth

import (
	"sync"
	"time"
)

// limiter slows down guessing: each client address may fail to authenticate
// free times; every later failure locks it out for twice as long as the one
// before (base, 2*base, ... up to max), during which its attempts get 429
// without being checked. An address with no failure for forget is forgotten.
// At most size addresses are remembered: when full, forgotten entries are
// swept, and if that frees nothing an arbitrary entry goes, so memory stays
// bounded whatever an attacker sends.
type limiter struct {
	free      int
	base, max time.Duration
	forget    time.Duration
	size      int

	mu sync.Mutex
	m  map[string]*failures
}

type failures struct {
	n     int
	last  time.Time // the last failure
	until time.Time // locked out until then
}

func newLimiter() *limiter {
	return &limiter{free: 5, base: time.Second, max: 5 * time.Minute, forget: time.Hour, size: 10000,
		m: map[string]*failures{}}
}

// wait returns how long addr is still locked out (0: not locked out).
func (l *limiter) wait(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[addr]
	if f == nil || !now.Before(f.until) {
		return 0
	}
	return f.until.Sub(now)
}

// fail records a failed attempt from addr.
func (l *limiter) fail(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[addr]
	if f != nil && now.Sub(f.last) > l.forget && !now.Before(f.until) {
		f = nil
	}
	if f == nil {
		if len(l.m) >= l.size {
			l.sweep(now)
		}
		f = &failures{}
		l.m[addr] = f
	}
	f.n++
	f.last = now
	if over := f.n - l.free; over > 0 {
		d := l.max
		if over <= 20 && l.base<<(over-1) < l.max {
			d = l.base << (over - 1)
		}
		f.until = now.Add(d)
	}
}

// sweep drops forgotten entries, or one arbitrary entry if none is.
func (l *limiter) sweep(now time.Time) {
	for a, f := range l.m {
		if now.Sub(f.last) > l.forget && !now.Before(f.until) {
			delete(l.m, a)
		}
	}
	if len(l.m) < l.size {
		return
	}
	for a := range l.m {
		delete(l.m, a)
		return
	}
}

// len returns how many addresses are remembered (for tests).
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
