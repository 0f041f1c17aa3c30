// Package sbomcheck checks, in tests, the license expressions of an SBOM
// document with a real SPDX license-expression parser
// (github.com/github/go-spdx/v2/spdxexp, validating against the SPDX License
// List), which the SPDX and CycloneDX JSON schemas do not do: every
// licenseDeclared, licenseConcluded and licenseInfoFromFiles of an SPDX
// document (JSON or tag-value) and every license expression and id of a
// CycloneDX BOM must parse; NOASSERTION and NONE may only stand alone; every
// LicenseRef- an SPDX document names must be declared in it
// (hasExtractedLicensingInfos).
package sbomcheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/github/go-spdx/v2/spdxexp"
)

// Licenses checks every license field of doc (SPDX 2.3 JSON or tag-value,
// or CycloneDX JSON) and returns how many expressions it checked (NOASSERTION
// and NONE not counted), so a caller can tell a document without licenses.
func Licenses(t testing.TB, doc []byte) int {
	t.Helper()
	exprs, declared, format := extract(t, doc)
	n := 0
	for _, e := range exprs {
		if e.value == "NOASSERTION" || e.value == "NONE" {
			continue
		}
		n++
		if strings.Contains(e.value, "NOASSERTION") || strings.Contains(e.value, "NONE") {
			t.Errorf("%s: %s %q: NOASSERTION/NONE inside a license expression", format, e.field, e.value)
			continue
		}
		if ok, invalid := spdxexp.ValidateLicenses([]string{e.value}); !ok {
			t.Errorf("%s: %s %q is not a valid SPDX license expression (invalid: %q)", format, e.field, e.value, invalid)
			continue
		}
		if declared == nil {
			continue // CycloneDX: no declaration of references
		}
		for _, m := range licenseRefRE.FindAllStringSubmatch(e.value, -1) {
			if ref := m[1]; !declared[ref] {
				t.Errorf("%s: %s %q names %s, which the document does not declare (hasExtractedLicensingInfos)", format, e.field, e.value, ref)
			}
		}
	}
	for id := range declared {
		if !strings.HasPrefix(id, "LicenseRef-") {
			t.Errorf("%s: hasExtractedLicensingInfos declares %q, not a LicenseRef- id", format, id)
		}
	}
	return n
}

var licenseRefRE = regexp.MustCompile(`(?:^|[\s(])(LicenseRef-[A-Za-z0-9.\-]+)`)

type field struct{ field, value string }

func extract(t testing.TB, doc []byte) (exprs []field, declared map[string]bool, format string) {
	t.Helper()
	trimmed := bytes.TrimSpace(doc)
	if !bytes.HasPrefix(trimmed, []byte("{")) {
		return tagValue(doc)
	}
	var probe struct {
		SPDXVersion string `json:"spdxVersion"`
		BOMFormat   string `json:"bomFormat"`
	}
	if err := json.Unmarshal(doc, &probe); err != nil {
		t.Fatalf("sbomcheck: not JSON: %v", err)
	}
	switch {
	case probe.SPDXVersion != "":
		return spdxJSON(t, doc)
	case probe.BOMFormat == "CycloneDX":
		return cycloneDX(t, doc), nil, "CycloneDX"
	}
	t.Fatalf("sbomcheck: neither SPDX (spdxVersion) nor CycloneDX (bomFormat) JSON")
	return nil, nil, ""
}

func spdxJSON(t testing.TB, doc []byte) ([]field, map[string]bool, string) {
	var d struct {
		Packages []struct {
			Name     string   `json:"name"`
			Declared string   `json:"licenseDeclared"`
			Conclude string   `json:"licenseConcluded"`
			FromFile []string `json:"licenseInfoFromFiles"`
		} `json:"packages"`
		Files []struct {
			Name     string   `json:"fileName"`
			Conclude string   `json:"licenseConcluded"`
			InFiles  []string `json:"licenseInfoInFiles"`
		} `json:"files"`
		Extracted []struct {
			ID string `json:"licenseId"`
		} `json:"hasExtractedLicensingInfos"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("sbomcheck: SPDX JSON: %v", err)
	}
	var out []field
	add := func(where, v string) {
		if v != "" {
			out = append(out, field{where, v})
		}
	}
	for _, p := range d.Packages {
		add("package "+p.Name+" licenseDeclared", p.Declared)
		add("package "+p.Name+" licenseConcluded", p.Conclude)
		for _, v := range p.FromFile {
			add("package "+p.Name+" licenseInfoFromFiles", v)
		}
	}
	for _, f := range d.Files {
		add("file "+f.Name+" licenseConcluded", f.Conclude)
		for _, v := range f.InFiles {
			add("file "+f.Name+" licenseInfoInFiles", v)
		}
	}
	declared := map[string]bool{}
	for _, e := range d.Extracted {
		declared[e.ID] = true
	}
	return out, declared, "SPDX JSON"
}

func tagValue(doc []byte) ([]field, map[string]bool, string) {
	var out []field
	declared := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		tag, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		switch tag {
		case "PackageLicenseConcluded", "PackageLicenseDeclared", "PackageLicenseInfoFromFiles", "LicenseConcluded", "LicenseInfoInFile":
			out = append(out, field{tag, strings.TrimSpace(v)})
		case "LicenseID":
			declared[strings.TrimSpace(v)] = true
		}
	}
	return out, declared, "SPDX tag-value"
}

type cdxComponent struct {
	Name     string `json:"name"`
	Licenses []struct {
		Expression string `json:"expression"`
		License    *struct {
			ID string `json:"id"`
		} `json:"license"`
	} `json:"licenses"`
	Components []cdxComponent `json:"components"`
}

func cycloneDX(t testing.TB, doc []byte) []field {
	var d struct {
		Metadata struct {
			Component *cdxComponent `json:"component"`
		} `json:"metadata"`
		Components []cdxComponent `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("sbomcheck: CycloneDX JSON: %v", err)
	}
	var out []field
	var walk func(c cdxComponent)
	walk = func(c cdxComponent) {
		for _, l := range c.Licenses {
			if l.Expression != "" {
				out = append(out, field{"component " + c.Name + " licenses.expression", l.Expression})
			}
			if l.License != nil && l.License.ID != "" {
				out = append(out, field{"component " + c.Name + " licenses.license.id", l.License.ID})
			}
		}
		for _, sub := range c.Components {
			walk(sub)
		}
	}
	if d.Metadata.Component != nil {
		walk(*d.Metadata.Component)
	}
	for _, c := range d.Components {
		walk(c)
	}
	return out
}
