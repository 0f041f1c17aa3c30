package sbom

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/github/go-spdx/v2/spdxexp"
	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
	"github.com/spdx/tools-golang/tagvalue"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/testkit/sbomcheck"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var testOpts = Options{
	Created:      time.Date(2025, 3, 14, 15, 9, 26, 535, time.UTC),
	Namespace:    "https://modgate.example.com/sbom",
	ToolVersion:  "v0.1.0",
	Organization: "Example Corp",
}

// testModule is a module version with every field set; the path keeps upper
// case and one requirement is +incompatible.
func testModule() Module {
	return Module{
		Path:             "github.com/Example-Org/Widget",
		Version:          "v1.2.3",
		Time:             time.Date(2024, 11, 2, 10, 0, 0, 0, time.UTC),
		TimeSource:       SourceSumDB,
		SHA256:           strings.Repeat("ab", 32),
		SHA512:           strings.Repeat("cd", 64),
		H1:               "h1:" + strings.Repeat("A", 43) + "=",
		ModH1:            "h1:" + strings.Repeat("B", 43) + "=",
		DownloadLocation: "https://modgate.example.com/github.com/!example-!org/!widget/@v/v1.2.3.zip",
		License:          "Apache-2.0 OR MIT",
		LicenseFiles:     []string{"LICENSE-MIT", "LICENSE-APACHE"},
		Copyright:        "Copyright 2024 The Widget Authors\nCopyright 2023 Example Org",
		Requires: []module.Version{
			{Path: "golang.org/x/text", Version: "v0.14.0"},
			{Path: "github.com/Foo/bar", Version: "v2.0.0+incompatible"},
			{Path: "gopkg.in/yaml.v3", Version: "v3.0.1"},
		},
		Vulns: []Vuln{{
			ID:      "GO-2024-0001",
			Aliases: []string{"CVE-2024-0001", "GHSA-aaaa-bbbb-cccc"},
			Summary: "Denial of service in Widget.Parse",
			Fixed:   "v1.2.4",
		}},
		Status: "served",
	}
}

// testProject is a small build list: the main module requires Widget and
// x/text; Widget requires an older x/text (MVS selects the newer), yaml
// (not in the list) and Foo/bar; one version was blocked.
func testProject() Project {
	w := testModule()
	w.Status = StatusServed
	text := Module{
		Path: "golang.org/x/text", Version: "v0.15.0",
		SHA256: strings.Repeat("01", 32), H1: "h1:" + strings.Repeat("C", 43) + "=",
		// What modgate's detector finds in golang.org/x/text's LICENSE and
		// PATENTS files.
		License: "BSD-3-Clause, GooglePatentClause", LicenseFiles: []string{"LICENSE", "PATENTS"}, Status: StatusServed,
	}
	bar := Module{
		Path: "github.com/Foo/bar", Version: "v2.0.0+incompatible",
		H1: "h1:" + strings.Repeat("D", 43) + "=", Status: StatusBlocked,
		// One license file modgate could not identify.
		License: "Apache-2.0 AND NOASSERTION",
		Vulns:   []Vuln{{ID: "GO-2023-0002", Summary: "Path traversal", URL: "https://example.com/advisory/2"}},
	}
	return Project{
		Name:    "example.com/app",
		Version: "v0.0.0-20250314000000-abcdefabcdef",
		Requires: []module.Version{
			{Path: "github.com/Example-Org/Widget", Version: "v1.2.3"},
			{Path: "golang.org/x/text", Version: "v0.15.0"},
		},
		Note:    "3 versions whose go.mod only was read are left out.",
		Modules: []Module{text, w, bar},
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./sbom -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got; go test ./sbom -update rewrites it):\n%s", path, diff)
	}
}

