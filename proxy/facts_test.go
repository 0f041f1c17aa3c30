package proxy_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/sbom"
	"github.com/modgate/modgate/scanner"
)

// bsd3 is the BSD 3-clause license as Go projects ship it.
const bsd3 = `Copyright 2009 The Go Authors.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are
met:

   * Redistributions of source code must retain the above copyright
notice, this list of conditions and the following disclaimer.
   * Redistributions in binary form must reproduce the above
copyright notice, this list of conditions and the following disclaimer
in the documentation and/or other materials provided with the
distribution.
   * Neither the name of Google LLC nor the names of its
contributors may be used to endorse or promote products derived from
this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS
"AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT
LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR
A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT
OWNER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT
LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY
THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
(INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
`

// TestFactsAtIngest fetches a known-vulnerable version through the proxy and
// checks that its facts were computed and stored at ingest.
func TestFactsAtIngest(t *testing.T) {
	dbDir := t.TempDir()
	var entries [][]byte
	for _, id := range []string{"GO-2020-0015", "GO-2021-0113", "GO-2022-1059"} {
		data, err := os.ReadFile(filepath.Join("..", "scanner", "testdata", "vulndb", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, data)
	}
	testkit.WriteVulnDB(t, dbDir, entries...)

	text := testkit.Build(t, testkit.Module{Path: "golang.org/x/text", Version: "v0.3.5", Files: map[string]string{
		"LICENSE": bsd3, "language/language.go": "package language\n"}})
	var sc *scanner.Scanner
	log := &auditLog{}
	h := newHarness(t, []*testkit.Built{text}, func(po *proxy.Options, uo *upstream.Options) {
		var err error
		sc, err = scanner.New(scanner.Options{Store: po.Store.(scanner.Store), Source: (&url.URL{Scheme: "file", Path: dbDir}).String()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sc.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		po.Scanner = sc
		po.SBOMs = po.Store.(store.SBOMs)
		po.SBOM = sbom.Options{Namespace: "https://modgate.test/sbom", ToolVersion: "test"}
		po.Audit = log
	})
	h.get("/golang.org/x/text/@v/list")
	for _, p := range []string{"/golang.org/x/text/@v/v0.3.5.mod", "/golang.org/x/text/@v/v0.3.5.zip"} {
		if r := h.get(p); r.code != 200 {
			t.Fatalf("GET %s = %d %s", p, r.code, r.body)
		}
	}
	f, err := sc.Lookup(context.Background(), module.Version{Path: "golang.org/x/text", Version: "v0.3.5"})
	if err != nil {
		t.Fatalf("no facts stored at ingest: %v", err)
	}
	var ids []string
	for _, v := range f.Affecting() {
		ids = append(ids, v.ID)
	}
	if !slices.Equal(ids, []string{"GO-2021-0113", "GO-2022-1059"}) {
		t.Errorf("vulnerabilities = %v, want GO-2021-0113 and GO-2022-1059", ids)
	}
	if !f.LicensesKnown || !slices.Equal(f.Licenses, []string{"BSD-3-Clause"}) {
		t.Errorf("licenses = %v (known %v), want BSD-3-Clause", f.Licenses, f.LicensesKnown)
	}
	if f.Published.IsZero() || f.PublishedSource == "" {
		t.Errorf("no publish time: %+v", f)
	}
	if f.PublishedSource != store.PublishedFirstSeen && f.PublishedSource != store.PublishedUpstream {
		t.Errorf("publish time source %q", f.PublishedSource)
	}

	// The zip's SBOM was recorded, with the facts, and the fetch names it.
	rec, err := h.st.SBOM(context.Background(), module.Version{Path: "golang.org/x/text", Version: "v0.3.5"})
	if err != nil {
		t.Fatalf("no SBOM recorded at ingest: %v", err)
	}
	m, _, err := sbom.DecodeRecord(rec.Input, rec.Created, sbom.Options{Namespace: "https://modgate.test/sbom"})
	if err != nil {
		t.Fatal(err)
	}
	if m.H1 != text.Hash || m.ModH1 != text.ModSum || m.License != "BSD-3-Clause" || len(m.Vulns) != 2 || len(m.SHA512) != 128 {
		t.Errorf("SBOM input = %+v", m)
	}
	var named bool
	for _, e := range log.of(store.AuditFetch) {
		if e.Kind == "zip" {
			named = e.SBOM == rec.ID
		}
	}
	if !named {
		t.Errorf("the zip's fetch record does not name SBOM %s", rec.ID)
	}
}

// TestRetractionFromLatestGoMod checks that the latest version's go.mod, once
// ingested, marks the versions it retracts.
func TestRetractionFromLatestGoMod(t *testing.T) {
	old := testkit.Build(t, testkit.Module{Path: "example.com/r", Version: "v1.0.0", Files: map[string]string{"r.go": "package r\n"}})
	latest := testkit.Build(t, testkit.Module{Path: "example.com/r", Version: "v1.1.0", Files: map[string]string{
		"go.mod": "module example.com/r\n\nretract v1.0.0 // leaks secrets\n", "r.go": "package r\n"}})
	var sc *scanner.Scanner
	h := newHarness(t, []*testkit.Built{old, latest}, func(po *proxy.Options, uo *upstream.Options) {
		var err error
		sc, err = scanner.New(scanner.Options{Store: po.Store.(scanner.Store), Source: "file://" + t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		po.Scanner = sc
	})
	for _, p := range []string{"/example.com/r/@v/list", "/example.com/r/@v/v1.1.0.mod", "/example.com/r/@v/v1.0.0.mod"} {
		if r := h.get(p); r.code != 200 {
			t.Fatalf("GET %s = %d %s", p, r.code, r.body)
		}
	}
	f, err := sc.Lookup(context.Background(), module.Version{Path: "example.com/r", Version: "v1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Retracted || f.Rationale != "leaks secrets" {
		t.Errorf("v1.0.0: retracted %v (%q), want retracted for leaking secrets", f.Retracted, f.Rationale)
	}
}
