package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-cmp/cmp"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
	"github.com/spdx/tools-golang/tagvalue"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit/sbomcheck"
	"github.com/modgate/modgate/sbom"
	"github.com/modgate/modgate/web"
)

var (
	ingestTime = time.Date(2025, 3, 1, 8, 30, 0, 0, time.UTC)
	nowTime    = time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC)
	baseOpts   = sbom.Options{Namespace: "https://modgate.example.com/sbom", ToolVersion: "v0.1.0", Organization: "Example Corp"}
)

// widget is a realistic module version: upper case in the path, zip hashes,
// go.sum hashes, license, requirements and a vulnerability.
func widget() sbom.Module {
	return sbom.Module{
		Path:             "github.com/Example-Org/Widget",
		Version:          "v1.2.3",
		Time:             time.Date(2024, 11, 2, 10, 0, 0, 0, time.UTC),
		SHA256:           strings.Repeat("ab", 32),
		SHA512:           strings.Repeat("cd", 64),
		H1:               "h1:" + strings.Repeat("A", 43) + "=",
		ModH1:            "h1:" + strings.Repeat("B", 43) + "=",
		DownloadLocation: "https://modgate.example.com/github.com/!example-!org/!widget/@v/v1.2.3.zip",
		License:          "MIT",
		LicenseFiles:     []string{"LICENSE"},
		Copyright:        "Copyright 2024 The Widget Authors",
		Requires: []module.Version{
			{Path: "golang.org/x/text", Version: "v0.14.0"},
			{Path: "gopkg.in/yaml.v3", Version: "v3.0.1"},
		},
		Vulns: []sbom.Vuln{{ID: "GO-2024-0001", Aliases: []string{"CVE-2024-0001"}, Summary: "DoS in Parse", Fixed: "v1.2.4"}},
	}
}

type fixture struct {
	st  *sqlite.Store
	srv *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := web.NewSBOMHandler(web.SBOMOptions{
		SBOMs: st, Audit: st, Base: baseOpts,
		Now: func() time.Time { return nowTime },
	})
	mux := http.NewServeMux()
	mux.Handle("/api/sbom/", h) // as serve mounts it
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{st: st, srv: srv}
}

// put stores the record of m made at ingestTime and returns its id.
func (f *fixture) put(t *testing.T, m sbom.Module) string {
	t.Helper()
	opts := baseOpts
	opts.Created = ingestTime
	id, input, err := sbom.NewRecord(m, opts)
	if err != nil {
		t.Fatalf("NewRecord(%s@%s): %v", m.Path, m.Version, err)
	}
	rec := &store.SBOMRecord{ID: id, Module: module.Version{Path: m.Path, Version: m.Version}, Created: ingestTime, Input: input}
	if err := f.st.PutSBOM(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return id
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) do(t *testing.T, method, path, contentType string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s %s: X-Content-Type-Options = %q, want nosniff", method, path, got)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (f *fixture) get(t *testing.T, path string) response {
	return f.do(t, "GET", path, "", nil)
}

func mustOK(t *testing.T, r response, ct string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	if got := r.header.Get("Content-Type"); got != ct {
		t.Errorf("Content-Type = %q, want %q", got, ct)
	}
	// Every SBOM the tests get: its license expressions through a real
	// SPDX expression parser.
	sbomcheck.Licenses(t, r.body)
}

func readSPDX(t *testing.T, b []byte) *v2_3.Document {
	t.Helper()
	doc, err := spdxjson.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("SPDX JSON does not decode: %v\n%s", err, b)
	}
	return doc
}

func readCDX(t *testing.T, b []byte) *cdx.BOM {
	t.Helper()
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(b), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatalf("CycloneDX JSON does not decode: %v\n%s", err, b)
	}
	return &bom
}

func spdxPackage(t *testing.T, doc *v2_3.Document, name, version string) *v2_3.Package {
	t.Helper()
	for _, p := range doc.Packages {
		if p.PackageName == name && p.PackageVersion == version {
			return p
		}
	}
	t.Fatalf("no package %s %s in the SPDX document", name, version)
	return nil
}

