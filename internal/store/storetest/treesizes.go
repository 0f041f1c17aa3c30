package storetest

import (
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/modgate/modgate/internal/store"
)

// treeSizeTests are the conformance cases of the TreeSizes role.
var treeSizeTests = []testCase{
	{"TreeSizeCovering", testTreeSizeCovering},
	{"TreeSizeSpacing", testTreeSizeSpacing},
}

// A record is dated by the smallest recorded size above its index; smaller
// or equal sizes seen later add nothing; databases are apart.
func testTreeSizeCovering(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 123456000, time.UTC)
	if _, err := s.TreeSizeCovering(ctx, "sum.test", 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("TreeSizeCovering of an empty store: err = %v, want fs.ErrNotExist", err)
	}
	for _, ts := range []store.TreeSize{
		{DB: "sum.test", Size: 100, Seen: t0},
		{DB: "sum.test", Size: 250, Seen: t0.Add(time.Hour)},
		{DB: "sum.test", Size: 250, Seen: t0.Add(2 * time.Hour)}, // seen before: nothing new
		{DB: "sum.test", Size: 90, Seen: t0.Add(3 * time.Hour)},  // an older head: nothing new
		{DB: "sum.test", Size: 400, Seen: t0.Add(4 * time.Hour)},
		{DB: "other.test", Size: 1000, Seen: t0.Add(-time.Hour)},
		{DB: "example.com/" + hostile, Size: 7, Seen: t0},
	} {
		if err := s.PutTreeSize(ctx, ts); err != nil {
			t.Fatalf("PutTreeSize(%+v): %v", ts, err)
		}
	}
	for _, c := range []struct {
		index int64
		want  store.TreeSize
	}{
		{0, store.TreeSize{DB: "sum.test", Size: 100, Seen: t0}},
		{99, store.TreeSize{DB: "sum.test", Size: 100, Seen: t0}},
		{100, store.TreeSize{DB: "sum.test", Size: 250, Seen: t0.Add(time.Hour)}},
		{249, store.TreeSize{DB: "sum.test", Size: 250, Seen: t0.Add(time.Hour)}},
		{399, store.TreeSize{DB: "sum.test", Size: 400, Seen: t0.Add(4 * time.Hour)}},
	} {
		got, err := s.TreeSizeCovering(ctx, "sum.test", c.index)
		if err != nil {
			t.Fatalf("TreeSizeCovering(%d): %v", c.index, err)
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("TreeSizeCovering(%d) (-want +got):\n%s", c.index, diff)
		}
	}
	if got, err := s.TreeSizeCovering(ctx, "sum.test", 400); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("TreeSizeCovering(400) = %+v, %v; want fs.ErrNotExist (no tree seen holds it)", got, err)
	}
	if got, err := s.TreeSizeCovering(ctx, "example.com/"+hostile, 6); err != nil || got.Size != 7 {
		t.Errorf("TreeSizeCovering of a hostile name = %+v, %v", got, err)
	}
	for _, bad := range []store.TreeSize{{DB: "", Size: 1, Seen: t0}, {DB: "sum.test", Size: 0, Seen: t0}} {
		if err := s.PutTreeSize(ctx, bad); err == nil {
			t.Errorf("PutTreeSize(%+v) succeeded", bad)
		}
	}
}

// Sizes seen less than store.TreeSizeSpacing after the row before the newest
// replace the newest row: the table stays small, and a record is dated later
// than it could be, never earlier than a tree holding it was seen.
func testTreeSizeSpacing(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	put := func(size int64, at time.Time) {
		t.Helper()
		if err := s.PutTreeSize(ctx, store.TreeSize{DB: "sum.test", Size: size, Seen: at}); err != nil {
			t.Fatal(err)
		}
	}
	put(10, t0)
	put(20, t0.Add(time.Minute))   // second row: nothing to replace yet
	put(30, t0.Add(2*time.Minute)) // row 10 is 2 min older: replaces 20
	put(40, t0.Add(3*time.Minute)) // replaces 30
	put(50, t0.Add(store.TreeSizeSpacing+time.Minute))
	for _, c := range []struct {
		index int64
		size  int64
		seen  time.Time
	}{
		{9, 10, t0},
		{15, 40, t0.Add(3 * time.Minute)}, // 20 was replaced: dated later than its head was seen
		{39, 40, t0.Add(3 * time.Minute)},
		{45, 50, t0.Add(store.TreeSizeSpacing + time.Minute)},
	} {
		got, err := s.TreeSizeCovering(ctx, "sum.test", c.index)
		if err != nil || got.Size != c.size || !got.Seen.Equal(c.seen) {
			t.Errorf("TreeSizeCovering(%d) = %+v, %v; want size %d seen %v", c.index, got, err, c.size, c.seen)
		}
	}
}
