package check

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSummarize(t *testing.T) {
	block := Finding{Rule: "vulnerabilities", Action: "block", Advisory: "GO-2021-0113"}
	warn := Finding{Rule: "deprecated", Action: "warn"}
	exempt := Finding{Rule: "vulnerabilities", Action: "block", Advisory: "GO-2022-1059", Exemption: 7}
	out := &Result{Modules: []Decision{
		{Module: "golang.org/x/text", Version: "v0.3.5", Blocked: true, WouldBlock: true, Findings: []Finding{block, exempt}},
		{Module: "example.com/audit", Version: "v1.0.0", WouldBlock: true, Findings: []Finding{block}},
		{Module: "example.com/ok", Version: "v1.0.0", Findings: []Finding{}},
		{Module: "example.com/old", Version: "v1.0.0", Findings: []Finding{warn}},
	}}
	out.Summarize()
	if diff := cmp.Diff(Summary{Modules: 4, Blocked: 1, WouldBlock: 2, Warned: 2, Exempted: 1}, out.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if !out.Blocked {
		t.Errorf("Blocked false with a blocked module")
	}
	var order []string
	for _, d := range out.Modules {
		order = append(order, d.Module)
	}
	if diff := cmp.Diff([]string{"example.com/audit", "example.com/ok", "example.com/old", "golang.org/x/text"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		d         Decision
		f         Finding
		tag, note string
	}{
		{out.Modules[3], block, "BLOCK", ""},
		{out.Modules[3], exempt, "EXEMPT", " (block, waived by exemption 7)"},
		{out.Modules[0], block, "WARN", " (audit mode: enforce would block)"},
		{out.Modules[2], warn, "WARN", ""},
	} {
		if tag, note := Label(tc.d, tc.f); tag != tc.tag || note != tc.note {
			t.Errorf("Label(%s, %s) = %q, %q; want %q, %q", tc.d.Module, tc.f.Rule, tag, note, tc.tag, tc.note)
		}
	}
}
