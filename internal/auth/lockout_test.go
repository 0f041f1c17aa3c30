package auth

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/postgres"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// databases open handles on one database, as replicas or a restarted
// process would: each call of the returned function is a new handle.
var databases = []struct {
	name string
	open func(t *testing.T) func() store.Store
}{
	{"sqlite", func(t *testing.T) func() store.Store {
		path := filepath.Join(t.TempDir(), "modgate.db")
		return func() store.Store {
			st, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
	}},
	{"postgres", func(t *testing.T) func() store.Store {
		dsn := testkit.PostgresDSN(t)
		return func() store.Store {
			st, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
	}},
}

// TestLockoutAcrossReplicasAndRestart runs two replicas on one database:
// failures counted on either add up (two replicas do not double the
// allowance), a token locked out on one is refused by the other, and a new
// process on the same database still refuses both (a restart does not reset
// the count).
func TestLockoutAcrossReplicasAndRestart(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			open := db.open(t)
			c := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
			a := newReplica(t, open(), c, true, time.Minute)
			b := newReplica(t, open(), c, true, 500*time.Millisecond)
			victim := a.token(t, "ci", Reader)
			other := a.token(t, "bob", Reader)

			// Address: 3 failures on each replica lock it out on both.
			for i := range 6 {
				r := []*fixture{a, b}[i%2]
				if w := r.do("GET", "/m/@v/list", from("192.0.2.9", "x", fmt.Sprint("wrong", i))); w.Code != 401 {
					t.Fatalf("failure %d: status %d, want 401", i+1, w.Code)
				}
			}
			for name, r := range map[string]*fixture{"a": a, "b": b} {
				if w := r.do("GET", "/m/@v/list", from("192.0.2.9", "x", "wrong")); w.Code != 429 {
					t.Errorf("replica %s: a failure from the address after 3+3: status %d, want 429", name, w.Code)
				}
				if w := r.do("GET", "/m/@v/list", from("192.0.2.9", "bob", other)); w.Code != 200 {
					t.Errorf("replica %s: a valid token from the locked-out address: status %d, want 200", name, w.Code)
				}
			}

			// Token: both replicas have verified it (and cache it); guesses
			// at it on both lock it out. a, which counted the failure that
			// locked it, drops its cached copy at once; b believes its copy
			// until its CacheTTL has passed.
			for _, r := range []*fixture{a, b} {
				if w := r.do("GET", "/m/@v/list", from("203.0.113.5", "ci", victim)); w.Code != 200 {
					t.Fatalf("victim before the guesses: status %d", w.Code)
				}
			}
			for i := range 6 {
				r := []*fixture{b, a}[i%2] // the 6th, which locks it, on a
				if w := r.do("GET", "/m/@v/list", from(fmt.Sprint("198.51.100.", i+1), "ci", wrongSecret(victim, i))); w.Code != 401 {
					t.Fatalf("guess %d: status %d, want 401", i+1, w.Code)
				}
			}
			if w := a.do("GET", "/m/@v/list", from("203.0.113.5", "ci", victim)); w.Code != 429 {
				t.Errorf("replica a, locked-out token: status %d, want 429", w.Code)
			}
			if w := b.do("GET", "/m/@v/list", from("203.0.113.5", "ci", victim)); w.Code != 200 {
				t.Errorf("replica b within its cache TTL, locked-out token: status %d, want 200 (cached)", w.Code)
			}
			c.add(600 * time.Millisecond)
			if w := b.do("GET", "/m/@v/list", from("203.0.113.5", "ci", victim)); w.Code != 429 {
				t.Errorf("replica b after its cache TTL, locked-out token: status %d, want 429", w.Code)
			}

			// Restart: a new process on the same database. The locks above
			// have 400ms left.
			restarted := newReplica(t, open(), c, true, time.Minute)
			if w := restarted.do("GET", "/m/@v/list", from("192.0.2.9", "x", "wrong")); w.Code != 429 {
				t.Errorf("after a restart, a failure from the locked-out address: status %d, want 429", w.Code)
			}
			if w := restarted.do("GET", "/m/@v/list", from("203.0.113.5", "ci", victim)); w.Code != 429 {
				t.Errorf("after a restart, the locked-out token: status %d, want 429", w.Code)
			}
			// The count survives too: once the lockout has ended, the next
			// failure locks for twice as long.
			c.add(time.Second)
			if w := restarted.do("GET", "/m/@v/list", from("192.0.2.9", "x", "wrong")); w.Code != 401 {
				t.Fatalf("after the lockout: status %d, want 401", w.Code)
			}
			w := restarted.do("GET", "/m/@v/list", from("192.0.2.9", "x", "wrong"))
			if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
				t.Errorf("the 7th failure after a restart: status %d, Retry-After %q; want 429, 2", w.Code, w.Header().Get("Retry-After"))
			}
		})
	}
}

// countingFailures counts the calls of the AuthFailures role.
type countingFailures struct {
	store.AuthFailures
	calls int
}

func (c *countingFailures) AuthFailure(ctx context.Context, key string) (store.AuthFailure, error) {
	c.calls++
	return c.AuthFailures.AuthFailure(ctx, key)
}

func (c *countingFailures) AddAuthFailure(ctx context.Context, key string, now, restart time.Time, lock func(int) time.Duration) (store.AuthFailure, bool, error) {
	c.calls++
	return c.AuthFailures.AddAuthFailure(ctx, key, now, restart, lock)
}

// TestSuccessesDoNotTouchFailures checks the hot path: a successful
// authentication (cached or not, session or token, from a locked-out address
// or not) makes no call to the failure store; a flood of failures from a
// locked-out address makes none after the first that finds it locked.
func TestSuccessesDoNotTouchFailures(t *testing.T) {
	f := newFixture(t, true)
	cf := &countingFailures{AuthFailures: f.st}
	f.auth = New(Options{Tokens: f.st, Failures: cf, Required: true, Now: f.clock.now, CacheTTL: -1})
	h := f.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	f.h = h
	tok := f.token(t, "ci", Reader)
	for range 10 {
		if w := f.do("GET", "/m/@v/list", from("192.0.2.1", "ci", tok)); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
	if cf.calls != 0 {
		t.Errorf("10 successes made %d calls to the failure store, want 0", cf.calls)
	}
	for i := range 6 {
		f.do("GET", "/m/@v/list", from("192.0.2.1", "x", fmt.Sprint("wrong", i)))
	}
	if cf.calls != 6 {
		t.Errorf("6 failures made %d calls, want 6 (one count each)", cf.calls)
	}
	for range 100 {
		if w := f.do("GET", "/m/@v/list", from("192.0.2.1", "x", "wrong")); w.Code != 429 {
			t.Fatalf("status %d, want 429", w.Code)
		}
	}
	if w := f.do("GET", "/m/@v/list", from("192.0.2.1", "ci", tok)); w.Code != 200 {
		t.Errorf("valid token from the locked-out address: %d", w.Code)
	}
	if cf.calls != 6 {
		t.Errorf("100 failures from a locked-out address and a success made %d more calls, want 0", cf.calls-6)
	}
}
