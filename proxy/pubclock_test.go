package proxy_test

import (
	"context"
	"net/http"
	"strings"
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
