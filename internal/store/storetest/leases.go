package storetest

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

var leaseTests = []testCase{
	{"LeaseTakeExcludes", testLeaseTakeExcludes},
	{"LeaseCompleteStores", testLeaseCompleteStores},
	{"LeaseCompleteFirstWriterWins", testLeaseCompleteFirstWriterWins},
	{"LeaseTakeoverFences", testLeaseTakeoverFences},
	{"LeaseMissing", testLeaseMissing},
	{"LeaseRelease", testLeaseRelease},
	{"LeaseWatch", func(t *testing.T, s store.Store) { LeaseWatch(t, s, s) }},
}

// leaseKey is hostile on purpose: keys hold module paths.
const leaseKey = "example.com/m@v1.0.0 zip " + hostile

func takeLease(t *testing.T, s store.Leases, key, holder string, ttl time.Duration) *store.Lease {
	t.Helper()
	l, err := s.TakeLease(ctxT(t), key, holder, ttl)
	if err != nil {
		t.Fatalf("TakeLease(%q): %v", key, err)
	}
	if l == nil {
		t.Fatalf("TakeLease(%q) of a free key: held by another", key)
	}
	return l
}

// takeover waits until key's lease (taken with a tiny TTL) expires and takes it.
func takeover(t *testing.T, s store.Leases, key, holder string, ttl time.Duration) *store.Lease {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for time.Now().Before(deadline) {
		l, err := s.TakeLease(ctxT(t), key, holder, ttl)
		if err != nil {
			t.Fatalf("TakeLease: %v", err)
		}
		if l != nil {
			return l
		}
		time.Sleep(5 * time.Millisecond) // waiting for the clock, not for another goroutine
	}
	t.Fatalf("lease %q not taken over %v after it expired", key, waitLong)
	return nil
}

func zipOf(path string) *store.Artifact {
	return &store.Artifact{Module: module.Version{Path: path, Version: "v1.0.0"}, Kind: store.KindZip,
		SHA256: sum([]byte(path)), Size: int64(len(path)), Upstream: "https://up.example"}
}

func testLeaseTakeExcludes(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	l := takeLease(t, s, leaseKey, "a", time.Minute)
	if l.Key != leaseKey || l.Holder != "a" || l.Generation <= 0 || !l.Expires.After(time.Now().Add(30*time.Second)) {
		t.Errorf("lease = %+v, want key, holder a, a positive generation and expiry a minute ahead", l)
	}
	again, err := s.TakeLease(ctx, leaseKey, "b", time.Minute)
	if err != nil || again != nil {
		t.Fatalf("second TakeLease of a lease in force = %+v, %v; want nil, nil", again, err)
	}
	other := takeLease(t, s, "example.com/other@v1.0.0 zip", "b", time.Minute)
	if other.Generation == l.Generation {
		t.Errorf("two leases share generation %d", l.Generation)
	}
	if err := s.RenewLease(ctx, l, time.Minute); err != nil {
		t.Errorf("RenewLease of the lease in force: %v", err)
	}
}

func testLeaseCompleteStores(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := zipOf("example.com/m")
	key := "example.com/m@v1.0.0 zip"
	l := takeLease(t, s, key, "a", time.Minute)
	stored, err := s.CompleteLease(ctx, l, store.LeaseResult{Artifact: a})
	if err != nil {
		t.Fatalf("CompleteLease: %v", err)
	}
	got, err := s.Artifact(ctx, a.Module, a.Kind)
	if err != nil {
		t.Fatalf("Artifact after CompleteLease: %v", err)
	}
	if diff := cmp.Diff(got, stored); diff != "" {
		t.Errorf("CompleteLease returned a record other than the stored one (-stored +returned):\n%s", diff)
	}
	if got.SHA256 != a.SHA256 || got.Upstream != a.Upstream {
		t.Errorf("stored %+v, want %+v", got, a)
	}
	if _, err := s.CompleteLease(ctx, l, store.LeaseResult{Artifact: a}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("second CompleteLease of one lease: %v, want ErrLeaseLost", err)
	}
	if err := s.RenewLease(ctx, l, time.Minute); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("RenewLease of a completed lease: %v, want ErrLeaseLost", err)
	}
	next := takeLease(t, s, key, "b", time.Minute) // free again
	if next.Generation <= l.Generation {
		t.Errorf("generation after completion %d, want more than %d", next.Generation, l.Generation)
	}
}

