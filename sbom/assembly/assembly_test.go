package assembly_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	spdxjson "github.com/spdx/tools-golang/json"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit/sbomcheck"
	"github.com/modgate/modgate/sbom"
	"github.com/modgate/modgate/sbom/assembly"
	"github.com/modgate/modgate/sbom/buildlist"
)

var (
	firstSeen = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	now       = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
)

// TestPublicationTime checks a project SBOM's releaseDate: the time recorded
// from upstream, else the .info Time, else none; never modgate's first
// sight of the version (issue 10: x/text v0.3.2 "released" the day modgate
// first fetched it).
func TestPublicationTime(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	text := module.Version{Path: "golang.org/x/text", Version: "v0.3.2"}
	sys := module.Version{Path: "golang.org/x/sys", Version: "v0.0.0-20190412213103-97732733099d"}
	mirrored := module.Version{Path: "golang.org/x/net", Version: "v0.0.0-20190404232315-eb5bcb51f2a3"}
	dated := module.Version{Path: "golang.org/x/mod", Version: "v0.1.0"}
	lastModified := time.Date(2019, 12, 5, 16, 2, 11, 0, time.UTC)
	treeSeen := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	for _, f := range []*store.Facts{
		{Module: text, Published: firstSeen, PublishedSource: store.PublishedFirstSeen, UpdatedAt: firstSeen},
		{Module: sys, Published: firstSeen, PublishedSource: store.PublishedFirstSeen, UpdatedAt: firstSeen},
		{Module: mirrored, Published: lastModified, PublishedSource: store.PublishedUpstream, UpdatedAt: firstSeen},
		{Module: dated, Published: treeSeen, PublishedSource: store.PublishedSumDB, UpdatedAt: firstSeen},
	} {
		if err := st.PutFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	// x/text has its .info (the GOPROXY protocol's {"Version", "Time"}); x/sys none.
	info := []byte(`{"Version":"v0.3.2","Time":"2019-04-05T01:06:11Z"}`)
	sum := sha256.Sum256(info)
	if _, err := st.PutArtifact(ctx, &store.Artifact{Module: text, Kind: store.KindInfo, SHA256: hex.EncodeToString(sum[:]),
		Size: int64(len(info)), Data: info, Upstream: "https://proxy.golang.org"}); err != nil {
		t.Fatal(err)
	}
	b := assembly.New(assembly.Options{SBOMs: st, Audit: st, Facts: st, Artifacts: st,
		Base: sbom.Options{Namespace: "https://modgate.example.com/sbom"}, Now: func() time.Time { return now }})
	var out bytes.Buffer
	bl := &buildlist.List{Name: "example.com/app", Modules: []module.Version{dated, mirrored, sys, text}}
	if err := b.WriteProject(ctx, &out, sbom.SPDXJSON, bl); err != nil {
		t.Fatal(err)
	}
	sbomcheck.Licenses(t, out.Bytes())
	doc, err := spdxjson.Read(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	status := map[string]string{}
	for _, p := range doc.Packages[1:] {
		got[p.PackageName] = p.ReleaseDate
		status[p.PackageName] = p.PackageComment
	}
	want := map[string]string{
		"golang.org/x/net":  "2019-12-05T16:02:11Z", // recorded from upstream
		"golang.org/x/mod":  "2026-11-20T08:00:00Z", // the checksum database's upper bound
		"golang.org/x/text": "2019-04-05T01:06:11Z", // the .info Time
		"golang.org/x/sys":  "",                     // unknown: left out
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("releaseDate (-want +got):\n%s", diff)
	}
	// Each releaseDate states its source; first sight is none.
	wantComment := map[string]string{
		"golang.org/x/net":  "releaseDate: the upstream mirror's Last-Modified (when it first served this version)\n",
		"golang.org/x/mod":  "releaseDate: the checksum database: published no later than this (its record was in a signed tree head modgate first saw then)\n",
		"golang.org/x/text": "releaseDate: the version's .info Time (the commit time, which the author sets)\n",
		"golang.org/x/sys":  "",
	}
	for name, c := range status {
		if want := wantComment[name] + "modgate status: not fetched"; c != want {
			t.Errorf("%s: comment %q, want %q", name, c, want)
		}
	}
	// The CycloneDX document states it as a property.
	out.Reset()
	if err := b.WriteProject(ctx, &out, sbom.CycloneDXJSON, bl); err != nil {
		t.Fatal(err)
	}
	sbomcheck.Licenses(t, out.Bytes())
	if !bytes.Contains(out.Bytes(), []byte(`"name": "modgate:published.source",`+"\n"+`          "value": "checksum-database"`)) {
		t.Errorf("CycloneDX lacks modgate:published.source checksum-database:\n%s", out.Bytes())
	}
}

// The sbom package names publication-time sources as the store does (it
// does not import the store).
func TestPublishedSourceNames(t *testing.T) {
	for _, c := range [][2]string{
		{sbom.SourceIndex, store.PublishedIndex},
		{sbom.SourceUpstream, store.PublishedUpstream},
		{sbom.SourceSumDB, store.PublishedSumDB},
		{sbom.SourceInfo, store.PublishedInfo},
	} {
		if c[0] != c[1] {
			t.Errorf("sbom names %q what the store names %q", c[0], c[1])
		}
	}
}