func encodeAll(t *testing.T, doc *v2_3.Document, bom *cdx.BOM) (js, tv, cj []byte) {
	t.Helper()
	var a, b, c bytes.Buffer
	if err := EncodeSPDXJSON(&a, doc); err != nil {
		t.Fatalf("EncodeSPDXJSON: %v", err)
	}
	if err := EncodeSPDXTagValue(&b, doc); err != nil {
		t.Fatalf("EncodeSPDXTagValue: %v", err)
	}
	if err := EncodeCycloneDXJSON(&c, bom); err != nil {
		t.Fatalf("EncodeCycloneDXJSON: %v", err)
	}
	return a.Bytes(), b.Bytes(), c.Bytes()
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		spdx func() (*v2_3.Document, error)
		cdx  func() (*cdx.BOM, error)
	}{
		{"module",
			func() (*v2_3.Document, error) { return SPDX(testModule(), testOpts) },
			func() (*cdx.BOM, error) { return CycloneDX(testModule(), testOpts) }},
		{"project",
			func() (*v2_3.Document, error) { return ProjectSPDX(testProject(), testOpts) },
			func() (*cdx.BOM, error) { return ProjectCycloneDX(testProject(), testOpts) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := tc.spdx()
			if err != nil {
				t.Fatal(err)
			}
			bom, err := tc.cdx()
			if err != nil {
				t.Fatal(err)
			}
			js, tv, cj := encodeAll(t, doc, bom)
			golden(t, tc.name+".spdx.json", js)
			golden(t, tc.name+".spdx", tv)
			golden(t, tc.name+".cdx.json", cj)
			if n := sbomcheck.Licenses(t, tv); n == 0 {
				t.Errorf("no license expression in the tag-value document")
			}

			validate(t, "spdx", js)
			validate(t, "cyclonedx", cj)
			roundTrip(t, doc, bom, js, tv, cj)
		})
	}
}

// summary is what every format must carry of a document, in one shape.
type summary struct {
	Packages map[string]pkgSummary // by name@version
	Edges    []string              // "a@v -> b@v"
}

type pkgSummary struct {
	PURL, SHA256, SHA512, License, Supplier, Copyright string
	Advisories                                         []string
	H1, Status                                         bool
}

func spdxSummary(doc *v2_3.Document) summary {
	s := summary{Packages: map[string]pkgSummary{}}
	byID := map[common.ElementID]string{}
	for _, p := range doc.Packages {
		key := p.PackageName + "@" + p.PackageVersion
		byID[p.PackageSPDXIdentifier] = key
		var ps pkgSummary
		for _, r := range p.PackageExternalReferences {
			switch r.RefType {
			case "purl":
				ps.PURL = r.Locator
			case "advisory":
				ps.Advisories = append(ps.Advisories, r.Locator)
			}
		}
		for _, c := range p.PackageChecksums {
			switch c.Algorithm {
			case common.SHA256:
				ps.SHA256 = c.Value
			case common.SHA512:
				ps.SHA512 = c.Value
			}
		}
		ps.License = strings.TrimPrefix(p.PackageLicenseDeclared, noAssertion)
		if p.PackageSupplier != nil && p.PackageSupplier.Supplier != noAssertion {
			ps.Supplier = p.PackageSupplier.Supplier
		}
		ps.Copyright = strings.TrimPrefix(p.PackageCopyrightText, noAssertion)
		ps.H1 = strings.Contains(p.PackageComment, " h1:")
		ps.Status = strings.Contains(p.PackageComment, "modgate status: ")
		s.Packages[key] = ps
	}
	for _, r := range doc.Relationships {
		if r.Relationship == common.TypeRelationshipDependsOn {
			s.Edges = append(s.Edges, byID[r.RefA.ElementRefID]+" -> "+byID[r.RefB.ElementRefID])
		}
	}
	sort.Strings(s.Edges)
	return s
}