func testLeaseCompleteFirstWriterWins(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	first := zipOf("example.com/m")
	if _, err := s.PutArtifact(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := zipOf("example.com/m")
	second.SHA256, second.Size = sum([]byte("other")), 5
	l := takeLease(t, s, "k", "a", time.Minute)
	stored, err := s.CompleteLease(ctx, l, store.LeaseResult{Artifact: second})
	if err != nil {
		t.Fatalf("CompleteLease: %v", err)
	}
	if stored.SHA256 != first.SHA256 {
		t.Errorf("CompleteLease over a stored artifact returned sha256 %s, want the first writer's %s", stored.SHA256, first.SHA256)
	}
}

func testLeaseTakeoverFences(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	hung := takeLease(t, s, leaseKey, "hung", time.Millisecond)
	fresh := takeover(t, s, leaseKey, "fresh", time.Minute)
	if fresh.Generation <= hung.Generation {
		t.Fatalf("takeover generation %d, want more than %d", fresh.Generation, hung.Generation)
	}
	a := zipOf("example.com/m")
	// The hung holder resumes: it can neither renew, nor complete, nor
	// release the lease of the holder that took over.
	if err := s.RenewLease(ctx, hung, time.Minute); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("RenewLease by the holder taken over: %v, want ErrLeaseLost", err)
	}
	if _, err := s.CompleteLease(ctx, hung, store.LeaseResult{Artifact: a}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("CompleteLease by the holder taken over: %v, want ErrLeaseLost", err)
	}
	if _, err := s.CompleteLease(ctx, hung, store.LeaseResult{Missing: "gone", MissingTTL: time.Minute}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("CompleteLease (missing) by the holder taken over: %v, want ErrLeaseLost", err)
	}
	if _, err := s.Artifact(ctx, a.Module, a.Kind); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the fenced completion stored the artifact (err %v)", err)
	}
	if _, err := s.Missing(ctx, leaseKey); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the fenced completion recorded a miss (err %v)", err)
	}
	if err := s.ReleaseLease(ctx, hung); err != nil {
		t.Errorf("ReleaseLease of a lost lease: %v, want nil", err)
	}
	if l, err := s.TakeLease(ctx, leaseKey, "third", time.Minute); err != nil || l != nil {
		t.Fatalf("the lost holder's release freed the new holder's lease: TakeLease = %+v, %v", l, err)
	}
	if _, err := s.CompleteLease(ctx, fresh, store.LeaseResult{Artifact: a}); err != nil {
		t.Errorf("CompleteLease by the holder that took over: %v", err)
	}
}

func testLeaseMissing(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.Missing(ctx, leaseKey); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Missing of a key never fetched: %v, want fs.ErrNotExist", err)
	}
	l := takeLease(t, s, leaseKey, "a", time.Minute)
	reason := "example.com/m@v1.0.0: " + hostile + ": 404 Not Found"
	stored, err := s.CompleteLease(ctx, l, store.LeaseResult{Missing: reason, MissingTTL: time.Minute})
	if err != nil || stored != nil {
		t.Fatalf("CompleteLease(missing) = %v, %v; want nil, nil", stored, err)
	}
	got, err := s.Missing(ctx, leaseKey)
	if err != nil || got != reason {
		t.Errorf("Missing = %q, %v; want %q", got, err, reason)
	}
	// A short-lived miss ends.
	l = takeLease(t, s, "short", "a", time.Minute)
	if _, err := s.CompleteLease(ctx, l, store.LeaseResult{Missing: "gone", MissingTTL: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLong)
	for {
		_, err := s.Missing(ctx, "short")
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("a miss remembered for 1ms: Missing = %v after %v", err, waitLong)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testLeaseRelease(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	l := takeLease(t, s, leaseKey, "a", time.Minute)
	if err := s.ReleaseLease(ctx, l); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	takeLease(t, s, leaseKey, "b", time.Minute)
	if _, err := s.CompleteLease(ctx, l, store.LeaseResult{}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("CompleteLease after release: %v, want ErrLeaseLost", err)
	}
}

// LeaseWatch checks that a watcher on b is woken when a completes or
// releases a lease of the key (a and b: two stores on one database, as for
// two replicas), and not by another key's.
func LeaseWatch(t *testing.T, a, b store.Leases) {
	ctx := ctxT(t)
	watchCtx, cancel := context.WithTimeout(ctx, waitLong)
	defer cancel()
	ch, stop := b.WatchLease(watchCtx, leaseKey)
	defer stop()
	otherCh, stopOther := b.WatchLease(watchCtx, "other key")
	defer stopOther()

	l := takeLease(t, a, leaseKey, "a", time.Minute)
	if _, err := a.CompleteLease(ctx, l, store.LeaseResult{Missing: "not found", MissingTTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(waitLong):
		t.Fatalf("watcher not woken %v after the lease was completed", waitLong)
	}
	l = takeLease(t, a, leaseKey, "a", time.Minute)
	if err := a.ReleaseLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(waitLong):
		t.Fatalf("watcher not woken %v after the lease was released", waitLong)
	}
	select {
	case <-otherCh:
		t.Errorf("a watcher of another key was woken")
	default:
	}
}
