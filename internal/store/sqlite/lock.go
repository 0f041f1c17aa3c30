package sqlite

import (
	"context"
	"sync"
)

// keyLocks is a set of in-process exclusive locks named by strings. An entry
// lives in the map only while some goroutine holds or waits for its key.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	token chan struct{} // capacity 1: full while the lock is held
	refs  int           // holders and waiters; guarded by keyLocks.mu
}

func newKeyLocks() *keyLocks {
	return &keyLocks{m: make(map[string]*keyLock)}
}

// lock blocks until it holds key or ctx is done, then returns ctx.Err().
// The returned unlock is idempotent.
func (l *keyLocks) lock(ctx context.Context, key string) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	kl := l.m[key]
	if kl == nil {
		kl = &keyLock{token: make(chan struct{}, 1)}
		l.m[key] = kl
	}
	kl.refs++
	l.mu.Unlock()

	select {
	case kl.token <- struct{}{}:
		var once sync.Once
		return func() {
			once.Do(func() {
				<-kl.token
				l.release(key, kl)
			})
		}, nil
	case <-ctx.Done():
		l.release(key, kl)
		return nil, ctx.Err()
	}
}

func (l *keyLocks) release(key string, kl *keyLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kl.refs--
	if kl.refs == 0 {
		delete(l.m, key)
	}
}

// len reports how many keys are held or waited for.
func (l *keyLocks) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
