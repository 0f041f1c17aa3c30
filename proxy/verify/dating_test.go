package verify_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy/verify"
)

// TestSumDBDatesRecords: the checksum database dates the versions it vouches
// for. Each verified tree head's size is recorded when first seen; a record
// (whose index the lookup gives) is dated by the first recorded tree that
// holds it, so a version is published no later than that, whenever it is
// verified again, by any verifier sharing the store.
func TestSumDBDatesRecords(t *testing.T) {
	a := built(t, "example.com/a", "v1.0.0", "a")
	b := built(t, "example.com/b", "v1.0.0", "b")
	c := built(t, "example.com/c", "v1.0.0", "c")
	priv := built(t, "corp.example.com/p", "v1.0.0", "p")
	db := testkit.NewSumDB(t, "sum.test", a, b, c)
	path := filepath.Join(t.TempDir(), "modgate.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	now := t0
	clock := func(o *verify.Options) { o.Now = func() time.Time { return now } }
	check := func(v *verify.Verifier, art verify.Artifact, want time.Time) {
		t.Helper()
		res, err := v.Check(ctx, art)
		if err != nil {
			t.Fatalf("Check(%s@%s .%s): %v", art.Module.Path, art.Module.Version, art.Kind, err)
		}
		if !res.Published.Equal(want) {
			t.Errorf("Check(%s@%s .%s) dated %v, want %v", art.Module.Path, art.Module.Version, art.Kind, res.Published, want)
		}
	}

	v := newVerifier(t, st, db, db.URL, clock)
	check(v, modOf(a), t0) // record 0: the tree of size 1, first seen now
	now = t0.Add(time.Hour)
	check(v, modOf(b), t0.Add(time.Hour)) // record 1: the tree of size 2
	now = t0.Add(2 * time.Hour)
	check(v, zipOf(a), t0) // still the first tree that held record 0

	// Another verifier on the same store (a restart, a replica) dates the
	// same records the same way.
	now = t0.Add(3 * time.Hour)
	restarted := newVerifier(t, st, db, db.URL, clock)
	if err := restarted.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	check(restarted, zipOf(b), t0.Add(time.Hour))
	check(restarted, modOf(c), t0.Add(3*time.Hour)) // a new record, in a tree first seen now
	check(restarted, modOf(priv), time.Time{})      // never looked up: not dated

	// A store that holds a tree head but no sizes (verified before sizes
	// were recorded) dates the records that head holds from the first
	// Refresh: no later than then.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM sumdb_tree_sizes`); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(4 * time.Hour)
	upgraded := newVerifier(t, st, db, db.URL, clock)
	check(upgraded, zipOf(a), time.Time{}) // no Refresh yet: no size covers record 0
	if err := upgraded.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(5 * time.Hour)
	check(upgraded, zipOf(a), t0.Add(4*time.Hour))
}
