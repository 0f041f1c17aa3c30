package sbomcheck

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records errors instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestLicensesCatchesInvalidExpressions checks the checker fails on the
// expressions issue 10 found in modgate's SBOMs, and passes valid ones.
func TestLicensesCatchesInvalidExpressions(t *testing.T) {
	doc := func(declared, extracted string) []byte {
		return []byte(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"m","licenseDeclared":"` + declared +
			`","licenseConcluded":"NOASSERTION"}],"hasExtractedLicensingInfos":[` + extracted + `]}`)
	}
	for _, tc := range []struct {
		name string
		doc  []byte
		bad  string // a substring of the error; "" for none
	}{
		{"valid", doc("BSD-3-Clause AND LicenseRef-GooglePatentClause", `{"licenseId":"LicenseRef-GooglePatentClause"}`), ""},
		{"not on the list", doc("BSD-3-Clause AND GooglePatentClause", ""), "not a valid SPDX"},
		{"NOASSERTION inside", doc("Apache-2.0 AND NOASSERTION", ""), "NOASSERTION/NONE inside"},
		{"undeclared reference", doc("MIT AND LicenseRef-x", ""), "does not declare"},
		{"tag-value", []byte("SPDXVersion: SPDX-2.3\nPackageLicenseDeclared: MIT AND Foo\n"), "not a valid SPDX"},
		{"CycloneDX", []byte(`{"bomFormat":"CycloneDX","components":[{"name":"m","licenses":[{"expression":"Apache-2.0 AND NOASSERTION"}]}]}`), "NOASSERTION/NONE inside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			if n := Licenses(r, tc.doc); n != 1 {
				t.Errorf("checked %d expressions, want 1", n)
			}
			got := strings.Join(r.errs, "\n")
			if tc.bad == "" && got != "" || tc.bad != "" && !strings.Contains(got, tc.bad) {
				t.Errorf("errors %q, want one containing %q", got, tc.bad)
			}
		})
	}
}
