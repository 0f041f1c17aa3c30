package sqlite

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestKeyLocksNoLeak checks that map entries go away once nobody holds or waits
// for a key, whichever way the waiting ended.
func TestKeyLocksNoLeak(t *testing.T) {
	l := newKeyLocks()
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []string{"a", "b", "c"}[i%3]
			if i%5 == 0 {
				// Some waiters give up.
				ctx, cancel := context.WithTimeout(ctx, time.Millisecond)
				defer cancel()
				if unlock, err := l.lock(ctx, key); err == nil {
					time.Sleep(2 * time.Millisecond)
					unlock()
				}
				return
			}
			unlock, err := l.lock(ctx, key)
			if err != nil {
				t.Errorf("lock: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
			unlock()
			unlock() // a second unlock does nothing
		}()
	}
	wg.Wait()
	if n := l.len(); n != 0 {
		t.Errorf("%d map entries left after every lock was released, want 0", n)
	}
}
