package policy

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/scanner/caps"
)

// decimalFacts runs the capability pass on the fixture and compares
// each version with the one before, as the proxy does at ingest.
func decimalFacts(t *testing.T) []*store.CapabilityFacts {
	t.Helper()
	var out []*store.CapabilityFacts
	for i, b := range testkit.Decimal(t) {
		m := module.Version{Path: b.Path, Version: b.Version}
		zr, err := zip.NewReader(bytes.NewReader(b.Zip), int64(len(b.Zip)))
		if err != nil {
			t.Fatal(err)
		}
		r, err := caps.Zip(zr, m)
		if err != nil {
			t.Fatal(err)
		}
		f := &store.CapabilityFacts{Module: m, Uses: CapabilityUses(r.Uses), Binaries: CapabilityBinaries(r.Binaries),
			Files: r.Files, ComputedAt: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}
		if i == 0 {
			f.BaseNote = FirstVersionNote + " of example.test/decimal"
		} else {
			CompareCapabilities(out[i-1], f)
		}
		out = append(out, f)
	}
	return out
}

func TestDecideCapabilities(t *testing.T) {
	fs := decimalFacts(t)
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	m := func(v string) module.Version { return module.Version{Path: "example.test/decimal", Version: v} }
	blockInit := Finding{Rule: RuleCapInit, Action: Block,
		Reason: "EXEC at decimal.go:20, NETWORK at decimal.go:16 in example.test/decimal, run from init (init → poll); not in v1.0.0"}
	noBase := *fs[1]
	noBase.Base, noBase.BaseNote, noBase.Added = "", "v1.0.0: its zip could not be fetched: 502 Bad Gateway", nil
	withBinary := *fs[2]
	withBinary.AddedBinaries = []store.BinaryFile{{File: "tool", Kind: "ELF"}}
	for _, tc := range []struct {
		name   string
		policy string
		in     Input
		want   []Finding
	}{
		{"the first version", "", Input{Module: m("v1.0.0"), Zip: true, Capabilities: fs[0]}, nil},
		{"v1.0.1 adds EXEC and NETWORK in init", "", Input{Module: m("v1.0.1"), Zip: true, Capabilities: fs[1]}, []Finding{blockInit}},
		{"v1.0.2 reverts", "", Input{Module: m("v1.0.2"), Zip: true, Capabilities: fs[2]}, nil},
		{"without facts, for a zip", "", Input{Module: m("v1.0.1"), Zip: true},
			[]Finding{{Rule: RuleCapUnknown, Action: Block, Reason: "the capability pass has not run on this zip: modgate cannot say what the version adds"}}},
		{"without facts, not for a zip", "", Input{Module: m("v1.0.1")}, nil},
		{"the pass failed", "", Input{Module: m("v1.0.1"), Zip: true, Capabilities: &store.CapabilityFacts{Failed: "zip: not a valid zip file"}},
			[]Finding{{Rule: RuleCapUnknown, Action: Block, Reason: "the capability pass failed: zip: not a valid zip file"}}},
		{"a file over the pass's limit", "", Input{Module: m("v1.0.1"), Zip: true, Capabilities: &store.CapabilityFacts{Base: "v1.0.0",
			Skipped: []string{"pad.go: 17825792 bytes, over the pass's limit of 16777216", "gen.go: does not parse: 1:1: expected 'package'"}}},
			[]Finding{{Rule: RuleCapUnknown, Action: Block, Reason: "not analysed: pad.go: 17825792 bytes, over the pass's limit of 16777216: what that code can do is unknown"}}},
		{"a file that does not parse (does not compile either)", "", Input{Module: m("v1.0.1"), Zip: true, Capabilities: &store.CapabilityFacts{Base: "v1.0.0",
			Skipped: []string{"gen.go: does not parse: 1:1: expected 'package'"}}}, nil},
		{"no base to compare with", "", Input{Module: m("v1.0.1"), Zip: true, Capabilities: &noBase},
			[]Finding{{Rule: RuleCapUnknown, Action: Block, Reason: "EXEC at decimal.go:20, NETWORK at decimal.go:16 in example.test/decimal; cannot tell whether that is new: v1.0.0: its zip could not be fetched: 502 Bad Gateway"}}},
		{"no base, and nothing listed", "capabilities: {in_init: [PLUGIN]}\n", Input{Module: m("v1.0.1"), Zip: true, Capabilities: &noBase}, nil},
		{"new capabilities warn", "capabilities: {new: [NETWORK, FILES_WRITE], in_init: [], action: warn}\n", Input{Module: m("v1.0.1"), Zip: true, Capabilities: fs[1]},
			[]Finding{{Rule: RuleCapNew, Action: Warn, Reason: "NETWORK at decimal.go:16 in example.test/decimal; not in v1.0.0"}}},
		{"binaries", "capabilities: {binaries: block}\n", Input{Module: m("v1.0.2"), Zip: true, Capabilities: &withBinary},
			[]Finding{{Rule: RuleCapBinary, Action: Block, Reason: "programs in the zip: tool (ELF); not in v1.0.1"}}},
		{"off", "capabilities: {in_init: [], binaries: off}\n", Input{Module: m("v1.0.1"), Zip: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.policy)
			var got []Finding
			for _, f := range p.Decide(tc.in, now).Findings {
				if strings.HasPrefix(f.Rule, "capabilities") {
					got = append(got, f)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// The go command's output names the capability, the package, file:line and
// the version compared with, and an exemption of the rule group admits it.
func TestRefusalCapabilities(t *testing.T) {
	fs := decimalFacts(t)
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	m := module.Version{Path: "example.test/decimal", Version: "v1.0.1"}
	in := Input{Module: m, Zip: true, Capabilities: fs[1]}
	d := Default().Decide(in, now)
	if !d.Blocked {
		t.Fatalf("not blocked: %+v", d)
	}
	r := Refusal{Module: m, Decision: d, Instead: "v1.0.2", Page: "https://modgate.example/ui/version/example.test/decimal/@v/v1.0.1"}
	lines := r.Summary()
	if !Fits(lines) {
		t.Errorf("summary does not fit the go command's output: %q", lines)
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{"capabilities.in_init", "EXEC at decimal.go:20", "example.test/decimal", "not in v1.0.0", "--rule capabilities.in_init", "v1.0.2"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	in.Exemptions = []store.Exemption{{ID: 7, Module: m.Path, Versions: "v1.0.1", Rule: "capabilities", ExpiresAt: now.Add(time.Hour)}}
	d = Default().Decide(in, now)
	exempted := false
	for _, f := range d.Findings {
		exempted = exempted || f.Rule == RuleCapInit && f.Exemption == 7
	}
	if d.Blocked || !exempted {
		t.Errorf("exempted: %+v", d)
	}
}

func TestParseCapabilities(t *testing.T) {
	_, err := Parse("policy.yaml", []byte("capabilities:\n  new: [EXEC, TELEPORT]\n  action: maybe\n"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`policy.yaml:2: capabilities.new: unknown capability "TELEPORT"`, "policy.yaml:3: capabilities.action"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	p := mustParse(t, "capabilities: {new: [unsafe, capability_exec], in_init: [ENV], action: warn}\n")
	if got, want := p.rules.caps.newCaps, []caps.Capability{caps.UnsafePointer, caps.Linkname, caps.Exec}; !cmp.Equal(want, got) {
		t.Errorf("new = %v, want %v", got, want)
	}
	if got, want := p.rules.caps.initCaps, []caps.Capability{caps.ModifySystemState}; !cmp.Equal(want, got) {
		t.Errorf("in_init = %v, want %v", got, want)
	}
}
