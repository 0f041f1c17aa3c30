package storetest

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// vulnTests are the conformance cases of the vulns role.
var vulnTests = []testCase{
	{"VulnSyncRoundTrip", testVulnSyncRoundTrip},
	{"VulnSyncIncremental", testVulnSyncIncremental},
	{"VulnSyncError", testVulnSyncError},
	{"VulnStamps", testVulnStamps},
	{"FactsRoundTrip", testFactsRoundTrip},
	{"FactsKeepLearntAt", testFactsKeepLearntAt},
	{"FactsPutAgain", testFactsPutAgain},
	{"FindingsUpdate", testFindingsUpdate},
	{"ModuleNotesRoundTrip", testModuleNotesRoundTrip},
}

var (
	t2021 = time.Date(2021, 10, 6, 17, 51, 21, 0, time.UTC)
	t2024 = time.Date(2024, 5, 20, 16, 3, 47, 0, time.UTC)
)

func vulnSync() *store.VulnSync {
	return &store.VulnSync{
		Index: []store.VulnFile{
			{Path: "index/db.json", JSON: []byte(`{"modified":"2024-05-20T16:03:47Z"}`), Gzip: []byte("gz-db")},
			{Path: "index/modules.json", JSON: []byte(`[]`), Gzip: []byte("gz-modules")},
		},
		Put: []store.VulnEntry{
			{ID: "GO-2021-0113", Modified: t2024, Published: t2021, Aliases: []string{"CVE-2021-38561", "GHSA-ppp9-7jff-5vj2"},
				Summary: "Out-of-bounds read in " + hostile, ReviewStatus: "REVIEWED", Modules: []string{"golang.org/x/text"}},
			{ID: "GO-2022-0617", Modified: t2024, Withdrawn: t2024, ReviewStatus: "UNREVIEWED",
				Modules: []string{"golang.org/x/text", "stdlib"}},
		},
		Files: []store.VulnFile{
			{Path: "ID/GO-2021-0113.json", JSON: []byte(`{"id":"GO-2021-0113"}`), Gzip: []byte("gz1")},
			{Path: "ID/GO-2022-0617.json", JSON: []byte(`{"id":"GO-2022-0617"}`), Gzip: []byte("gz2")},
		},
		State: store.VulnState{Source: "file:///db", DBModified: t2024, SyncedAt: t2024.Add(time.Hour), AttemptedAt: t2024.Add(time.Hour)},
	}
}

func testVulnSyncRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	st, err := s.VulnState(ctx)
	if err != nil {
		t.Fatalf("VulnState before any sync: %v", err)
	}
	if diff := cmp.Diff(&store.VulnState{}, st); diff != "" {
		t.Errorf("VulnState before any sync (-want +got):\n%s", diff)
	}
	if _, err := s.VulnFile(ctx, "index/db.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("VulnFile before any sync: got %v, want fs.ErrNotExist", err)
	}
	vs := vulnSync()
	if err := s.ApplyVulnSync(ctx, vs); err != nil {
		t.Fatalf("ApplyVulnSync: %v", err)
	}
	for _, f := range append(vs.Index, vs.Files...) {
		got, err := s.VulnFile(ctx, f.Path)
		if err != nil {
			t.Fatalf("VulnFile(%s): %v", f.Path, err)
		}
		if diff := cmp.Diff(&f, got); diff != "" {
			t.Errorf("VulnFile(%s) (-want +got):\n%s", f.Path, diff)
		}
	}
	all, err := s.VulnEntries(ctx)
	if err != nil {
		t.Fatalf("VulnEntries: %v", err)
	}
	if diff := cmp.Diff(vs.Put, all); diff != "" {
		t.Errorf("VulnEntries (-want +got):\n%s", diff)
	}
	got, err := s.VulnEntriesFor(ctx, "stdlib")
	if err != nil {
		t.Fatalf("VulnEntriesFor: %v", err)
	}
	want := []store.VulnEntry{vs.Put[1]}
	want[0].JSON = vs.Files[1].JSON
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("VulnEntriesFor(stdlib) (-want +got):\n%s", diff)
	}
	if got, err := s.VulnEntriesFor(ctx, "golang.org/x/TEXT"); err != nil || len(got) != 0 {
		t.Errorf("VulnEntriesFor(other case) = %v, %v; want none", got, err)
	}
	// Several paths in one query (a version and its requirements): each
	// entry once, even one that names two of them (GO-2022-0617).
	got, err = s.VulnEntriesFor(ctx, "stdlib", "example.com/none", "golang.org/x/text", "stdlib")
	if err != nil {
		t.Fatalf("VulnEntriesFor(several): %v", err)
	}
	want = []store.VulnEntry{vs.Put[0], vs.Put[1]}
	want[0].JSON, want[1].JSON = vs.Files[0].JSON, vs.Files[1].JSON
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("VulnEntriesFor(several paths) (-want +got):\n%s", diff)
	}
	if got, err := s.VulnEntriesFor(ctx); err != nil || len(got) != 0 {
		t.Errorf("VulnEntriesFor() = %v, %v; want none", got, err)
	}
	st, err = s.VulnState(ctx)
	if err != nil {
		t.Fatalf("VulnState: %v", err)
	}
	wantSt := vs.State
	wantSt.Entries = 2
	if diff := cmp.Diff(&wantSt, st); diff != "" {
		t.Errorf("VulnState (-want +got):\n%s", diff)
	}
}

func testVulnSyncIncremental(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if err := s.ApplyVulnSync(ctx, vulnSync()); err != nil {
		t.Fatalf("ApplyVulnSync: %v", err)
	}
	later := t2024.Add(48 * time.Hour)
	second := &store.VulnSync{
		Index: []store.VulnFile{{Path: "index/db.json", JSON: []byte(`{"modified":"2024-05-22T16:03:47Z"}`), Gzip: []byte("gz-db2")}},
		Put: []store.VulnEntry{{ID: "GO-2021-0113", Modified: later, ReviewStatus: "REVIEWED",
			Modules: []string{"golang.org/x/text/v2"}}},
		Files:  []store.VulnFile{{Path: "ID/GO-2021-0113.json", JSON: []byte(`{"id":"GO-2021-0113","v":2}`), Gzip: []byte("gz1b")}},
		Delete: []string{"GO-2022-0617"},
		State:  store.VulnState{Source: "file:///db", DBModified: later, SyncedAt: later, AttemptedAt: later, Refused: []string{"GO-2024-9999"}},
	}
	if err := s.ApplyVulnSync(ctx, second); err != nil {
		t.Fatalf("ApplyVulnSync(second): %v", err)
	}
	all, err := s.VulnEntries(ctx)
	if err != nil {
		t.Fatalf("VulnEntries: %v", err)
	}
	if diff := cmp.Diff(second.Put, all); diff != "" {
		t.Errorf("VulnEntries after second sync (-want +got):\n%s", diff)
	}
	for path, want := range map[string]int{"golang.org/x/text": 0, "stdlib": 0, "golang.org/x/text/v2": 1} {
		got, err := s.VulnEntriesFor(ctx, path)
		if err != nil || len(got) != want {
			t.Errorf("VulnEntriesFor(%s) = %d entries, %v; want %d", path, len(got), err, want)
		}
	}
	if _, err := s.VulnFile(ctx, "ID/GO-2022-0617.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("deleted entry's file: got %v, want fs.ErrNotExist", err)
	}
	if f, err := s.VulnFile(ctx, "index/modules.json"); err != nil || string(f.JSON) != "[]" {
		t.Errorf("index file not in the second sync: got %v, %v; want it kept", f, err)
	}
	st, err := s.VulnState(ctx)
	if err != nil {
		t.Fatalf("VulnState: %v", err)
	}
	if st.Entries != 1 || !st.DBModified.Equal(later) || !slices.Equal(st.Refused, []string{"GO-2024-9999"}) {
		t.Errorf("VulnState = %+v; want 1 entry, modified %v, one refused id", st, later)
	}
}

