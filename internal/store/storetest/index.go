package storetest

import (
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

var indexTests = []testCase{
	{"IndexRoundTrip", testIndexRoundTrip},
	{"IndexKeepsEarliest", testIndexKeepsEarliest},
	{"IndexDatesFacts", testIndexDatesFacts},
	{"FactsKeepBetterPublished", testFactsKeepBetterPublished},
	{"FactsKeepNewerFindings", testFactsKeepNewerFindings},
	{"FixedBy", testFixedBy},
}

// FixedBy finds the stored versions a version fixes: their own findings of
// advisories not withdrawn, not a requirement's, not the version's own.
func testFixedBy(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if err := s.ApplyVulnSync(ctx, vulnSync()); err != nil { // GO-2022-0617 is withdrawn
		t.Fatal(err)
	}
	in := sampleFacts() // example.com/m v1.2.3: GO-2021-0113 fixed in v1.2.4; via x/text, fixed in v0.3.7
	in.Vulns = append(in.Vulns, store.Vuln{ID: "GO-2022-0617", Fixed: "v1.2.4", LearntAt: t2024})
	if err := s.PutFacts(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.FixedBy(ctx, module.Version{Path: "example.com/m", Version: "v1.2.4"})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Finding{{Module: in.Module, VulnID: "GO-2021-0113", Fixed: "v1.2.4", LearntAt: t2021, AtIngest: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FixedBy (-want +got):\n%s", diff)
	}
	for _, m := range []module.Version{
		{Path: "golang.org/x/text", Version: "v0.3.7"}, // a requirement's fix is not example.com/m's
		{Path: "example.com/m", Version: "v1.2.5"},
		{Path: "example.com/" + hostile, Version: "v1.2.4"},
	} {
		if got, err := s.FixedBy(ctx, m); err != nil || len(got) != 0 {
			t.Errorf("FixedBy(%v) = %v, %v; want none", m, got, err)
		}
	}
}

func testIndexRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if st, err := s.IndexState(ctx); err != nil || st != (store.IndexState{}) {
		t.Fatalf("IndexState of an empty store = %+v, %v; want zero, nil", st, err)
	}
	ts := time.Date(2019, 4, 10, 19, 8, 52, 997264000, time.UTC)
	hostileMod := module.Version{Path: "example.com/" + hostile, Version: "v1.0.0"}
	entries := []store.IndexEntry{
		{Module: module.Version{Path: "golang.org/x/text", Version: "v0.3.0"}, Timestamp: ts},
		{Module: hostileMod, Timestamp: ts.Add(time.Second)},
	}
	st := store.IndexState{Source: "https://index.golang.org/index", Since: ts.Add(time.Second), Entries: 2,
		ReadAt: ts.Add(time.Hour), CaughtUp: true, AttemptedAt: ts.Add(time.Hour)}
	if err := s.PutIndexPage(ctx, entries, st); err != nil {
		t.Fatal(err)
	}
	got, err := s.IndexState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, got); diff != "" {
		t.Errorf("IndexState (-want +got):\n%s", diff)
	}
	for _, e := range entries {
		if got, err := s.IndexTime(ctx, e.Module); err != nil || !got.Equal(e.Timestamp) {
			t.Errorf("IndexTime(%v) = %v, %v; want %v", e.Module, got, err, e.Timestamp)
		}
	}
	if _, err := s.IndexTime(ctx, module.Version{Path: "golang.org/x/text", Version: "v0.3.1"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("IndexTime of an unlisted version: err = %v, want fs.ErrNotExist", err)
	}
	// A failed read keeps what was read and says why.
	st.AttemptedAt, st.LastError = ts.Add(2*time.Hour), "index: 503 Service Unavailable; "+hostile
	if err := s.PutIndexState(ctx, st); err != nil {
		t.Fatal(err)
	}
	if got, err := s.IndexState(ctx); err != nil || got != st {
		t.Errorf("IndexState after PutIndexState = %+v, %v; want %+v", got, err, st)
	}
}

func testIndexKeepsEarliest(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	ts := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	// Listed twice in one page, then again later: the earliest stays.
	if err := s.PutIndexPage(ctx, []store.IndexEntry{{Module: m, Timestamp: ts.Add(time.Minute)}, {Module: m, Timestamp: ts}}, store.IndexState{Since: ts.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIndexPage(ctx, []store.IndexEntry{{Module: m, Timestamp: ts.Add(time.Hour)}}, store.IndexState{Since: ts.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.IndexTime(ctx, m); err != nil || !got.Equal(ts) {
		t.Errorf("IndexTime = %v, %v; want the earliest, %v", got, err, ts)
	}
}

func testIndexDatesFacts(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ts := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	seen := ts.Add(24 * time.Hour)
	type rec struct {
		published time.Time
		source    string
	}
	cases := []struct {
		name string
		have rec
		want rec
	}{
		{"first-seen", rec{seen, store.PublishedFirstSeen}, rec{ts, store.PublishedIndex}},
		{"info-time", rec{ts.Add(-365 * 24 * time.Hour), store.PublishedInfo}, rec{ts, store.PublishedIndex}},
		{"none", rec{}, rec{ts, store.PublishedIndex}},
		{"later-upstream", rec{ts.Add(time.Minute), store.PublishedUpstream}, rec{ts, store.PublishedIndex}},
		{"earlier-upstream", rec{ts.Add(-time.Minute), store.PublishedUpstream}, rec{ts.Add(-time.Minute), store.PublishedUpstream}},
		{"later-sumdb", rec{ts.Add(time.Minute), store.PublishedSumDB}, rec{ts, store.PublishedIndex}},
		{"earlier-sumdb", rec{ts.Add(-time.Minute), store.PublishedSumDB}, rec{ts.Add(-time.Minute), store.PublishedSumDB}},
	}
	var entries []store.IndexEntry
	for _, c := range cases {
		m := module.Version{Path: "example.com/" + c.name, Version: "v1.0.0"}
		f := &store.Facts{Module: m, Published: c.have.published, PublishedSource: c.have.source, UpdatedAt: seen}
		if err := s.PutFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, store.IndexEntry{Module: m, Timestamp: ts})
	}
	// An entry of a version without facts makes none.
	unknown := module.Version{Path: "example.com/not-fetched", Version: "v1.0.0"}
	entries = append(entries, store.IndexEntry{Module: unknown, Timestamp: ts})
	if err := s.PutIndexPage(ctx, entries, store.IndexState{Since: ts}); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		m := module.Version{Path: "example.com/" + c.name, Version: "v1.0.0"}
		f, err := s.Facts(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if got := (rec{f.Published, f.PublishedSource}); !got.published.Equal(c.want.published) || got.source != c.want.source {
			t.Errorf("%s: facts published %v (%s), want %v (%s)", c.name, got.published, got.source, c.want.published, c.want.source)
		}
		if want := c.have; !store.BetterPublished(want.published, want.source, ts, store.PublishedIndex) && f.PublishedSource == store.PublishedIndex {
			t.Errorf("%s: the driver replaced a time store.BetterPublished keeps", c.name)
		}
	}
	if _, err := s.Facts(ctx, unknown); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("facts of a version never fetched: err = %v, want fs.ErrNotExist", err)
	}
}

// Facts are computed from what was read before they are written: facts
// computed before a module index page dated the version, and written after
// it, keep the index's time. PutFacts replaces a stored publication time only
// where store.BetterPublished says so.
func testFactsKeepBetterPublished(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	ts := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	seen := ts.Add(24 * time.Hour)
	m := module.Version{Path: "example.com/raced", Version: "v1.0.0"}
	put := func(at time.Time, src string) {
		t.Helper()
		if err := s.PutFacts(ctx, &store.Facts{Module: m, Published: at, PublishedSource: src, UpdatedAt: seen}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string, at time.Time, src string) {
		t.Helper()
		f, err := s.Facts(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		if !f.Published.Equal(at) || f.PublishedSource != src {
			t.Errorf("%s: published %v (%s), want %v (%s)", step, f.Published, f.PublishedSource, at, src)
		}
	}
	put(seen, store.PublishedFirstSeen)
	if err := s.PutIndexPage(ctx, []store.IndexEntry{{Module: m, Timestamp: ts}}, store.IndexState{Since: ts}); err != nil {
		t.Fatal(err)
	}
	check("index page", ts, store.PublishedIndex)
	put(seen, store.PublishedFirstSeen) // computed before the page, written after it
	check("stale first-seen facts", ts, store.PublishedIndex)
	put(ts.Add(-time.Hour).Add(-365*24*time.Hour), store.PublishedInfo)
	check("an .info time (untrusted)", ts, store.PublishedIndex)
	put(ts.Add(time.Minute), store.PublishedUpstream)
	check("a later trusted time", ts, store.PublishedIndex)
	put(time.Time{}, "")
	check("no time", ts, store.PublishedIndex)
	put(ts.Add(-time.Minute), store.PublishedSumDB)
	check("an earlier trusted time", ts.Add(-time.Minute), store.PublishedSumDB)

	// Between untrusted times: first-seen beats the .info time, then the
	// earlier time of one source wins.
	u := module.Version{Path: "example.com/undated", Version: "v1.0.0"}
	m = u
	put(ts.Add(-48*time.Hour), store.PublishedInfo)
	put(seen, store.PublishedFirstSeen)
	check("first-seen over an .info time", seen, store.PublishedFirstSeen)
	put(seen.Add(time.Hour), store.PublishedFirstSeen)
	check("a later first-seen", seen, store.PublishedFirstSeen)
	put(seen.Add(-time.Hour), store.PublishedFirstSeen)
	check("an earlier first-seen", seen.Add(-time.Hour), store.PublishedFirstSeen)
}

// Facts computed before a re-evaluation learnt a finding, and written after
// it, keep the finding; facts computed after it decide it.
func testFactsKeepNewerFindings(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/learnt", Version: "v1.0.0"}
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	put := func(at time.Time) {
		t.Helper()
		if err := s.PutFacts(ctx, &store.Facts{Module: m, Published: t0, PublishedSource: store.PublishedFirstSeen, UpdatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	vulns := func() []string {
		t.Helper()
		f, err := s.Facts(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, v := range f.Vulns {
			ids = append(ids, v.ID)
		}
		return ids
	}
	put(t0)
	learnt := store.Finding{Module: m, VulnID: "GO-2026-5970", Fixed: "v0.39.0", LearntAt: t0.Add(time.Minute)}
	if err := s.UpdateFindings(ctx, []store.Finding{learnt}, nil); err != nil {
		t.Fatal(err)
	}
	put(t0.Add(time.Second)) // computed before the re-evaluation, written after it
	if got := vulns(); len(got) != 1 || got[0] != learnt.VulnID {
		t.Errorf("after facts computed before the finding was learnt: vulns %v, want [%s]", got, learnt.VulnID)
	}
	put(t0.Add(time.Hour)) // computed after it, without it (the advisory was withdrawn)
	if got := vulns(); len(got) != 0 {
		t.Errorf("after facts computed later without it: vulns %v, want none", got)
	}
}