func cdxSummary(bom *cdx.BOM) summary {
	s := summary{Packages: map[string]pkgSummary{}}
	byRef := map[string]string{}
	comps := []cdx.Component{*bom.Metadata.Component}
	if bom.Components != nil {
		comps = append(comps, *bom.Components...)
	}
	for _, c := range comps {
		key := c.Name + "@" + c.Version
		byRef[c.BOMRef] = key
		ps := pkgSummary{PURL: c.PackageURL, Copyright: c.Copyright}
		if c.Hashes != nil {
			for _, h := range *c.Hashes {
				switch h.Algorithm {
				case cdx.HashAlgoSHA256:
					ps.SHA256 = h.Value
				case cdx.HashAlgoSHA512:
					ps.SHA512 = h.Value
				}
			}
		}
		if c.Licenses != nil {
			ps.License = (*c.Licenses)[0].Expression
		}
		if c.Supplier != nil {
			ps.Supplier = c.Supplier.Name
		}
		if c.Properties != nil {
			for _, p := range *c.Properties {
				ps.H1 = ps.H1 || p.Name == "modgate:go.sum:h1" || p.Name == "modgate:go.sum:go.mod.h1"
				ps.Status = ps.Status || p.Name == "modgate:status"
			}
		}
		s.Packages[key] = ps
	}
	if bom.Vulnerabilities != nil {
		for _, v := range *bom.Vulnerabilities {
			for _, a := range *v.Affects {
				ps := s.Packages[byRef[a.Ref]]
				ps.Advisories = append(ps.Advisories, (*v.Advisories)[0].URL)
				s.Packages[byRef[a.Ref]] = ps
			}
		}
	}
	for _, d := range *bom.Dependencies {
		if d.Dependencies != nil {
			for _, to := range *d.Dependencies {
				s.Edges = append(s.Edges, byRef[d.Ref]+" -> "+byRef[to])
			}
		}
	}
	sort.Strings(s.Edges)
	return s
}

// roundTrip decodes each encoding with the libraries' own readers and checks
// that the key fields survive, and that SPDX and CycloneDX agree.
func roundTrip(t *testing.T, doc *v2_3.Document, bom *cdx.BOM, js, tv, cj []byte) {
	t.Helper()
	want := spdxSummary(doc)

	var fromJSON v2_3.Document
	if err := spdxjson.ReadInto(bytes.NewReader(js), &fromJSON); err != nil {
		t.Fatalf("reading SPDX JSON: %v", err)
	}
	if diff := cmp.Diff(want, spdxSummary(&fromJSON)); diff != "" {
		t.Errorf("SPDX JSON round trip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(doc.DocumentNamespace, fromJSON.DocumentNamespace); diff != "" {
		t.Errorf("namespace (-want +got):\n%s", diff)
	}

	var fromTV v2_3.Document
	if err := tagvalue.ReadInto(bytes.NewReader(tv), &fromTV); err != nil {
		t.Fatalf("reading SPDX tag-value: %v", err)
	}
	if diff := cmp.Diff(want, spdxSummary(&fromTV)); diff != "" {
		t.Errorf("SPDX tag-value round trip (-want +got):\n%s", diff)
	}
	// Free text must come back exactly, multi-line text included.
	for i, p := range doc.Packages {
		q := fromTV.Packages[i]
		for _, f := range [][2]string{
			{p.PackageComment, q.PackageComment},
			{p.PackageCopyrightText, q.PackageCopyrightText},
			{p.PackageLicenseComments, q.PackageLicenseComments},
		} {
			if f[0] != f[1] {
				t.Errorf("package %s: tag-value text changed: %q became %q", p.PackageName, f[0], f[1])
			}
		}
	}

	var fromCDX cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(cj), cdx.BOMFileFormatJSON).Decode(&fromCDX); err != nil {
		t.Fatalf("decoding CycloneDX JSON: %v", err)
	}
	if diff := cmp.Diff(cdxSummary(bom), cdxSummary(&fromCDX)); diff != "" {
		t.Errorf("CycloneDX round trip (-want +got):\n%s", diff)
	}
	if fromCDX.SerialNumber != bom.SerialNumber || fromCDX.SpecVersion != cdx.SpecVersion1_6 {
		t.Errorf("CycloneDX serial/spec = %s/%v, want %s/1.6", fromCDX.SerialNumber, fromCDX.SpecVersion, bom.SerialNumber)
	}
	if diff := cmp.Diff(want, cdxSummary(&fromCDX)); diff != "" {
		t.Errorf("SPDX and CycloneDX disagree (-spdx +cyclonedx):\n%s", diff)
	}
}

