package scanner

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
)

const mitText = `MIT License

Copyright (c) 2024 Example

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`

func TestFacts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeDB(t, dir, testEntry(t, "GO-2021-0113"), testEntry(t, "GO-2022-1059"), testEntry(t, "GO-2020-0015"),
		newEntry(t, "GO-2026-0002", "example.com/m", "0", "1.0.1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	st := newStore(t)
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	s, _ := newScanner(t, st, fileURL(dir), func(o *Options) { o.Now = func() time.Time { return now } })
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	gomod := "// Deprecated: use example.com/m/v2 instead.\nmodule example.com/m\n\ngo 1.21\n\nrequire (\n\tgolang.org/x/text v0.3.5\n\texample.com/other v1.0.0\n)\n"
	b := testkit.Build(t, testkit.Module{Path: m.Path, Version: m.Version, Files: map[string]string{
		"go.mod": gomod, "LICENSE": mitText, "m.go": "package m\n", "sub/LICENSE": "Apache?",
	}})
	zipPath := filepath.Join(t.TempDir(), "m.zip")
	os.WriteFile(zipPath, b.Zip, 0o644)

	// The .mod first: no licenses yet.
	if _, err := s.Lookup(ctx, m); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Lookup before Facts: %v, want fs.ErrNotExist", err)
	}
	upstreamTime := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	f, err := s.Facts(ctx, m, []byte(gomod), "", WithPublished(upstreamTime, store.PublishedUpstream))
	if err != nil {
		t.Fatalf("Facts: %v", err)
	}
	if f.LicensesKnown || f.Licenses != nil {
		t.Errorf("licenses known without the zip: %v", f.Licenses)
	}
	// Then the zip, and the module's latest go.mod retracting v1.0.0.
	now = now.Add(time.Hour)
	latest := []byte("module example.com/m\n\nretract v1.0.0 // broken build\n")
	f, err = s.Facts(ctx, m, []byte(gomod), zipPath, WithLatest("v1.0.2", latest))
	if err != nil {
		t.Fatalf("Facts with zip: %v", err)
	}
	ingest := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	want := &store.Facts{
		Module: m,
		Vulns: []store.Vuln{{ID: "GO-2026-0002", Summary: "test advisory GO-2026-0002", ReviewStatus: "UNREVIEWED",
			Fixed: "v1.0.1", LearntAt: ingest, AtIngest: true}},
		Requires: []module.Version{{Path: "example.com/other", Version: "v1.0.0"}, {Path: "golang.org/x/text", Version: "v0.3.5"}},
		Licenses: []string{"MIT"}, LicensesKnown: true,
		Retracted: true, Rationale: "broken build",
		// The latest go.mod is not deprecated any more.
		Published: upstreamTime, PublishedSource: store.PublishedUpstream,
		UpdatedAt: now,
	}
	ignoreReqs := cmpIgnoreField("VulnerableRequires")
	if diff := cmp.Diff(want, f, ignoreReqs); diff != "" {
		t.Errorf("Facts (-want +got):\n%s", diff)
	}
	if len(f.VulnerableRequires) != 1 || f.VulnerableRequires[0].Module.Path != "golang.org/x/text" ||
		len(f.VulnerableRequires[0].Vulns) != 2 {
		t.Errorf("VulnerableRequires = %+v; want x/text v0.3.5 with GO-2021-0113 and GO-2022-1059", f.VulnerableRequires)
	}
	got, err := s.Lookup(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f, got); diff != "" {
		t.Errorf("Lookup differs from Facts (-facts +lookup):\n%s", diff)
	}
	// Without a latest go.mod, the version's own deprecation counts.
	m2 := module.Version{Path: "example.com/dep", Version: "v0.1.0"}
	f, err = s.Facts(ctx, m2, []byte("// Deprecated: gone\nmodule example.com/dep\n"), "")
	if err != nil || !f.Deprecated || f.Deprecation != "gone" || f.PublishedSource != store.PublishedFirstSeen {
		t.Errorf("Facts(%s) = %+v, %v; want deprecated, first seen", m2, f, err)
	}
}

func cmpIgnoreField(name string) cmp.Option {
	return cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == "."+name }, cmp.Ignore())
}

func TestFactsToolchainAndBadVersions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	std := []byte(`{"schema_version":"1.3.1","id":"GO-2023-2185","modified":"2024-05-20T16:03:47Z","summary":"std",
		"affected":[{"package":{"name":"stdlib","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.20.11"},{"introduced":"1.21.0-0"},{"fixed":"1.21.4"}]}]}]}`)
	tool := []byte(`{"schema_version":"1.3.1","id":"GO-2023-1842","modified":"2024-05-20T16:03:47Z","summary":"cmd/go",
		"affected":[{"package":{"name":"toolchain","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.21.0-0"},{"fixed":"1.21.1"}]}]}]}`)
	writeDB(t, dir, std, tool)
	s, _ := newScanner(t, newStore(t), fileURL(dir), nil)
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		m    module.Version
		want []string
	}{
		{module.Version{Path: "golang.org/toolchain", Version: "v0.0.1-go1.21.0.linux-amd64"}, []string{"GO-2023-1842", "GO-2023-2185"}},
		{module.Version{Path: "golang.org/toolchain", Version: "v0.0.1-go1.21rc2.darwin-arm64"}, []string{"GO-2023-1842", "GO-2023-2185"}},
		{module.Version{Path: "golang.org/toolchain", Version: "v0.0.1-go1.21.3.linux-amd64"}, []string{"GO-2023-2185"}},
		{module.Version{Path: "golang.org/toolchain", Version: "v0.0.1-go1.21.4.linux-amd64"}, nil},
		{module.Version{Path: "stdlib", Version: "go1.20.10"}, []string{"GO-2023-2185"}},
		{module.Version{Path: "stdlib", Version: "v1.20.11"}, nil},
	}
	for _, tt := range tests {
		got, err := s.Check(ctx, tt.m)
		if err != nil {
			t.Fatalf("Check(%s): %v", tt.m, err)
		}
		if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
			t.Errorf("Check(%s) (-want +got):\n%s", tt.m, diff)
		}
	}
	for _, m := range []module.Version{{Path: "example.com/m", Version: "1.0.0"}, {Path: "example.com/m", Version: "v1.0"},
		{Path: "example.com/m", Version: ""}, {Path: "stdlib", Version: "go1"}} {
		if _, err := s.Check(ctx, m); err == nil {
			t.Errorf("Check(%q@%q) accepted an invalid version", m.Path, m.Version)
		}
	}
}

