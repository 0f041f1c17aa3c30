package web_test

import (
	"bytes"
	"compress/gzip"
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

// TestAdvisoryRealEntry reads the advisory page and API of a real entry of
// the Go vulnerability database (GO-2021-0113, golang.org/x/text before
// v0.3.7, copied unchanged into testdata): its module is
// affected[].package.name, and every stored version it affects is listed
// with who got its zip before and after modgate learnt of the advisory.
// gzipped is data as the database's .json.gz endpoints serve it.
func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAdvisoryRealEntry(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const id = "GO-2021-0113"
	learnt := nowTime.Add(-24 * time.Hour) // the sync that brought the advisory
	if err := st.ApplyVulnSync(ctx, &store.VulnSync{
		Put: []store.VulnEntry{{ID: id, Modified: time.Date(2024, 5, 20, 16, 3, 47, 0, time.UTC), ReviewStatus: "REVIEWED",
			Aliases: []string{"CVE-2021-38561", "GHSA-ppp9-7jff-5vj2"}, Modules: []string{"golang.org/x/text"}}},
		Files: []store.VulnFile{{Path: "ID/" + id + ".json", JSON: realEntry(t, id), Gzip: gzipped(t, realEntry(t, id))}},
		State: store.VulnState{Source: "file:///db", DBModified: learnt, SyncedAt: learnt, AttemptedAt: learnt},
	}); err != nil {
		t.Fatal(err)
	}
	v035 := module.Version{Path: "golang.org/x/text", Version: "v0.3.5"}
	v036 := module.Version{Path: "golang.org/x/text", Version: "v0.3.6"}
	v038 := module.Version{Path: "golang.org/x/text", Version: "v0.3.8"}
	before, after := learnt.Add(-48*time.Hour), learnt.Add(time.Hour)
	for _, f := range []*store.Facts{
		// v0.3.5 was stored before the advisory was known: learnt by re-evaluation.
		{Module: v035, UpdatedAt: learnt, Vulns: []store.Vuln{{ID: id, Fixed: "v0.3.7", LearntAt: learnt}}},
		// v0.3.6 was ingested after: known at ingest.
		{Module: v036, UpdatedAt: after, Vulns: []store.Vuln{{ID: id, Fixed: "v0.3.7", LearntAt: after, AtIngest: true}}},
		{Module: v038, UpdatedAt: after},
	} {
		if err := st.PutFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	fetch := func(at time.Time, client string, m module.Version, kind, decision string) *store.AuditEvent {
		return &store.AuditEvent{Time: at, Type: store.AuditFetch, ClientToken: client, ClientIP: "10.0.0.9",
			Module: m.Path, Version: m.Version, Kind: kind, Decision: decision}
	}
	if err := st.AppendAudit(ctx, []*store.AuditEvent{
		fetch(before, "ci-bot", v035, "mod", store.DecisionServed),
		fetch(before, "ci-bot", v035, "zip", store.DecisionServed),
		fetch(before.Add(time.Minute), "alice", v035, "zip", store.DecisionServed),
		fetch(before.Add(2*time.Minute), "ci-bot", v035, "zip", store.DecisionServed),
		fetch(after, "alice", v035, "zip", store.DecisionBlocked),
		fetch(after.Add(time.Minute), "release", v035, "zip", store.DecisionServed), // an exemption
		fetch(after.Add(2*time.Minute), "bob", v036, "zip", store.DecisionBlocked),
		// The request that ingested v0.3.6 (its audit time is the request's
		// start, a moment before the finding was recorded): modgate knew.
		fetch(after.Add(-time.Millisecond), "carol", v036, "zip", store.DecisionServed),
		fetch(after, "bob", v038, "zip", store.DecisionServed),
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

	resp, body := get(t, http.DefaultClient, srv.URL+"/api/advisories/"+id)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/advisories: %d\n%s", resp.StatusCode, body)
	}
	var got struct {
		Advisory struct {
			Summary string
			Modules []string
		}
		Versions []struct {
			Module        string
			Version       string
			Fixed         string
			AtIngest      bool                `json:"at_ingest"`
			ServedBefore  int                 `json:"served_before_learnt"`
			ServedAfter   int                 `json:"served_after_learnt"`
			ClientsBefore []web.ClientFetches `json:"clients_before_learnt"`
			ClientsAfter  []web.ClientFetches `json:"clients_after_learnt"`
		}
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Advisory.Summary != "Out-of-bounds read in golang.org/x/text/language" ||
		!cmp.Equal(got.Advisory.Modules, []string{"golang.org/x/text"}) {
		t.Errorf("advisory %+v", got.Advisory)
	}
	type line struct {
		Version             string
		AtIngest            bool
		Before, After       int
		WhoBefore, WhoAfter []web.ClientFetches
	}
	var lines []line
	for _, v := range got.Versions {
		lines = append(lines, line{v.Version, v.AtIngest, v.ServedBefore, v.ServedAfter, v.ClientsBefore, v.ClientsAfter})
	}
	want := []line{
		{"v0.3.5", false, 3, 1,
			[]web.ClientFetches{{Client: "ci-bot", Served: 2}, {Client: "alice", Served: 1}},
			[]web.ClientFetches{{Client: "release", Served: 1}, {Client: "alice", Blocked: 1}}},
		{"v0.3.6", true, 0, 1, []web.ClientFetches{}, []web.ClientFetches{{Client: "carol", Served: 1}, {Client: "bob", Blocked: 1}}},
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("affected versions (-want +got):\n%s", diff)
	}

	resp, body = get(t, http.DefaultClient, srv.URL+"/ui/advisory/"+id)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/ui/advisory: %d\n%s", resp.StatusCode, body)
	}
	for _, w := range []string{"golang.org/x/text@v0.3.5", "golang.org/x/text@v0.3.6", "served 3 times, to ci-bot (2 served); alice (1 served)",
		"served 1 times, to release (1 served); alice (0 served, 1 refused)", "CVE-2021-38561"} {
		if !strings.Contains(body, w) {
			t.Errorf("advisory page lacks %q", w)
		}
	}
	if strings.Contains(body, "golang.org/x/text@v0.3.8") {
		t.Errorf("advisory page lists v0.3.8, which the advisory does not affect")
	}
}