var (
	schemaCache = map[string]*jsonschema.Schema{}
	// schemaFiles maps each official schema's $id to its copy in testdata.
	schemaFiles = map[string]string{
		"http://spdx.org/rdf/terms/2.3":                    "spdx-2.3.schema.json",
		"http://cyclonedx.org/schema/bom-1.6.schema.json":  "bom-1.6.schema.json",
		"http://cyclonedx.org/schema/spdx.schema.json":     "spdx.schema.json",
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": "jsf-0.82.schema.json",
	}
	schemaRoots = map[string]string{
		"spdx":      "http://spdx.org/rdf/terms/2.3",
		"cyclonedx": "http://cyclonedx.org/schema/bom-1.6.schema.json",
	}
)

// validate checks data against the official JSON schema of kind, loaded from
// testdata/schema only (no network).
func validate(t *testing.T, kind string, data []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s output is not JSON: %v", kind, err)
	}
	if err := schema(t, kind).Validate(inst); err != nil {
		t.Errorf("%s output fails the official schema: %v", kind, err)
	}
	sbomcheck.Licenses(t, data)
}

// schema returns the compiled official schema of kind ("spdx", "cyclonedx").
func schema(t *testing.T, kind string) *jsonschema.Schema {
	t.Helper()
	sch := schemaCache[kind]
	if sch == nil {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		for id, file := range schemaFiles {
			f, err := os.Open(filepath.Join("testdata", "schema", file))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(f)
			f.Close()
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if err := c.AddResource(id, doc); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
		}
		var err error
		sch, err = c.Compile(schemaRoots[kind])
		if err != nil {
			t.Fatalf("compiling the %s schema: %v", kind, err)
		}
		schemaCache[kind] = sch
	}
	return sch
}

func TestPURL(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  module.Version
		want string
	}{
		{"case kept", module.Version{Path: "github.com/Azure/azure-sdk-for-go", Version: "v68.0.0+incompatible"},
			"pkg:golang/github.com/Azure/azure-sdk-for-go@v68.0.0%2Bincompatible"},
		{"major version suffix", module.Version{Path: "github.com/foo/bar/v2", Version: "v2.1.0"},
			"pkg:golang/github.com/foo/bar/v2@v2.1.0"},
		{"single element", module.Version{Path: "golang.org", Version: "v1.0.0"}, "pkg:golang/golang.org@v1.0.0"},
		{"tilde and underscore", module.Version{Path: "example.com/~user/a_b", Version: "v0.0.0-20240101000000-abcdefabcdef"},
			"pkg:golang/example.com/~user/a_b@v0.0.0-20240101000000-abcdefabcdef"},
		{"no version", module.Version{Path: "gopkg.in/yaml.v3"}, "pkg:golang/gopkg.in/yaml.v3"},
		{"hostile", module.Version{Path: "a/<b c>", Version: "v1@\"x\""}, "pkg:golang/a/%3Cb%20c%3E@v1%40%22x%22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, PURL(tc.mod)); diff != "" {
				t.Errorf("PURL(%v) (-want +got):\n%s", tc.mod, diff)
			}
		})
	}
}