// countingStore counts the queries of advisories that the scanner sends.
type countingStore struct {
	Store
	vulnQueries, feedQueries int // of entries with their JSON
	vulnStamps, feedStamps   int // of ids and modified times
}

func (c *countingStore) VulnEntriesFor(ctx context.Context, paths ...string) ([]store.VulnEntry, error) {
	c.vulnQueries++
	return c.Store.VulnEntriesFor(ctx, paths...)
}

func (c *countingStore) AdvisoryEntriesFor(ctx context.Context, keys ...string) ([]store.VulnEntry, error) {
	c.feedQueries++
	return c.Store.AdvisoryEntriesFor(ctx, keys...)
}

func (c *countingStore) VulnStampsFor(ctx context.Context, paths ...string) ([]store.VulnStamp, error) {
	c.vulnStamps++
	return c.Store.VulnStampsFor(ctx, paths...)
}

func (c *countingStore) AdvisoryStampsFor(ctx context.Context, keys ...string) ([]store.VulnStamp, error) {
	c.feedStamps++
	return c.Store.AdvisoryStampsFor(ctx, keys...)
}

func (c *countingStore) reset() { *c = countingStore{Store: c.Store} }

// TestFactsOneQuery checks that the vulnerability facts of a version and all
// its requirements take one query of the database's entries and one of the
// feeds' records (it was two per module), and still find the requirements'
// advisories; that the entries' JSON is read only when an entry is not
// decoded already at its modified time (the facts of the next version read
// ids and modified times only); and that an entry a sync changed is read
// again, so the facts follow the change.
func TestFactsOneQuery(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeDB(t, dir, testEntry(t, "GO-2021-0113"), testEntry(t, "GO-2022-1059"), testEntry(t, "GO-2020-0015"))
	counting := &countingStore{Store: newStore(t)}
	s, _ := newScanner(t, counting, fileURL(dir), nil)
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	gomod := "\n\ngo 1.21\n\nrequire (\n\tgolang.org/x/text v0.3.5\n\texample.com/a v1.0.0\n" +
		"\texample.com/b v1.0.0\n\texample.com/c v1.0.0\n\texample.com/d v1.0.0\n)\n"
	vulnIDs := func(f *store.Facts) []string {
		var ids []string
		for _, vr := range f.VulnerableRequires {
			for _, v := range vr.Vulns {
				ids = append(ids, vr.Module.String()+" "+v.ID)
			}
		}
		return ids
	}
	for _, tt := range []struct {
		name           string
		version        string
		sync           [][]byte // the database to sync first, if any
		entryQueries   int      // of the database's entries with their JSON
		wantVulnerable []string
	}{
		{"first version", "v1.0.0", nil, 1,
			[]string{"golang.org/x/text@v0.3.5 GO-2021-0113", "golang.org/x/text@v0.3.5 GO-2022-1059"}},
		{"same requirements", "v1.0.1", nil, 0,
			[]string{"golang.org/x/text@v0.3.5 GO-2021-0113", "golang.org/x/text@v0.3.5 GO-2022-1059"}},
		{"an entry changed by a sync", "v1.0.2", [][]byte{testEntry(t, "GO-2021-0113"), testEntry(t, "GO-2020-0015"),
			newEntry(t, "GO-2022-1059", "golang.org/x/text", "0", "0.3.5", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))}, 1,
			[]string{"golang.org/x/text@v0.3.5 GO-2021-0113"}},
		{"after the change", "v1.0.3", nil, 0, []string{"golang.org/x/text@v0.3.5 GO-2021-0113"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.sync != nil {
				writeDB(t, dir, tt.sync...)
				if _, err := s.Sync(ctx); err != nil {
					t.Fatal(err)
				}
			}
			counting.reset()
			m := module.Version{Path: "example.com/m", Version: tt.version}
			f, err := s.Facts(ctx, m, []byte("module example.com/m"+gomod), "")
			if err != nil {
				t.Fatal(err)
			}
			if counting.vulnStamps != 1 || counting.feedStamps != 1 {
				t.Errorf("facts of a version with %d requirements: %d queries of entry stamps and %d of feed record stamps; want 1 and 1",
					len(f.Requires), counting.vulnStamps, counting.feedStamps)
			}
			if counting.vulnQueries != tt.entryQueries || counting.feedQueries != 0 {
				t.Errorf("%d queries of entries with their JSON and %d of feed records; want %d and 0 (no feed records)",
					counting.vulnQueries, counting.feedQueries, tt.entryQueries)
			}
			if diff := cmp.Diff(tt.wantVulnerable, vulnIDs(f)); diff != "" {
				t.Errorf("vulnerable requirements (-want +got):\n%s", diff)
			}
		})
	}
}
