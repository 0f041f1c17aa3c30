package proxy_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
)

// A go.mod's requirements are looked up in the checksum database when the
// go.mod is fetched, before the client asks for them; the requirement's own
// .mod is then verified without asking the database again. Nothing is
// fetched from the upstream ahead, private requirements are never looked
// up, and requirements that are not valid module versions are skipped.
func TestRequirementsLookedUpAhead(t *testing.T) {
	dep := testkit.Build(t, mod("example.com/dep", "v1.2.0"))
	other := testkit.Build(t, mod("example.com/other", "v0.1.0"))
	top := testkit.Build(t, mod("example.com/top", "v1.0.0", "go.mod",
		"module example.com/top\n\ngo 1.21\n\nrequire (\n\texample.com/dep v1.2.0\n\texample.com/other v0.1.0\n"+
			"\tcorp.example.com/secret v1.0.0\n\texample.com/notcanonical v1.0\n)\n"))
	for _, tc := range []struct {
		name     string
		prefetch bool
	}{{"on", true}, {"off", false}} {
		t.Run(tc.name, func(t *testing.T) {
			db := testkit.NewSumDB(t, "sum.test", dep, other, top)
			h := newHarness(t, []*testkit.Built{dep, other, top}, withSumDB(t, db, &auditLog{}, ""),
				func(po *proxy.Options, _ *upstream.Options) { po.NoPrefetch = !tc.prefetch })
			if r := h.get("/example.com/top/@v/v1.0.0.mod"); r.code != http.StatusOK {
				t.Fatalf("top .mod: %d %s", r.code, r.body)
			}
			h.px.Wait() // the lookups ahead ended
			want := 0
			if tc.prefetch {
				want = 1
			}
			for _, m := range []string{"example.com/dep@v1.2.0", "example.com/other@v0.1.0"} {
				p, v, _ := strings.Cut(m, "@")
				if got := db.Lookups(p, v); got != want {
					t.Errorf("%s looked up %d times before it was asked for, want %d", m, got, want)
				}
				if n := h.up.Requests(fmt.Sprintf("/%s/@v/%s.mod", p, v)); n != 0 {
					t.Errorf("%s: .mod fetched from upstream ahead (%d requests)", m, n)
				}
			}
			if got := db.Lookups("corp.example.com/secret", "v1.0.0"); got != 0 {
				t.Errorf("a private requirement was looked up in the public checksum database (%d)", got)
			}
			if got := db.Lookups("example.com/notcanonical", "v1.0"); got != 0 {
				t.Errorf("a non-canonical version was looked up (%d)", got)
			}
			if r := h.get("/example.com/dep/@v/v1.2.0.mod"); r.code != http.StatusOK {
				t.Fatalf("dep .mod: %d %s", r.code, r.body)
			}
			if got := db.Lookups("example.com/dep", "v1.2.0"); got != 1 {
				t.Errorf("dep looked up %d times in all, want 1 (the check uses the lookup made ahead)", got)
			}
		})
	}
}
