package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/modgate/modgate/internal/store"
)

// lockoutTests are the conformance cases of the AuthFailures role.
var lockoutTests = []testCase{
	{"AuthFailureUnknown", testAuthFailureUnknown},
	{"AuthFailureCountsAndLocks", testAuthFailureCountsAndLocks},
	{"AuthFailureRestart", testAuthFailureRestart},
	{"AuthFailureConcurrent", testAuthFailureConcurrent},
	{"AuthFailurePrune", testAuthFailurePrune},
	{"AuthFailureTokenLock", testAuthFailureTokenLock},
}

// t0 is a fixed time with microseconds, the stores' precision.
var t0 = time.Date(2026, 5, 4, 3, 2, 1, 123456000, time.UTC)

func never(int) time.Duration { return 0 }

func testAuthFailureUnknown(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for _, key := range []string{store.AddressKey("192.0.2.1"), store.TokenKey(hostile), hostile} {
		f, err := s.AuthFailure(ctx, key)
		if err != nil || f != (store.AuthFailure{Key: key}) {
			t.Errorf("AuthFailure(%q) = %+v, %v; want just the key, nil", key, f, err)
		}
	}
}

func testAuthFailureCountsAndLocks(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	key := store.AddressKey(hostile)
	lock := func(n int) time.Duration { return time.Duration(max(0, n-2)) * time.Second } // the third locks for 1s
	type result struct {
		F       store.AuthFailure
		Counted bool
	}
	var got []result
	for _, at := range []time.Time{t0, t0, t0.Add(time.Second), t0.Add(1500 * time.Millisecond), t0.Add(2 * time.Second)} {
		f, counted, err := s.AddAuthFailure(ctx, key, at, at.Add(-time.Hour), lock)
		if err != nil {
			t.Fatalf("AddAuthFailure at %v: %v", at, err)
		}
		got = append(got, result{f, counted})
	}
	want := []result{
		{store.AuthFailure{Key: key, Count: 1, Last: t0}, true},
		{store.AuthFailure{Key: key, Count: 2, Last: t0}, true},
		{store.AuthFailure{Key: key, Count: 3, Last: t0.Add(time.Second), LockedUntil: t0.Add(2 * time.Second)}, true},
		// Locked out until t0+2s: not counted, nothing changes.
		{store.AuthFailure{Key: key, Count: 3, Last: t0.Add(time.Second), LockedUntil: t0.Add(2 * time.Second)}, false},
		// The lockout has ended (its end is not after now): counted, locked for 2s.
		{store.AuthFailure{Key: key, Count: 4, Last: t0.Add(2 * time.Second), LockedUntil: t0.Add(4 * time.Second)}, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AddAuthFailure results (-want +got):\n%s", diff)
	}
	f, err := s.AuthFailure(ctx, key)
	if err != nil || f != want[4].F || !isUTC(f.Last) || !isUTC(f.LockedUntil) {
		t.Errorf("AuthFailure = %+v, %v; want %+v in UTC", f, err, want[4].F)
	}
	if other, err := s.AuthFailure(ctx, store.AddressKey("192.0.2.1")); err != nil || other.Count != 0 {
		t.Errorf("another key = %+v, %v; want no failures", other, err)
	}
}

func testAuthFailureRestart(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	key := store.TokenKey("abcdefgh")
	for range 3 {
		if _, _, err := s.AddAuthFailure(ctx, key, t0, t0.Add(-time.Hour), never); err != nil {
			t.Fatal(err)
		}
	}
	// An hour and a bit later, with restart an hour before now: the count starts again.
	later := t0.Add(61 * time.Minute)
	f, counted, err := s.AddAuthFailure(ctx, key, later, later.Add(-time.Hour), never)
	if err != nil || !counted || f.Count != 1 || !f.Last.Equal(later) {
		t.Errorf("AddAuthFailure after the restart time = %+v, %v, %v; want a count of 1 at %v", f, counted, err, later)
	}
	f, _, _ = s.AddAuthFailure(ctx, key, later, later.Add(-time.Hour), never)
	if f.Count != 2 {
		t.Errorf("next failure: count %d, want 2", f.Count)
	}
}

func testAuthFailureConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const n = 40
	key := store.AddressKey("198.51.100.7")
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := t0.Add(time.Duration(i) * time.Microsecond)
			if _, counted, err := s.AddAuthFailure(ctx, key, at, t0.Add(-time.Hour), never); err != nil || !counted {
				errs <- fmt.Errorf("failure %d: counted %v, %v", i, counted, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	f, err := s.AuthFailure(ctx, key)
	if err != nil || f.Count != n || !f.Last.Equal(t0.Add((n-1)*time.Microsecond)) {
		t.Errorf("after %d concurrent failures: %+v, %v; want a count of %d and the latest time", n, f, err, n)
	}
}

func testAuthFailurePrune(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	old, recent, locked := store.AddressKey("old"), store.AddressKey("recent"), store.AddressKey("locked")
	mustAdd := func(key string, at time.Time, lock func(int) time.Duration) {
		t.Helper()
		if _, _, err := s.AddAuthFailure(ctx, key, at, at.Add(-time.Hour), lock); err != nil {
			t.Fatal(err)
		}
	}
	mustAdd(old, t0.Add(-2*time.Hour), func(int) time.Duration { return time.Minute })
	mustAdd(recent, t0.Add(-time.Minute), never)
	mustAdd(locked, t0.Add(-2*time.Hour), func(int) time.Duration { return 3 * time.Hour }) // still locked at t0
	n, err := s.PruneAuthFailures(ctx, t0.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Errorf("PruneAuthFailures = %d, %v; want 1", n, err)
	}
	for key, want := range map[string]int{old: 0, recent: 1, locked: 1} {
		if f, err := s.AuthFailure(ctx, key); err != nil || f.Count != want {
			t.Errorf("after pruning, %s = %+v, %v; want a count of %d", key, f, err, want)
		}
	}
}

func testAuthFailureTokenLock(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for _, tok := range []*store.Token{newToken("a", "reader", "abcdefAAAA"), newToken("b", "reader", "ghijklBBBB"), newToken(hostile, "reader", hostile)} {
		if _, err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	until := t0.Add(5 * time.Minute)
	for _, prefix := range []string{"abcdef", hostile[:6]} {
		if _, _, err := s.AddAuthFailure(ctx, store.TokenKey(prefix), t0, t0.Add(-time.Hour), func(int) time.Duration { return 5 * time.Minute }); err != nil {
			t.Fatal(err)
		}
	}
	// An address key that looks like the token's does not lock it.
	if _, _, err := s.AddAuthFailure(ctx, store.AddressKey("ghijkl"), t0, t0.Add(-time.Hour), func(int) time.Duration { return time.Hour }); err != nil {
		t.Fatal(err)
	}
	for prefix, want := range map[string]time.Time{"abcdef": until, "ghijkl": {}, hostile[:6]: until} {
		toks, err := s.TokensByPrefix(ctx, prefix)
		if err != nil || len(toks) != 1 {
			t.Fatalf("TokensByPrefix(%q) = %v, %v; want one token", prefix, toks, err)
		}
		if !toks[0].LockedUntil.Equal(want) || !isUTC(toks[0].LockedUntil) && !want.IsZero() {
			t.Errorf("TokensByPrefix(%q): LockedUntil %v, want %v", prefix, toks[0].LockedUntil, want)
		}
	}
	list, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range list {
		if !tok.LockedUntil.IsZero() {
			t.Errorf("ListTokens: %q has LockedUntil %v; only TokensByPrefix reports it", tok.Name, tok.LockedUntil)
		}
	}
}
