package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/web"
)

// TestOverviewUpstream: the overview lists versions withdrawn upstream (and
// moved tags) with who got their zip before and after the takedown was
// found, in the page and the API; hostile upstream text is escaped.
func TestOverviewUpstream(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	found := nowTime.Add(-time.Hour)
	taken := module.Version{Path: "example.com/taken", Version: "v1.0.0"}
	moved := module.Version{Path: "example.com/moved", Version: "v1.2.3"}
	for _, u := range []store.UpstreamState{
		{Module: taken, Source: "https://proxy.example/" + hostile, WithdrawnAt: found, WithdrawnStatus: 410},
		{Module: moved, Source: "https://proxy.example", Origin: store.Origin{Hash: "aaaa"}, Moved: store.Origin{Hash: "bbbb" + hostile}, MovedAt: found.Add(-time.Hour)},
	} {
		if _, err := st.UpdateUpstream(ctx, u.Module, func(*store.UpstreamState) (*store.UpstreamState, error) { return &u, nil }); err != nil {
			t.Fatal(err)
		}
	}
	fetch := func(at time.Time, client string, decision string) *store.AuditEvent {
		return &store.AuditEvent{Time: at, Type: store.AuditFetch, ClientToken: client, ClientIP: "10.0.0.9",
			Module: taken.Path, Version: taken.Version, Kind: "zip", Decision: decision}
	}
	if err := st.AppendAudit(ctx, []*store.AuditEvent{
		fetch(found.Add(-48*time.Hour), "ci-bot", store.DecisionServed),
		fetch(found.Add(-24*time.Hour), "alice", store.DecisionServed),
		fetch(found.Add(time.Minute), "bob", store.DecisionBlocked),
	}); err != nil {
		t.Fatal(err)
	}
	s, err := web.NewServer(web.Options{
		Audit: st, Facts: st, VulnDB: st, Sums: st, SBOMs: st, Exemptions: st,
		Policy: func() *policy.Policy { return policy.Default() },
		Now:    func() time.Time { return nowTime },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(authenticate(s.Handler()))
	defer srv.Close()
	resp, body := get(t, http.DefaultClient, srv.URL+"/api/overview")
	if resp.StatusCode != 200 {
		t.Fatalf("/api/overview: %d\n%s", resp.StatusCode, body)
	}
	var got struct {
		Upstream []struct {
			Module, Version, Finding string
			Status                   int                 `json:"withdrawn_status"`
			Before                   []web.ClientFetches `json:"clients_before"`
			After                    []web.ClientFetches `json:"clients_after"`
		}
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Upstream) != 2 {
		t.Fatalf("upstream: %+v", got.Upstream)
	}
	u := got.Upstream[0]
	if u.Module != taken.Path || u.Finding != "withdrawn upstream" || u.Status != 410 ||
		!cmp.Equal(u.Before, []web.ClientFetches{{Client: "alice", Served: 1}, {Client: "ci-bot", Served: 1}}) ||
		!cmp.Equal(u.After, []web.ClientFetches{{Client: "bob", Blocked: 1}}) {
		t.Errorf("withdrawn version: %+v", u)
	}
	if got.Upstream[1].Module != moved.Path || got.Upstream[1].Finding != "origin changed" {
		t.Errorf("moved version: %+v", got.Upstream[1])
	}
	_, page := get(t, http.DefaultClient, srv.URL+"/ui/")
	for _, want := range []string{"example.com/taken@v1.0.0", "withdrawn upstream", "alice (1 before)", "bob (0 after, 1 refused)", "origin changed"} {
		if !strings.Contains(page, want) {
			t.Errorf("overview page lacks %q", want)
		}
	}
	if strings.Contains(page, hostile) {
		t.Error("overview page has unescaped upstream text")
	}
}