func testVulnSyncError(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if err := s.RecordVulnSyncError(ctx, t2021, "first "+hostile); err != nil {
		t.Fatalf("RecordVulnSyncError before any sync: %v", err)
	}
	if err := s.ApplyVulnSync(ctx, vulnSync()); err != nil {
		t.Fatalf("ApplyVulnSync: %v", err)
	}
	failed := t2024.Add(2 * time.Hour)
	if err := s.RecordVulnSyncError(ctx, failed, "HTTP status 500"); err != nil {
		t.Fatalf("RecordVulnSyncError: %v", err)
	}
	st, err := s.VulnState(ctx)
	if err != nil {
		t.Fatalf("VulnState: %v", err)
	}
	want := vulnSync().State
	want.AttemptedAt, want.LastError, want.Entries = failed, "HTTP status 500", 2
	if diff := cmp.Diff(&want, st); diff != "" {
		t.Errorf("VulnState after a failed attempt (-want +got):\n%s", diff)
	}
}

func sampleFacts() *store.Facts {
	m := module.Version{Path: "example.com/m", Version: "v1.2.3"}
	return &store.Facts{
		Module: m,
		Vulns: []store.Vuln{
			{ID: "GO-2021-0113", Fixed: "v1.2.4", LearntAt: t2021, AtIngest: true},
			{ID: "GO-2099-0001", LearntAt: t2024}, // no stored entry: joined fields empty
		},
		Requires: []module.Version{{Path: "golang.org/x/text", Version: "v0.3.5"}, {Path: hostile, Version: "v1.0.0"}},
		VulnerableRequires: []store.VulnerableRequirement{{
			Module: module.Version{Path: "golang.org/x/text", Version: "v0.3.5"},
			Vulns:  []store.Vuln{{ID: "GO-2021-0113", Fixed: "v0.3.7", LearntAt: t2021, AtIngest: true}},
		}},
		Licenses: []string{"Apache-2.0", "MIT"}, LicensesKnown: true,
		Retracted: true, Rationale: hostile,
		Deprecated: true, Deprecation: "use example.com/m/v2",
		Published: t2021, PublishedSource: store.PublishedUpstream,
		UpdatedAt: t2024,
	}
}

func testFactsRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.Facts(ctx, module.Version{Path: "example.com/m", Version: "v1.2.3"}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Facts before PutFacts: got %v, want fs.ErrNotExist", err)
	}
	if err := s.ApplyVulnSync(ctx, vulnSync()); err != nil {
		t.Fatalf("ApplyVulnSync: %v", err)
	}
	in := sampleFacts()
	if err := s.PutFacts(ctx, in); err != nil {
		t.Fatalf("PutFacts: %v", err)
	}
	got, err := s.Facts(ctx, in.Module)
	if err != nil {
		t.Fatalf("Facts: %v", err)
	}
	want := sampleFacts()
	e := vulnSync().Put[0]
	for _, v := range []*store.Vuln{&want.Vulns[0], &want.VulnerableRequires[0].Vulns[0]} {
		v.Aliases, v.Summary, v.ReviewStatus = e.Aliases, e.Summary, e.ReviewStatus
	}
	slices.SortFunc(want.Requires, func(a, b module.Version) int { return cmpStr(a.Path, b.Path) })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Facts (-want +got):\n%s", diff)
	}
	if vs, err := s.FactVersions(ctx, "example.com/m"); err != nil || !slices.Equal(vs, []string{"v1.2.3"}) {
		t.Errorf("FactVersions = %v, %v", vs, err)
	}
	deps, err := s.Dependents(ctx, "golang.org/x/text")
	if err != nil {
		t.Fatalf("Dependents: %v", err)
	}
	wantDeps := []store.Requirement{{Module: in.Module, Requires: module.Version{Path: "golang.org/x/text", Version: "v0.3.5"}}}
	if diff := cmp.Diff(wantDeps, deps); diff != "" {
		t.Errorf("Dependents (-want +got):\n%s", diff)
	}
	// Replacing: fewer requirements and findings.
	in2 := &store.Facts{Module: in.Module, UpdatedAt: t2024}
	if err := s.PutFacts(ctx, in2); err != nil {
		t.Fatalf("PutFacts(replace): %v", err)
	}
	got, err = s.Facts(ctx, in.Module)
	if err != nil {
		t.Fatalf("Facts: %v", err)
	}
	// ... except the publication time: a zero one never replaces a stored
	// one (store.BetterPublished).
	want2 := *in2
	want2.Published, want2.PublishedSource = want.Published, want.PublishedSource
	if diff := cmp.Diff(&want2, got); diff != "" {
		t.Errorf("Facts after replacing (-want +got):\n%s", diff)
	}
	if deps, err := s.Dependents(ctx, "golang.org/x/text"); err != nil || len(deps) != 0 {
		t.Errorf("Dependents after replacing = %v, %v; want none", deps, err)
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// testFactsPutAgain puts a version's facts again, as its zip's ingest does
// after its .mod's: unchanged, then with a requirement moved to another
// version (as many as before) and a finding's fix changed.
func testFactsPutAgain(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	x := module.Version{Path: "example.com/x", Version: "v1.0.0"}
	y := module.Version{Path: "example.com/y", Version: "v1.0.0"}
	facts := func(yv, fixed string) *store.Facts {
		return &store.Facts{Module: m, Requires: []module.Version{x, {Path: y.Path, Version: yv}},
			Vulns:     []store.Vuln{{ID: "GO-1", Fixed: fixed, LearntAt: t2021, AtIngest: true}},
			UpdatedAt: t2021}
	}
	for _, step := range []struct {
		name      string
		in        *store.Facts
		wantFixed string
	}{
		{"first", facts("v1.0.0", "v1.0.1"), "v1.0.1"},
		{"unchanged", facts("v1.0.0", "v1.0.1"), "v1.0.1"},
		{"changed", facts("v1.1.0", "v1.0.2"), "v1.0.2"},
	} {
		if err := s.PutFacts(ctx, step.in); err != nil {
			t.Fatalf("%s: PutFacts: %v", step.name, err)
		}
		got, err := s.Facts(ctx, m)
		if err != nil {
			t.Fatalf("%s: Facts: %v", step.name, err)
		}
		if diff := cmp.Diff(step.in.Requires, got.Requires); diff != "" {
			t.Errorf("%s: Requires (-want +got):\n%s", step.name, diff)
		}
		want := []store.Vuln{{ID: "GO-1", Fixed: step.wantFixed, LearntAt: t2021, AtIngest: true}}
		if diff := cmp.Diff(want, got.Vulns); diff != "" {
			t.Errorf("%s: Vulns (-want +got):\n%s", step.name, diff)
		}
		deps, err := s.Dependents(ctx, y.Path)
		if err != nil {
			t.Fatalf("%s: Dependents: %v", step.name, err)
		}
		wantDeps := []store.Requirement{{Module: m, Requires: step.in.Requires[1]}}
		if diff := cmp.Diff(wantDeps, deps); diff != "" {
			t.Errorf("%s: Dependents (-want +got):\n%s", step.name, diff)
		}
	}
}

func testFactsKeepLearntAt(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	first := &store.Facts{Module: m, Vulns: []store.Vuln{{ID: "GO-1", LearntAt: t2021}}, UpdatedAt: t2021}
	if err := s.PutFacts(ctx, first); err != nil {
		t.Fatalf("PutFacts: %v", err)
	}
	second := &store.Facts{Module: m, Vulns: []store.Vuln{{ID: "GO-1", LearntAt: t2024, AtIngest: true}, {ID: "GO-2", AtIngest: true}},
		LicensesKnown: true, UpdatedAt: t2024}
	if err := s.PutFacts(ctx, second); err != nil {
		t.Fatalf("PutFacts: %v", err)
	}
	got, err := s.Facts(ctx, m)
	if err != nil {
		t.Fatalf("Facts: %v", err)
	}
	want := []store.Vuln{{ID: "GO-1", LearntAt: t2021}, {ID: "GO-2", LearntAt: t2024, AtIngest: true}}
	if diff := cmp.Diff(want, got.Vulns); diff != "" {
		t.Errorf("Vulns after a second PutFacts (-want +got):\n%s", diff)
	}
}

func testFindingsUpdate(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	a := module.Version{Path: "example.com/a", Version: "v1.0.0"}
	b := module.Version{Path: "example.com/b", Version: "v0.0.0-20240101000000-abcdefabcdef"}
	for _, m := range []module.Version{a, b} {
		if err := s.PutFacts(ctx, &store.Facts{Module: m, Vulns: []store.Vuln{{ID: "GO-OLD", AtIngest: true, LearntAt: t2021}}}); err != nil {
			t.Fatalf("PutFacts: %v", err)
		}
	}
	add := []store.Finding{
		{Module: a, VulnID: "GO-NEW", Fixed: "v1.0.1", LearntAt: t2024},
		{Module: b, Via: module.Version{Path: "golang.org/x/text", Version: "v0.3.5"}, VulnID: "GO-NEW", LearntAt: t2024.Add(time.Second)},
		{Module: a, VulnID: "GO-OLD", LearntAt: t2024}, // already stored: keeps its time
	}
	remove := []store.Finding{{Module: b, VulnID: "GO-OLD"}}
	if err := s.UpdateFindings(ctx, add, remove); err != nil {
		t.Fatalf("UpdateFindings: %v", err)
	}
	got, err := s.LearntFindings(ctx, t2024)
	if err != nil {
		t.Fatalf("LearntFindings: %v", err)
	}
	want := []store.Finding{add[0], add[1]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LearntFindings (-want +got):\n%s", diff)
	}
	if got, err := s.LearntFindings(ctx, t2024.Add(time.Minute)); err != nil || len(got) != 0 {
		t.Errorf("LearntFindings(later) = %v, %v; want none", got, err)
	}
	fb, err := s.Facts(ctx, b)
	if err != nil {
		t.Fatalf("Facts(b): %v", err)
	}
	if len(fb.Vulns) != 0 || len(fb.VulnerableRequires) != 1 || fb.VulnerableRequires[0].Vulns[0].ID != "GO-NEW" {
		t.Errorf("Facts(b) = %+v; want GO-OLD removed and GO-NEW through golang.org/x/text", fb)
	}
	fa, err := s.Facts(ctx, a)
	if err != nil {
		t.Fatalf("Facts(a): %v", err)
	}
	wantA := []store.Vuln{{ID: "GO-NEW", Fixed: "v1.0.1", LearntAt: t2024}, {ID: "GO-OLD", LearntAt: t2021, AtIngest: true}}
	if diff := cmp.Diff(wantA, fa.Vulns); diff != "" {
		t.Errorf("Facts(a).Vulns (-want +got):\n%s", diff)
	}
}

func testModuleNotesRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.ModuleNotes(ctx, "example.com/m"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ModuleNotes before PutModuleNotes: got %v, want fs.ErrNotExist", err)
	}
	for _, n := range []*store.ModuleNotes{
		{Path: "example.com/m", LatestVersion: "v1.1.0", UpdatedAt: t2021,
			Retractions: []store.Retraction{{Low: "v1.0.0", High: "v1.0.5", Rationale: hostile}, {Low: "v1.0.9", High: "v1.0.9"}}},
		{Path: "example.com/m", LatestVersion: "v1.2.0", Deprecated: true, Deprecation: "use v2", UpdatedAt: t2024},
	} {
		if err := s.PutModuleNotes(ctx, n); err != nil {
			t.Fatalf("PutModuleNotes: %v", err)
		}
		got, err := s.ModuleNotes(ctx, n.Path)
		if err != nil {
			t.Fatalf("ModuleNotes: %v", err)
		}
		if diff := cmp.Diff(n, got); diff != "" {
			t.Errorf("ModuleNotes (-want +got):\n%s", diff)
		}
	}
}