func checkWidgetSPDX(t *testing.T, doc *v2_3.Document) {
	t.Helper()
	p := spdxPackage(t, doc, "github.com/Example-Org/Widget", "v1.2.3")
	var purl string
	for _, r := range p.PackageExternalReferences {
		if r.RefType == "purl" {
			purl = r.Locator
		}
	}
	if want := "pkg:golang/github.com/Example-Org/Widget@v1.2.3"; purl != want {
		t.Errorf("purl = %q, want %q", purl, want)
	}
	sums := map[string]string{}
	for _, c := range p.PackageChecksums {
		sums[string(c.Algorithm)] = c.Value
	}
	if diff := cmp.Diff(map[string]string{"SHA256": strings.Repeat("ab", 32), "SHA512": strings.Repeat("cd", 64)}, sums); diff != "" {
		t.Errorf("checksums (-want +got):\n%s", diff)
	}
	if !strings.Contains(p.PackageComment, "h1:"+strings.Repeat("A", 43)+"=") {
		t.Errorf("package comment %q lacks the h1 hash", p.PackageComment)
	}
	if p.PackageLicenseDeclared != "MIT" {
		t.Errorf("declared license %q, want MIT", p.PackageLicenseDeclared)
	}
}

func escaped(t *testing.T, m module.Version) string {
	t.Helper()
	p, err := module.EscapePath(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := module.EscapeVersion(m.Version)
	if err != nil {
		t.Fatal(err)
	}
	return "/api/sbom/" + p + "/@v/" + v
}

func TestModuleSBOM(t *testing.T) {
	f := newFixture(t)
	id := f.put(t, widget())
	path := escaped(t, module.Version{Path: "github.com/Example-Org/Widget", Version: "v1.2.3"})
	if want := "/api/sbom/github.com/!example-!org/!widget/@v/v1.2.3"; path != want {
		t.Fatalf("escaped path %s, want %s", path, want)
	}

	// SPDX JSON, the default.
	r := f.get(t, path)
	mustOK(t, r, "application/spdx+json")
	doc := readSPDX(t, r.body)
	if doc.DocumentNamespace != id {
		t.Errorf("namespace %q, want the record id %q", doc.DocumentNamespace, id)
	}
	if doc.CreationInfo.Created != "2025-03-01T08:30:00Z" {
		t.Errorf("created %q, want the ingest time", doc.CreationInfo.Created)
	}
	checkWidgetSPDX(t, doc)
	_, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition"))
	if err != nil || params["filename"] != "github.com_Example-Org_Widget@v1.2.3.spdx.json" {
		t.Errorf("Content-Disposition %q (%v)", r.header.Get("Content-Disposition"), err)
	}

	// The same bytes by id, and the same as rendering the module directly.
	byID := f.get(t, "/api/sbom/id/"+url.PathEscape(id))
	mustOK(t, byID, "application/spdx+json")
	if !bytes.Equal(byID.body, r.body) {
		t.Errorf("SBOM by id differs from SBOM by module")
	}
	var direct bytes.Buffer
	opts := baseOpts
	opts.Created = ingestTime
	if err := sbom.Write(&direct, sbom.SPDXJSON, widget(), opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(direct.Bytes(), r.body) {
		t.Errorf("served SBOM differs from the one rendered at ingest")
	}

	// SPDX tag-value.
	r = f.get(t, path+"?format=spdx-tv")
	mustOK(t, r, "text/spdx; charset=utf-8")
	tv, err := tagvalue.Read(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("tag-value does not decode: %v\n%s", err, r.body)
	}
	if tv.DocumentNamespace != id {
		t.Errorf("tag-value namespace %q, want %q", tv.DocumentNamespace, id)
	}
	checkWidgetSPDX(t, tv)

	// CycloneDX JSON.
	r = f.get(t, path+"?format=cyclonedx-json")
	mustOK(t, r, "application/vnd.cyclonedx+json; version=1.6")
	bom := readCDX(t, r.body)
	c := bom.Metadata.Component
	if c == nil || c.Name != "github.com/Example-Org/Widget" || c.Version != "v1.2.3" ||
		c.PackageURL != "pkg:golang/github.com/Example-Org/Widget@v1.2.3" {
		t.Fatalf("CycloneDX root component %+v", c)
	}
	hashes := map[cdx.HashAlgorithm]string{}
	for _, h := range *c.Hashes {
		hashes[h.Algorithm] = h.Value
	}
	if hashes[cdx.HashAlgoSHA256] != strings.Repeat("ab", 32) || hashes[cdx.HashAlgoSHA512] != strings.Repeat("cd", 64) {
		t.Errorf("CycloneDX hashes %v", hashes)
	}
	if !strings.Contains(string(r.body), "h1:"+strings.Repeat("A", 43)+"=") {
		t.Errorf("CycloneDX lacks the h1 hash")
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	f.put(t, widget())
	ok := "/api/sbom/github.com/!example-!org/!widget/@v/v1.2.3"
	tests := []struct {
		name   string
		method string
		path   string
		status int
	}{
		{"unknown version", "GET", "/api/sbom/github.com/!example-!org/!widget/@v/v1.2.4", 404},
		{"unknown module", "GET", "/api/sbom/example.com/nope/@v/v1.0.0", 404},
		{"unescaped upper case", "GET", "/api/sbom/github.com/Example-Org/Widget/@v/v1.2.3", 400},
		{"script in path", "GET", "/api/sbom/example.com/%3Cscript%3E/@v/v1.0.0", 400},
		{"script in version", "GET", "/api/sbom/example.com/m/@v/v1.0.0-%3Cscript%3E", 400},
		{"non-canonical version", "GET", "/api/sbom/example.com/m/@v/v1.0", 400},
		{"no @v", "GET", "/api/sbom/example.com/m", 400},
		{"unknown format", "GET", ok + "?format=html", 400},
		{"unknown parameter", "GET", ok + "?fromat=spdx-tv", 400},
		{"unknown id", "GET", "/api/sbom/id/" + url.PathEscape("https://modgate.example.com/sbom/x"), 404},
		{"POST module", "POST", ok, 405},
		{"GET project", "GET", "/api/sbom/project", 400}, // the module route: no /@v/
		{"window without client", "GET", "/api/sbom/window", 400},
		{"window bad time", "GET", "/api/sbom/window?client=a&since=yesterday", 400},
		{"empty window", "GET", "/api/sbom/window?client=a&since=2025-03-02&until=2025-03-01", 400},
		{"empty project", "POST", "/api/sbom/project", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, tt.method, tt.path, "", nil)
			if r.status != tt.status {
				t.Errorf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			if bytes.Contains(r.body, []byte("<script>")) && !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
				t.Errorf("hostile input reflected as %s", r.header.Get("Content-Type"))
			}
		})
	}
}

// TestHostileButValid checks a module whose path is valid but unusual and
// whose free text is hostile: it renders, with safe headers.
func TestHostileButValid(t *testing.T) {
	f := newFixture(t)
	m := sbom.Module{
		Path:      "example.com/A~b_c-d.e",
		Version:   "v0.0.0-20250101000000-abcdefabcdef",
		License:   `MIT <img src=x onerror=alert(1)>`,
		Copyright: "<script>alert(1)</script>\r\n\x00",
		Supplier:  `Organization: "Evil\" Corp`,
		Vulns:     []sbom.Vuln{{ID: "GO-2025-<b>", Summary: "</text><script>", URL: "javascript:alert(1)"}},
	}
	id := f.put(t, m)
	path := escaped(t, module.Version{Path: m.Path, Version: m.Version})
	r := f.get(t, path)
	mustOK(t, r, "application/spdx+json")
	doc := readSPDX(t, r.body)
	if doc.DocumentNamespace != id {
		t.Errorf("namespace %q, want %q", doc.DocumentNamespace, id)
	}
	spdxPackage(t, doc, m.Path, m.Version)
	if strings.Contains(string(r.body), "javascript:") {
		t.Errorf("a javascript: URL was kept")
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	_, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition"))
	if err != nil || strings.ContainsAny(params["filename"], "/\\\"~+<>") {
		t.Errorf("filename %q (%v) is not safe", params["filename"], err)
	}
	// The tag-value writer refuses text it cannot carry: 422 with a hint.
	r = f.get(t, path+"?format=spdx-tv")
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), "spdx-json") {
		t.Errorf("tag-value of un-carriable text: %d %s", r.status, r.body)
	}
	r = f.get(t, path+"?format=cyclonedx-json")
	mustOK(t, r, "application/vnd.cyclonedx+json; version=1.6")
	readCDX(t, r.body)
}