func TestSupplier(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"github.com/Example-Org/Widget", "Organization: github.com/Example-Org"},
		{"gitlab.com/group/sub/project", "Organization: gitlab.com/group"},
		{"gopkg.in/yaml.v3", "Organization: github.com/go-yaml"},
		{"gopkg.in/user/pkg.v1", "Organization: github.com/user"},
		{"golang.org/x/text", "Organization: golang.org"},
		{"corp.example.com/team/lib", "Organization: corp.example.com"},
		{"github.com", "NOASSERTION"},
		{"example/local", "NOASSERTION"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Supplier(tc.path)); diff != "" {
				t.Errorf("Supplier(%q) (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

func TestLicense(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"id", "MIT", "MIT"},
		{"expression", "(Apache-2.0 OR MIT) AND BSD-3-Clause", "(Apache-2.0 OR MIT) AND BSD-3-Clause"},
		{"with exception", "GPL-2.0-or-later WITH Classpath-exception-2.0", "GPL-2.0-or-later WITH Classpath-exception-2.0"},
		{"list of ids", "MIT, BSD-3-Clause", "MIT AND BSD-3-Clause"},
		{"list with expression", "MIT, Apache-2.0 OR MIT", "MIT AND (Apache-2.0 OR MIT)"},
		{"license ref", "LicenseRef-modgate-unknown", "LicenseRef-modgate-unknown"},
		{"plus", "GPL-2.0+", "GPL-2.0+"},
		{"list spelling", "mit, apache-2.0", "MIT AND Apache-2.0"},
		{"not on the SPDX list", "BSD-3-Clause AND GooglePatentClause", "BSD-3-Clause AND LicenseRef-GooglePatentClause"},
		{"not on the SPDX list, as a list", "BSD-3-Clause, GooglePatentClause", "BSD-3-Clause AND LicenseRef-GooglePatentClause"},
		{"unidentified file", "Apache-2.0 AND NOASSERTION", "Apache-2.0 AND LicenseRef-modgate-unidentified"},
		{"unidentified file, as a list", "Apache-2.0, NOASSERTION", "Apache-2.0 AND LicenseRef-modgate-unidentified"},
		{"only unidentified files", "NOASSERTION, NOASSERTION", ""},
		{"unknown exception", "GPL-2.0-or-later WITH Foo-exception", ""},
		{"unknown", "", ""},
		{"noassertion", "NOASSERTION", ""},
		{"lower-case operator", "MIT or Apache-2.0", ""},
		{"dangling operator", "MIT AND", ""},
		{"unbalanced", "(MIT", ""},
		{"hostile", "<script>alert(\"x\")</script>", ""},
		{"newline", "MIT\nApache-2.0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, note, _ := license(tc.in, nil)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("license(%q) (-want +got):\n%s", tc.in, diff)
			}
			if got != "" {
				if ok, invalid := spdxexp.ValidateLicenses([]string{got}); !ok {
					t.Errorf("license(%q) = %q: not valid SPDX (%q)", tc.in, got, invalid)
				}
			}
			if got == "" && tc.want == "" && line(tc.in) != "" && line(tc.in) != noAssertion && !strings.Contains(note, "not an SPDX license expression") && !strings.Contains(note, "could not identify") {
				t.Errorf("license(%q) note = %q, want it to keep the text", tc.in, note)
			}
		})
	}
}

// TestHostile feeds free text with markup, quotes and line breaks, and
// checks that every format stays valid and round-trips, or (tag-value only,
// for its <text> markers) fails with a TagValueError.
func TestHostile(t *testing.T) {
	const evil = "<script>alert(\"pwned\")</script>\n\"quoted\" 'single' & \\ back\r\nslash\x00\x1b[31m"
	for _, tc := range []struct {
		name    string
		edit    func(*Module)
		project string
		tvErr   bool
	}{
		{name: "license", edit: func(m *Module) { m.License = evil }},
		{name: "copyright", edit: func(m *Module) { m.Copyright = evil }},
		{name: "supplier", edit: func(m *Module) { m.Supplier = evil }},
		{name: "status", edit: func(m *Module) { m.Status = evil }},
		{name: "vulnerability", edit: func(m *Module) {
			m.Vulns = []Vuln{{ID: "GO-2024-\n<b>9", Aliases: []string{evil}, Summary: evil, URL: "javascript:alert(1)", Fixed: evil}}
		}},
		{name: "download location", edit: func(m *Module) { m.DownloadLocation = "https://x.example/a b\n<script>" }},
		{name: "license files", edit: func(m *Module) { m.LicenseFiles = []string{evil} }},
		{name: "project name", project: evil},
		{name: "text marker in copyright", edit: func(m *Module) { m.Copyright = "a</text>\nPackageName: injected" }, tvErr: true},
		{name: "text marker on one line", edit: func(m *Module) { m.Copyright = "(c) <text>" }, tvErr: true},
		{name: "text marker in project name", project: "app <text>", tvErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				doc *v2_3.Document
				bom *cdx.BOM
				err error
			)
			if tc.project != "" {
				p := testProject()
				p.Name = tc.project
				doc, err = ProjectSPDX(p, testOpts)
				if err == nil {
					bom, err = ProjectCycloneDX(p, testOpts)
				}
			} else {
				m := testModule()
				tc.edit(&m)
				doc, err = SPDX(m, testOpts)
				if err == nil {
					bom, err = CycloneDX(m, testOpts)
				}
			}
			if err != nil {
				t.Fatalf("building: %v", err)
			}
			var js, cj, tv bytes.Buffer
			if err := EncodeSPDXJSON(&js, doc); err != nil {
				t.Fatal(err)
			}
			if err := EncodeCycloneDXJSON(&cj, bom); err != nil {
				t.Fatal(err)
			}
			validate(t, "spdx", js.Bytes())
			validate(t, "cyclonedx", cj.Bytes())
			err = EncodeSPDXTagValue(&tv, doc)
			if tc.tvErr {
				var tve *TagValueError
				if !errors.As(err, &tve) {
					t.Fatalf("EncodeSPDXTagValue error = %v, want a *TagValueError", err)
				}
				if tv.Len() != 0 {
					t.Errorf("EncodeSPDXTagValue wrote %d bytes before failing", tv.Len())
				}
				return
			}
			if err != nil {
				t.Fatalf("EncodeSPDXTagValue: %v", err)
			}
			roundTrip(t, doc, bom, js.Bytes(), tv.Bytes(), cj.Bytes())
		})
	}
}

func TestInvalidInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Module, *Options)
	}{
		{"script in path", func(m *Module, _ *Options) { m.Path = "github.com/x/<script>" }},
		{"newline in path", func(m *Module, _ *Options) { m.Path = "github.com/x/y\nz" }},
		{"quote in version", func(m *Module, _ *Options) { m.Version = "v1.0.0\"" }},
		{"bad requirement", func(m *Module, _ *Options) {
			m.Requires = append(m.Requires, module.Version{Path: "a b", Version: "v1"})
		}},
		{"short sha256", func(m *Module, _ *Options) { m.SHA256 = "abc" }},
		{"upper-case sha512", func(m *Module, _ *Options) { m.SHA512 = strings.Repeat("AB", 64) }},
		{"bad h1", func(m *Module, _ *Options) { m.H1 = "h1:\n" }},
		{"vuln without id", func(m *Module, _ *Options) { m.Vulns = []Vuln{{Summary: "x"}} }},
		{"no clock", func(_ *Module, o *Options) { o.Created = time.Time{} }},
		{"bad namespace", func(_ *Module, o *Options) { o.Namespace = "modgate#x" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, o := testModule(), testOpts
			tc.edit(&m, &o)
			if _, err := SPDX(m, o); err == nil {
				t.Errorf("SPDX succeeded, want an error")
			}
			if _, err := CycloneDX(m, o); err == nil {
				t.Errorf("CycloneDX succeeded, want an error")
			}
		})
	}
	_, err := SPDX(Module{Path: "github.com/x/<y>", Version: "v1.0.0"}, testOpts)
	var merr *module.ModuleError
	if !errors.As(err, &merr) {
		t.Errorf("error for a bad path = %v, want a *module.ModuleError", err)
	}
	p := testProject()
	p.Modules = append(p.Modules, p.Modules[0])
	if _, err := ProjectSPDX(p, testOpts); err == nil {
		t.Errorf("ProjectSPDX with a module listed twice succeeded")
	}
}

