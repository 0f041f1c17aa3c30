package proxy_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/proxy/verify"
)

// TestPolicyMinAgeSumDB: the checksum database (a real one) dates versions for
// min_age without the module index. A version whose record was in a tree
// head modgate first saw 73 hours ago is old enough; a version whose record
// is new is held by min_age (not min_age.unknown: its time is known, as an
// upper bound) until 72 hours after its tree was first seen.
func TestPolicyMinAgeSumDB(t *testing.T) {
	old := testkit.Build(t, mod("example.com/old", "v1.0.0"))
	young := testkit.Build(t, mod("example.com/young", "v1.0.0"))
	db := testkit.NewSumDB(t, "sum.test", old, young)
	h := newHarness(t, []*testkit.Built{old, young}, withPolicy(t, "mode: enforce\nmin_age: 72h\n", &auditLog{}),
		func(po *proxy.Options, uo *upstream.Options) {
			v, err := verify.New(verify.Options{Store: po.Store.(verify.Storage), SumDB: verify.SumDB{Name: db.Name, Key: db.Key},
				URL: db.URL, Now: po.Now})
			if err != nil {
				t.Fatal(err)
			}
			po.Verifier = v
		})
	ctx := context.Background()
	t0 := h.clock()
	if r := h.get("/example.com/old/@v/v1.0.0.mod"); r.code != http.StatusOK {
		t.Fatalf("old .mod = %d %s", r.code, r.body)
	}
	h.advance(73 * time.Hour)
	if r := h.get("/example.com/young/@v/v1.0.0.mod"); r.code != http.StatusOK {
		t.Fatalf("young .mod = %d %s", r.code, r.body)
	}
	if r := h.get("/example.com/old/@v/v1.0.0.zip"); r.code != http.StatusOK {
		t.Errorf("a version in a tree head seen 73h ago = %d %s, want 200", r.code, r.body)
	}
	f, err := h.st.Facts(ctx, module.Version{Path: "example.com/old", Version: "v1.0.0"})
	if err != nil || f.PublishedSource != store.PublishedSumDB || !f.Published.Equal(t0) {
		t.Errorf("old's facts: %+v, %v; want published %v by the checksum database", f, err, t0)
	}
	r := h.get("/example.com/young/@v/v1.0.0.zip")
	if body := string(r.body); r.code != http.StatusForbidden || !strings.Contains(body, "(min_age)") ||
		!strings.Contains(body, "at the latest") || !strings.Contains(body, "checksum database") || strings.Contains(body, "min_age.unknown") {
		t.Errorf("a version whose record is new = %d %q, want 403 by min_age dated by the checksum database", r.code, r.body)
	}
	h.advance(72*time.Hour + 6*time.Second) // and past the decision cache
	if r := h.get("/example.com/young/@v/v1.0.0.zip"); r.code != http.StatusOK {
		t.Errorf("72h after its tree was first seen = %d %s, want 200", r.code, r.body)
	}
}

// datingReads counts the reads that date a version by the checksum
// database (the verified lookup cache and the tree sizes).
type datingReads struct {
	verify.Storage
	n atomic.Int64
}

func (d *datingReads) Tile(ctx context.Context, db, path string) ([]byte, error) {
	d.n.Add(1)
	return d.Storage.Tile(ctx, db, path)
}

func (d *datingReads) TreeSizeCovering(ctx context.Context, db string, index int64) (store.TreeSize, error) {
	d.n.Add(1)
	return d.Storage.TreeSizeCovering(ctx, db, index)
}

// TestSumDBDatingOffHotPath: the checksum database dates a version at ingest;
// serving it from the cache (decisions made again, min_age applied from the
// stored publication time) reads nothing of the checksum database's state.
func TestSumDBDatingOffHotPath(t *testing.T) {
	m := testkit.Build(t, mod("example.com/m", "v1.0.0"))
	db := testkit.NewSumDB(t, "sum.test", m)
	counted := &datingReads{}
	h := newHarness(t, []*testkit.Built{m}, withPolicy(t, "mode: enforce\nmin_age: 72h\n", &auditLog{}),
		func(po *proxy.Options, uo *upstream.Options) {
			counted.Storage = po.Store.(verify.Storage)
			v, err := verify.New(verify.Options{Store: counted, SumDB: verify.SumDB{Name: db.Name, Key: db.Key}, URL: db.URL, Now: po.Now})
			if err != nil {
				t.Fatal(err)
			}
			po.Verifier = v
		})
	h.get("/example.com/m/@v/v1.0.0.mod")
	if r := h.get("/example.com/m/@v/v1.0.0.zip"); r.code != http.StatusForbidden {
		t.Fatalf("a version first seen in the checksum database now = %d, want 403 (min_age)", r.code)
	}
	if counted.n.Load() == 0 {
		t.Fatal("the ingest did not date the version from the checksum database")
	}
	h.advance(73 * time.Hour)
	// Old enough now: the zip (refused before any download) is fetched,
	// verified and stored once.
	if r := h.get("/example.com/m/@v/v1.0.0.zip"); r.code != http.StatusOK {
		t.Fatalf("zip after min_age = %d %s", r.code, r.body)
	}
	counted.n.Store(0)
	for i := 0; i < 3; i++ {
		h.advance(6 * time.Second) // past the decision cache: decided again
		if r := h.get("/example.com/m/@v/v1.0.0.zip"); r.code != http.StatusOK {
			t.Fatalf("cached zip after min_age = %d %s", r.code, r.body)
		}
		h.get("/example.com/m/@v/v1.0.0.mod")
	}
	if n := counted.n.Load(); n != 0 {
		t.Errorf("serving from the cache read the checksum database's state %d times, want 0", n)
	}
}