// project modules: a and b were ingested (a served, b blocked); c was not.
var (
	modA = module.Version{Path: "example.com/a", Version: "v1.0.0"}
	modB = module.Version{Path: "github.com/Upper/B", Version: "v0.2.0"}
	modC = module.Version{Path: "example.com/c", Version: "v1.1.0"}
	modD = module.Version{Path: "example.com/d", Version: "v1.0.0"}
)

func projectFixture(t *testing.T) *fixture {
	f := newFixture(t)
	a := sbom.Module{Path: modA.Path, Version: modA.Version, SHA256: strings.Repeat("01", 32), License: "BSD-3-Clause",
		Requires: []module.Version{modB}}
	b := sbom.Module{Path: modB.Path, Version: modB.Version, SHA256: strings.Repeat("02", 32), License: "MIT",
		Vulns: []sbom.Vuln{{ID: "GO-2025-0002"}}}
	idA, idB := f.put(t, a), f.put(t, b)
	at := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	err := f.st.AppendAudit(context.Background(), []*store.AuditEvent{
		{Time: at, Type: store.AuditFetch, ClientToken: "ci-bot", Module: modA.Path, Version: modA.Version, Kind: "zip", Decision: store.DecisionServed, SBOM: idA},
		{Time: at, Type: store.AuditFetch, ClientToken: "ci-bot", Module: modB.Path, Version: modB.Version, Kind: "mod", Decision: store.DecisionServed, SBOM: idB},
		{Time: at, Type: store.AuditFetch, ClientToken: "other", Module: modB.Path, Version: modB.Version, Kind: "zip", Decision: store.DecisionBlocked},
		{Time: at, Type: store.AuditFetch, ClientToken: "ci-bot", Module: modC.Path, Version: modC.Version, Kind: "zip", Decision: store.DecisionBlocked},
		{Time: at, Type: store.AuditFetch, ClientToken: "ci-bot", Module: modC.Path, Kind: "list", Decision: store.DecisionServed},
		{Time: at.AddDate(0, 1, 0), Type: store.AuditFetch, ClientToken: "ci-bot", Module: "example.com/later", Version: "v1.0.0", Kind: "zip", Decision: store.DecisionServed},
		{Time: at, Type: store.AuditFetch, ClientToken: "other", Module: "example.com/others", Version: "v1.0.0", Kind: "zip", Decision: store.DecisionServed},
		{Time: at, Type: store.AuditFetch, ClientToken: "ci-bot", Module: modD.Path, Version: modD.Version, Kind: "info", Decision: store.DecisionServed},
		{Time: at, Type: store.AuditFetch, ClientToken: "ci-bot", Module: modD.Path, Version: modD.Version, Kind: "mod", Decision: store.DecisionServed},
		{Time: at, Type: store.AuditFetch, ClientToken: "ci-bot", Module: modD.Path, Version: modD.Version, Kind: "zip", Decision: store.DecisionError},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const projectGoMod = `module example.com/app

go 1.22

require (
	example.com/a v1.0.0
	example.com/c v1.1.0
	github.com/Upper/B v0.2.0 // indirect
)
`

const projectGoSum = `example.com/a v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
example.com/a v1.0.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
example.com/c v1.0.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
example.com/c v1.1.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
example.com/c v1.1.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
github.com/Upper/B v0.2.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
github.com/Upper/B v0.2.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
`

// status returns the "modgate status" line of a package comment.
func statusOf(p *v2_3.Package) string {
	for _, l := range strings.Split(p.PackageComment, "\n") {
		if s, ok := strings.CutPrefix(l, "modgate status: "); ok {
			return s
		}
	}
	return ""
}

func checkProject(t *testing.T, doc *v2_3.Document, wantName string) {
	t.Helper()
	if doc.DocumentName != wantName {
		t.Errorf("document name %q, want %q", doc.DocumentName, wantName)
	}
	if doc.CreationInfo.Created != "2025-04-01T12:00:00Z" {
		t.Errorf("created %q, want the clock's now", doc.CreationInfo.Created)
	}
	a := spdxPackage(t, doc, modA.Path, modA.Version)
	b := spdxPackage(t, doc, modB.Path, modB.Version)
	c := spdxPackage(t, doc, modC.Path, modC.Version)
	got := map[string]string{"a": statusOf(a), "b": statusOf(b), "c": statusOf(c)}
	// b: ci-bot read only its go.mod and another client's request for its
	// zip was refused: blocked, never served.
	if diff := cmp.Diff(map[string]string{"a": "served", "b": "blocked", "c": "blocked"}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if a.PackageLicenseDeclared != "BSD-3-Clause" || len(a.PackageChecksums) != 1 {
		t.Errorf("a not filled from its record: license %q, checksums %v", a.PackageLicenseDeclared, a.PackageChecksums)
	}
	if c.PackageLicenseDeclared != "NOASSERTION" || len(c.PackageChecksums) != 0 {
		t.Errorf("c (no record) has license %q, checksums %v", c.PackageLicenseDeclared, c.PackageChecksums)
	}
	var vulnRef bool
	for _, r := range b.PackageExternalReferences {
		vulnRef = vulnRef || r.Category == "SECURITY" && strings.Contains(r.Locator, "GO-2025-0002")
	}
	if !vulnRef {
		t.Errorf("b lacks its vulnerability reference: %+v", b.PackageExternalReferences)
	}
	for _, p := range doc.Packages {
		if p.PackageVersion == "v1.0.0" && p.PackageName == "example.com/c" {
			t.Errorf("the go.mod-only version c@v1.0.0 is in the build list")
		}
	}
}

func TestProjectSBOM(t *testing.T) {
	f := projectFixture(t)

	t.Run("multipart go.mod and go.sum", func(t *testing.T) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for name, data := range map[string]string{"go.mod": projectGoMod, "go.sum": projectGoSum} {
			w, err := mw.CreateFormFile(name, name)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, data)
		}
		mw.Close()
		r := f.do(t, "POST", "/api/sbom/project", mw.FormDataContentType(), &body)
		mustOK(t, r, "application/spdx+json")
		doc := readSPDX(t, r.body)
		checkProject(t, doc, "example.com/app")
		// The root depends on its direct requirements only.
		root := spdxPackage(t, doc, "example.com/app", "")
		var direct []string
		for _, rel := range doc.Relationships {
			if rel.Relationship == "DEPENDS_ON" && rel.RefA.ElementRefID == root.PackageSPDXIdentifier {
				for _, p := range doc.Packages {
					if p.PackageSPDXIdentifier == rel.RefB.ElementRefID {
						direct = append(direct, p.PackageName)
					}
				}
			}
		}
		if diff := cmp.Diff([]string{"example.com/a", "example.com/c"}, direct); diff != "" {
			t.Errorf("root's direct dependencies (-want +got):\n%s", diff)
		}
	})
	t.Run("go.sum body", func(t *testing.T) {
		r := f.do(t, "POST", "/api/sbom/project?name=example.com/app", "text/plain", strings.NewReader(projectGoSum))
		mustOK(t, r, "application/spdx+json")
		checkProject(t, readSPDX(t, r.body), "example.com/app")
	})
	t.Run("go list -m all body, CycloneDX", func(t *testing.T) {
		list := "example.com/app\nexample.com/a v1.0.0\nexample.com/c v1.1.0\ngithub.com/Upper/B v0.1.0 => github.com/Upper/B v0.2.0\nexample.com/local v1.0.0 => ./local\n" +
			modD.Path + " " + modD.Version + "\nexample.com/never v1.0.0\n"
		r := f.do(t, "POST", "/api/sbom/project?format=cyclonedx-json", "text/plain", strings.NewReader(list))
		mustOK(t, r, "application/vnd.cyclonedx+json; version=1.6")
		bom := readCDX(t, r.body)
		got := map[string]string{}
		for _, c := range *bom.Components {
			for _, p := range *c.Properties {
				if p.Name == "modgate:status" {
					got[c.PackageURL] = p.Value
				}
			}
		}
		want := map[string]string{
			"pkg:golang/example.com/a@v1.0.0":      "served",
			"pkg:golang/github.com/Upper/B@v0.2.0": "blocked",
			"pkg:golang/example.com/c@v1.1.0":      "blocked",
			"pkg:golang/example.com/d@v1.0.0":      "metadata only",
			"pkg:golang/example.com/never@v1.0.0":  "not fetched",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("component statuses (-want +got):\n%s", diff)
		}
		if bom.Metadata.Component.Name != "example.com/app" {
			t.Errorf("root %q, want the main module of the list", bom.Metadata.Component.Name)
		}
	})
	t.Run("module@version list", func(t *testing.T) {
		list := "# three modules\nexample.com/a@v1.0.0\ngithub.com/Upper/B@v0.2.0\nexample.com/c@v1.1.0\nexample.com/c@v1.0.0\n"
		r := f.do(t, "POST", "/api/sbom/project?name=example.com/app&format=spdx-tv", "text/plain", strings.NewReader(list))
		mustOK(t, r, "text/spdx; charset=utf-8")
		doc, err := tagvalue.Read(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		checkProject(t, doc, "example.com/app")
	})
	t.Run("hostile line", func(t *testing.T) {
		r := f.do(t, "POST", "/api/sbom/project", "text/plain", strings.NewReader("example.com/a@v1.0.0\nexample.com/<script>@v1.0.0\n"))
		if r.status != 400 || !strings.Contains(string(r.body), "line 2") {
			t.Errorf("status %d, body %s; want 400 naming line 2", r.status, r.body)
		}
	})
	t.Run("too large", func(t *testing.T) {
		big := strings.Repeat("example.com/a@v1.0.0\n", 500000)
		r := f.do(t, "POST", "/api/sbom/project", "text/plain", strings.NewReader(big))
		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", r.status)
		}
	})
}

func TestWindowSBOM(t *testing.T) {
	f := projectFixture(t)
	r := f.get(t, "/api/sbom/window?client=ci-bot&since=2025-03-01&until=2025-04-01")
	mustOK(t, r, "application/spdx+json")
	doc := readSPDX(t, r.body)
	var got []string
	for _, p := range doc.Packages {
		got = append(got, p.PackageName+"@"+p.PackageVersion+" "+statusOf(p))
	}
	// What ci-bot built: a's zip was served, c's refused. B and d: only
	// their .info/.mod were served (d's zip failed upstream): left out as
	// modules, and counted in the root's note.
	want := []string{
		"modules built by ci-bot from 2025-03-01T00:00:00Z until 2025-04-01T00:00:00Z@ ",
		"example.com/a@v1.0.0 served",
		"example.com/c@v1.1.0 blocked",
		"github.com/Upper/B@v0.2.0 ", // only as a's requirement: a stub without status
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("window packages (-want +got):\n%s", diff)
	}
	if root := doc.Packages[0]; !strings.Contains(root.PackageComment, "Left out: 2 versions of which only the .info or .mod") {
		t.Errorf("root comment %q does not count the go.mod-only versions", root.PackageComment)
	}
	checkA := spdxPackage(t, doc, modA.Path, modA.Version)
	if checkA.PackageLicenseDeclared != "BSD-3-Clause" {
		t.Errorf("a not filled from the SBOM its audit record names")
	}

	// Two clients (a team), CycloneDX, no since: from the start of the log.
	r = f.get(t, "/api/sbom/window?client=ci-bot&client=other&until=2025-04-01&format=cyclonedx-json")
	mustOK(t, r, "application/vnd.cyclonedx+json; version=1.6")
	bom := readCDX(t, r.body)
	var purls []string
	for _, c := range *bom.Components {
		purls = append(purls, c.PackageURL)
	}
	wantPURLs := []string{"pkg:golang/example.com/a@v1.0.0", "pkg:golang/example.com/c@v1.1.0", "pkg:golang/example.com/others@v1.0.0", "pkg:golang/github.com/Upper/B@v0.2.0"}
	if diff := cmp.Diff(wantPURLs, purls); diff != "" {
		t.Errorf("team window components (-want +got):\n%s", diff)
	}
}

// TestWindowPages checks that a window longer than one audit page is read
// whole.
func TestWindowPages(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	var evs []*store.AuditEvent
	for i := range store.MaxAuditPage + 5 {
		evs = append(evs, &store.AuditEvent{Time: at.Add(time.Duration(i) * time.Millisecond), Type: store.AuditFetch,
			ClientIP: "10.0.0.7", Module: "example.com/m", Version: fmt.Sprintf("v1.0.%d", i/2000), Kind: "zip", Decision: store.DecisionServed})
	}
	if err := f.st.AppendAudit(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	r := f.get(t, "/api/sbom/window?client=10.0.0.7&format=cyclonedx-json")
	mustOK(t, r, "application/vnd.cyclonedx+json; version=1.6")
	bom := readCDX(t, r.body)
	if n := len(*bom.Components); n != 6 {
		t.Errorf("%d components, want 6 (v1.0.0 to v1.0.5, the last on the second page)", n)
	}
}

func TestAuthorizeSeam(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := web.NewSBOMHandler(web.SBOMOptions{SBOMs: st, Audit: st, Base: baseOpts,
		Authorize: func(r *http.Request) error { return fmt.Errorf("token required") }})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/sbom/example.com/m/@v/v1.0.0", nil))
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), "token required") {
		t.Errorf("refused request: %d %s", rec.Code, rec.Body)
	}
}