// TestNamespace checks that identical input gives identical documents and
// that any change of content gives a new namespace and serial number.
func TestNamespace(t *testing.T) {
	a, _ := SPDX(testModule(), testOpts)
	b, _ := SPDX(testModule(), testOpts)
	if a.DocumentNamespace != b.DocumentNamespace {
		t.Errorf("same input, namespaces %s and %s", a.DocumentNamespace, b.DocumentNamespace)
	}
	if !strings.HasPrefix(a.DocumentNamespace, testOpts.Namespace+"/github.com_Example-Org_Widget@v1.2.3-") {
		t.Errorf("namespace %s: want it under %s, named after the module", a.DocumentNamespace, testOpts.Namespace)
	}
	m := testModule()
	m.Vulns = append(m.Vulns, Vuln{ID: "GO-2025-0003"})
	c, _ := SPDX(m, testOpts)
	later := testOpts
	later.Created = later.Created.Add(time.Hour)
	d, _ := SPDX(testModule(), later)
	seen := map[string]string{}
	for name, doc := range map[string]*v2_3.Document{"original": a, "new vuln": c, "later": d} {
		if other, ok := seen[doc.DocumentNamespace]; ok {
			t.Errorf("%s and %s share namespace %s", name, other, doc.DocumentNamespace)
		}
		seen[doc.DocumentNamespace] = name
	}
	x, _ := CycloneDX(testModule(), testOpts)
	y, _ := CycloneDX(m, testOpts)
	if x.SerialNumber == y.SerialNumber {
		t.Errorf("different content, same serial number %s", x.SerialNumber)
	}
}

func TestFormat(t *testing.T) {
	for _, f := range []Format{SPDXJSON, SPDXTagValue, CycloneDXJSON} {
		got, err := ParseFormat(f.String())
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v; want %v", f.String(), got, err, f)
		}
		var mod, proj bytes.Buffer
		if err := Write(&mod, f, testModule(), testOpts); err != nil {
			t.Errorf("Write %v: %v", f, err)
		}
		if err := WriteProject(&proj, f, testProject(), testOpts); err != nil {
			t.Errorf("WriteProject %v: %v", f, err)
		}
		ext := map[Format]string{SPDXJSON: ".spdx.json", SPDXTagValue: ".spdx", CycloneDXJSON: ".cdx.json"}[f]
		for name, buf := range map[string]*bytes.Buffer{"module": &mod, "project": &proj} {
			want, err := os.ReadFile(filepath.Join("testdata", name+ext))
			if err == nil && !bytes.Equal(want, buf.Bytes()) {
				t.Errorf("Write %v of %s differs from testdata/%s%s", f, name, name, ext)
			}
		}
	}
	if _, err := ParseFormat("xml"); err == nil {
		t.Error(`ParseFormat("xml") succeeded`)
	}
}

// TestSchemaRejects makes sure the schema check can fail: documents missing
// required members or with a malformed serial number must not validate.
func TestSchemaRejects(t *testing.T) {
	for _, tc := range []struct{ kind, doc string }{
		{"spdx", `{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT"}`},
		{"cyclonedx", `{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "serialNumber": "urn:uuid:x"}`},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema(t, tc.kind).Validate(inst); err == nil {
				t.Errorf("the %s schema accepted %s", tc.kind, tc.doc)
			}
		})
	}
}

func TestPublishTime(t *testing.T) {
	upstream := time.Date(2019, 12, 5, 16, 0, 0, 0, time.UTC)
	info := []byte(`{"Version":"v0.3.2","Time":"2019-04-05T01:06:11Z"}`)
	for _, tc := range []struct {
		name     string
		upstream time.Time
		info     []byte
		want     time.Time
		wantSrc  string
	}{
		{"upstream", upstream, info, upstream, SourceIndex},
		{".info Time", time.Time{}, info, time.Date(2019, 4, 5, 1, 6, 11, 0, time.UTC), SourceInfo},
		{"neither", time.Time{}, nil, time.Time{}, ""},
		{"no Time", time.Time{}, []byte(`{"Version":"v0.3.2"}`), time.Time{}, ""},
		{"not JSON", time.Time{}, []byte(`<html>`), time.Time{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := ""
			if !tc.upstream.IsZero() {
				src = SourceIndex
			}
			if got, gotSrc := PublishTime(tc.upstream, src, tc.info); !got.Equal(tc.want) || gotSrc != tc.wantSrc {
				t.Errorf("PublishTime = %v, %q; want %v, %q", got, gotSrc, tc.want, tc.wantSrc)
			}
		})
	}
}