// VulnStamps names, for any set of paths, the entries VulnEntriesFor returns
// (ids and modified times, in its order), before and after a sync changes,
// adds and deletes entries.
func testVulnStamps(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	sets := [][]string{{"stdlib"}, {"golang.org/x/text"}, {"stdlib", "example.com/none", "golang.org/x/text", "stdlib"},
		{"golang.org/x/text/v2"}, {"golang.org/x/TEXT"}, {"example.com/" + hostile}, {}}
	check := func(when string, want map[string][]store.VulnStamp) {
		t.Helper()
		for _, paths := range sets {
			entries, err := s.VulnEntriesFor(ctx, paths...)
			if err != nil {
				t.Fatalf("%s: VulnEntriesFor(%q): %v", when, paths, err)
			}
			got, err := s.VulnStampsFor(ctx, paths...)
			if err != nil {
				t.Fatalf("%s: VulnStampsFor(%q): %v", when, paths, err)
			}
			if diff := cmp.Diff(store.Stamps(entries), got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: VulnStampsFor(%q) against VulnEntriesFor (-entries +stamps):\n%s", when, paths, diff)
			}
			if w, ok := want[strings.Join(paths, " ")]; ok {
				if diff := cmp.Diff(w, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%s: VulnStampsFor(%q) (-want +got):\n%s", when, paths, diff)
				}
			}
		}
	}
	check("before any sync", map[string][]store.VulnStamp{"stdlib": nil})
	if err := s.ApplyVulnSync(ctx, vulnSync()); err != nil {
		t.Fatalf("ApplyVulnSync: %v", err)
	}
	check("after the first sync", map[string][]store.VulnStamp{
		"stdlib":            {{ID: "GO-2022-0617", Modified: t2024}},
		"golang.org/x/text": {{ID: "GO-2021-0113", Modified: t2024}, {ID: "GO-2022-0617", Modified: t2024}},
	})
	later := t2024.Add(48 * time.Hour)
	if err := s.ApplyVulnSync(ctx, &store.VulnSync{
		Put: []store.VulnEntry{{ID: "GO-2021-0113", Modified: later, ReviewStatus: "REVIEWED", Modules: []string{"golang.org/x/text", "golang.org/x/text/v2"}},
			{ID: "GO-2024-0001", Modified: later, ReviewStatus: "REVIEWED", Modules: []string{"example.com/" + hostile}}},
		Files: []store.VulnFile{{Path: "ID/GO-2021-0113.json", JSON: []byte(`{"id":"GO-2021-0113","v":2}`), Gzip: []byte("gz1b")},
			{Path: "ID/GO-2024-0001.json", JSON: []byte(`{"id":"GO-2024-0001"}`), Gzip: []byte("gz3")}},
		Delete: []string{"GO-2022-0617"},
		State:  store.VulnState{Source: "file:///db", DBModified: later, SyncedAt: later, AttemptedAt: later},
	}); err != nil {
		t.Fatalf("ApplyVulnSync(second): %v", err)
	}
	check("after the second sync", map[string][]store.VulnStamp{
		"stdlib":                 nil,
		"golang.org/x/text":      {{ID: "GO-2021-0113", Modified: later}},
		"golang.org/x/text/v2":   {{ID: "GO-2021-0113", Modified: later}},
		"example.com/" + hostile: {{ID: "GO-2024-0001", Modified: later}},
	})
}
