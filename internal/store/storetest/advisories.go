package storetest

import (
	"errors"
	"io/fs"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// advisoryTests are the conformance cases of the advisories role.
var advisoryTests = []testCase{
	{"AdvisorySyncRoundTrip", testAdvisorySyncRoundTrip},
	{"AdvisorySyncError", testAdvisorySyncError},
	{"AdvisoryStamps", testAdvisoryStamps},
	{"DependentsFold", testDependentsFold},
}

// DependentsFold finds the requirements of every spelling of a path, as the
// go.mod spells them, and nothing else.
func testDependentsFold(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for app, req := range map[string]module.Version{
		"example.com/lower":   {Path: "github.com/evil/x", Version: "v1.0.0"},
		"example.com/upper":   {Path: "github.com/Evil/X", Version: "v1.1.0"},
		"example.com/sub":     {Path: "github.com/evil/x/v2", Version: "v2.0.0"},
		"example.com/hostile": {Path: "github.com/evil/x" + hostile, Version: "v1.0.0"},
	} {
		f := &store.Facts{Module: module.Version{Path: app, Version: "v1.0.0"}, Requires: []module.Version{req}, UpdatedAt: t2024}
		if err := s.PutFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.DependentsFold(ctx, "github.com/evil/x")
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Module.Path < got[j].Module.Path })
	want := []store.Requirement{
		{Module: module.Version{Path: "example.com/lower", Version: "v1.0.0"}, Requires: module.Version{Path: "github.com/evil/x", Version: "v1.0.0"}},
		{Module: module.Version{Path: "example.com/upper", Version: "v1.0.0"}, Requires: module.Version{Path: "github.com/Evil/X", Version: "v1.1.0"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DependentsFold (-want +got):\n%s", diff)
	}
	if got, err := s.DependentsFold(ctx, "github.com/nobody/x"); err != nil || len(got) != 0 {
		t.Errorf("DependentsFold of a path no go.mod requires = %v, %v", got, err)
	}
}

const (
	feedA = "file:///feeds/a"
	feedB = "file:///feeds/b"
)

func malEntry(id, path string, modified time.Time) store.VulnEntry {
	return store.VulnEntry{ID: id, Modified: modified, Published: modified, Summary: "Malicious code in " + path + " (Go)",
		ReviewStatus: "REVIEWED", Modules: []string{path},
		JSON: []byte(`{"id":"` + id + `","modified":"` + modified.Format(time.RFC3339) + `"}`)}
}

func testAdvisorySyncRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	mixed := malEntry("MAL-2026-3625", "github.com/BufferZoneCorp/go-stdlog", t2024)
	other := malEntry("MAL-2025-2545", "github.com/boltdb-go/bolt", t2021)
	other.Withdrawn = t2024
	other.Aliases = []string{"GHSA-9gmm-c6g7-rqg9"}
	if err := s.ApplyAdvisorySync(ctx, &store.AdvisorySync{Source: feedA, Put: []store.VulnEntry{mixed, other},
		Keys:  [][]string{{"github.com/bufferzonecorp/go-stdlog"}, {"github.com/boltdb-go/bolt"}},
		State: store.AdvisoryState{SyncedAt: t2024, AttemptedAt: t2024, Refused: []string{"x.json: bad"}}}); err != nil {
		t.Fatal(err)
	}
	// Another feed cannot take over an id.
	if err := s.ApplyAdvisorySync(ctx, &store.AdvisorySync{Source: feedB,
		Put:  []store.VulnEntry{malEntry("MAL-2026-3625", "example.com/other", t2024.Add(time.Hour))},
		Keys: [][]string{{"example.com/other"}}, State: store.AdvisoryState{SyncedAt: t2024, AttemptedAt: t2024}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AdvisoryEntriesFor(ctx, "github.com/bufferzonecorp/go-stdlog")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.VulnEntry{mixed}, got); diff != "" {
		t.Errorf("AdvisoryEntriesFor (-want +got):\n%s", diff)
	}
	if got, err := s.AdvisoryEntriesFor(ctx, "example.com/other"); err != nil || len(got) != 0 {
		t.Errorf("feed B took over an id of feed A: %v, %v", got, err)
	}
	// Several keys in one query, sorted by id.
	got, err = s.AdvisoryEntriesFor(ctx, "github.com/bufferzonecorp/go-stdlog", "example.com/none", "github.com/boltdb-go/bolt")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.VulnEntry{other, mixed}, got); diff != "" {
		t.Errorf("AdvisoryEntriesFor(several keys) (-want +got):\n%s", diff)
	}
	list, err := s.AdvisoryEntries(ctx, feedA)
	if err != nil {
		t.Fatal(err)
	}
	otherNoJSON, mixedNoJSON := other, mixed
	otherNoJSON.JSON, mixedNoJSON.JSON = nil, nil
	if diff := cmp.Diff([]store.VulnEntry{otherNoJSON, mixedNoJSON}, list); diff != "" {
		t.Errorf("AdvisoryEntries (-want +got):\n%s", diff)
	}
	if e, err := s.AdvisoryEntry(ctx, "MAL-2026-3625"); err != nil || !cmp.Equal(mixed, *e) {
		t.Errorf("AdvisoryEntry = %+v, %v; want %+v", e, err, mixed)
	}
	if _, err := s.AdvisoryEntry(ctx, "MAL-0000-0000"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("AdvisoryEntry of a missing id: %v, want fs.ErrNotExist", err)
	}
	// Findings of feed records read back with the record's fields.
	m := module.Version{Path: "github.com/bufferzonecorp/go-stdlog", Version: "v0.1.0"}
	f := &store.Facts{Module: m, Published: t2024, PublishedSource: store.PublishedFirstSeen, UpdatedAt: t2024,
		Vulns: []store.Vuln{{ID: "MAL-2026-3625", LearntAt: t2024, AtIngest: true}}}
	if err := s.PutFacts(ctx, f); err != nil {
		t.Fatal(err)
	}
	facts, err := s.Facts(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Vuln{{ID: "MAL-2026-3625", Summary: mixed.Summary, ReviewStatus: "REVIEWED", LearntAt: t2024, AtIngest: true}}
	if diff := cmp.Diff(want, facts.Vulns); diff != "" {
		t.Errorf("facts vulns (-want +got):\n%s", diff)
	}
	if paths, err := s.FactPathsFold(ctx, "github.com/bufferzonecorp/go-stdlog"); err != nil || len(paths) != 1 || paths[0] != m.Path {
		t.Errorf("FactPathsFold = %v, %v", paths, err)
	}
	// Delete removes the record and its index.
	if err := s.ApplyAdvisorySync(ctx, &store.AdvisorySync{Source: feedA, Delete: []string{"MAL-2026-3625"},
		State: store.AdvisoryState{SyncedAt: t2024, AttemptedAt: t2024}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AdvisoryEntriesFor(ctx, "github.com/bufferzonecorp/go-stdlog"); err != nil || len(got) != 0 {
		t.Errorf("after delete: %v, %v", got, err)
	}
	states, err := s.AdvisoryStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantStates := []store.AdvisoryState{{Source: feedA, SyncedAt: t2024, AttemptedAt: t2024, Entries: 1},
		{Source: feedB, SyncedAt: t2024, AttemptedAt: t2024, Entries: 0}}
	if diff := cmp.Diff(wantStates, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

func testAdvisorySyncError(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.ApplyAdvisorySync(ctx, &store.AdvisorySync{Source: feedA,
		Put:   []store.VulnEntry{malEntry("MAL-2025-2545", "github.com/boltdb-go/bolt", t2021)},
		Keys:  [][]string{{"github.com/boltdb-go/bolt"}},
		State: store.AdvisoryState{SyncedAt: t2021, AttemptedAt: t2021}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAdvisorySyncError(ctx, feedA, t2024, "advisories: unreachable"); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAdvisorySyncError(ctx, feedB, t2024, "advisories: never synced"); err != nil {
		t.Fatal(err)
	}
	states, err := s.AdvisoryStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.AdvisoryState{
		{Source: feedA, SyncedAt: t2021, AttemptedAt: t2024, LastError: "advisories: unreachable", Entries: 1},
		{Source: feedB, AttemptedAt: t2024, LastError: "advisories: never synced"},
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
}

// AdvisoryStamps names, for any set of keys, the records AdvisoryEntriesFor
// returns (ids and modified times, in its order), before and after a feed
// changes and deletes records, and never a record another feed tried to take.
func testAdvisoryStamps(t *testing.T, s store.Store) {
	ctx := t.Context()
	sets := [][]string{{"github.com/bufferzonecorp/go-stdlog"}, {"github.com/boltdb-go/bolt"},
		{"github.com/bufferzonecorp/go-stdlog", "example.com/none", "github.com/boltdb-go/bolt"}, {"example.com/other"}, {}}
	check := func(when string, want map[string][]store.VulnStamp) {
		t.Helper()
		for _, keys := range sets {
			entries, err := s.AdvisoryEntriesFor(ctx, keys...)
			if err != nil {
				t.Fatalf("%s: AdvisoryEntriesFor(%q): %v", when, keys, err)
			}
			got, err := s.AdvisoryStampsFor(ctx, keys...)
			if err != nil {
				t.Fatalf("%s: AdvisoryStampsFor(%q): %v", when, keys, err)
			}
			if diff := cmp.Diff(store.Stamps(entries), got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: AdvisoryStampsFor(%q) against AdvisoryEntriesFor (-entries +stamps):\n%s", when, keys, diff)
			}
			if w, ok := want[strings.Join(keys, " ")]; ok {
				if diff := cmp.Diff(w, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%s: AdvisoryStampsFor(%q) (-want +got):\n%s", when, keys, diff)
				}
			}
		}
	}
	check("before any sync", map[string][]store.VulnStamp{"github.com/boltdb-go/bolt": nil})
	mixed := malEntry("MAL-2026-3625", "github.com/BufferZoneCorp/go-stdlog", t2024)
	other := malEntry("MAL-2025-2545", "github.com/boltdb-go/bolt", t2021)
	if err := s.ApplyAdvisorySync(ctx, &store.AdvisorySync{Source: feedA, Put: []store.VulnEntry{mixed, other},
		Keys:  [][]string{{"github.com/bufferzonecorp/go-stdlog"}, {"github.com/boltdb-go/bolt"}},
		State: store.AdvisoryState{SyncedAt: t2024, AttemptedAt: t2024}}); err != nil {
		t.Fatal(err)
	}
	// Another feed cannot take over an id: its modified time is not named.
	if err := s.ApplyAdvisorySync(ctx, &store.AdvisorySync{Source: feedB,
		Put:  []store.VulnEntry{malEntry("MAL-2026-3625", "example.com/other", t2024.Add(time.Hour))},
		Keys: [][]string{{"example.com/other"}}, State: store.AdvisoryState{SyncedAt: t2024, AttemptedAt: t2024}}); err != nil {
		t.Fatal(err)
	}
	check("after the first syncs", map[string][]store.VulnStamp{
		"github.com/bufferzonecorp/go-stdlog example.com/none github.com/boltdb-go/bolt": {
			{ID: "MAL-2025-2545", Modified: t2021}, {ID: "MAL-2026-3625", Modified: t2024}},
		"example.com/other": nil,
	})
	changed := malEntry("MAL-2025-2545", "github.com/boltdb-go/bolt", t2024.Add(2*time.Hour))
	if err := s.ApplyAdvisorySync(ctx, &store.AdvisorySync{Source: feedA, Put: []store.VulnEntry{changed},
		Keys: [][]string{{"github.com/boltdb-go/bolt"}}, Delete: []string{"MAL-2026-3625"},
		State: store.AdvisoryState{SyncedAt: t2024, AttemptedAt: t2024}}); err != nil {
		t.Fatal(err)
	}
	check("after a change and a delete", map[string][]store.VulnStamp{
		"github.com/bufferzonecorp/go-stdlog example.com/none github.com/boltdb-go/bolt": {
			{ID: "MAL-2025-2545", Modified: t2024.Add(2 * time.Hour)}},
		"github.com/bufferzonecorp/go-stdlog": nil,
	})
}
