package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

var (
	shopsprint = module.Version{Path: "github.com/shopsprint/decimal", Version: "v1.3.3"}
	lookalike  = &store.PathCheck{Path: shopsprint.Path, Resembles: "github.com/shopspring/decimal", Kind: "edit",
		How: "1 edit from github.com/shopspring/decimal (shopsprint for shopspring)", Uses: 40, Listed: true}
	cloneCaps = &store.Clone{Module: shopsprint, Original: module.Version{Path: "github.com/shopspring/decimal", Version: "v1.3.1"},
		Similarity: 923, Added: []string{"loader.go"}, CapabilitiesKnown: true,
		Capabilities: []string{"EXEC in loader.go:14 (os/exec.Command, from init)", "NETWORK in loader.go:11 (net.LookupTXT, from init)"}}
	fork = &store.Clone{Module: shopsprint, Original: module.Version{Path: "github.com/shopspring/decimal", Version: "v1.3.1"},
		Similarity: 1000, ModuleLineOnly: true, CapabilitiesKnown: true}
)

func TestResemblanceFindings(t *testing.T) {
	syncedData := Data{VulnSynced: time.Date(2026, 3, 6, 11, 0, 0, 0, time.UTC)}
	now := time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC)
	unknown := *cloneCaps
	unknown.Capabilities, unknown.CapabilitiesKnown = nil, false
	tests := []struct {
		name   string
		policy string
		in     Input
		want   []Finding
		block  bool
	}{
		{"look-alike warns by default", "", Input{Lookalike: lookalike}, []Finding{{Rule: RuleLookalike, Action: Warn,
			Reason: "1 edit from github.com/shopspring/decimal (shopsprint for shopspring), a widely used module fetched here (40 versions)"}}, false},
		{"look-alike blocks", "lookalike: block", Input{Lookalike: lookalike}, []Finding{{Rule: RuleLookalike, Action: Block,
			Reason: "1 edit from github.com/shopspring/decimal (shopsprint for shopspring), a widely used module fetched here (40 versions)"}}, true},
		{"look-alike off", "lookalike: off", Input{Lookalike: lookalike}, nil, false},
		{"a path that resembles nothing", "lookalike: block", Input{Lookalike: &store.PathCheck{Path: "example.com/m"}}, nil, false},
		{"clone adding capabilities blocks by default", "", Input{Clone: cloneCaps}, []Finding{{Rule: RuleCloneCaps, Action: Block,
			Reason: "adds EXEC in loader.go:14 (os/exec.Command, from init), NETWORK in loader.go:11 (net.LookupTXT, from init); copies github.com/shopspring/decimal@v1.3.1 (92% of its files identical); added: loader.go"}}, true},
		{"clone adding capabilities warns when told", "clone: {with_new_capabilities: warn}", Input{Clone: cloneCaps}, []Finding{{Rule: RuleCloneCaps, Action: Warn,
			Reason: "adds EXEC in loader.go:14 (os/exec.Command, from init), NETWORK in loader.go:11 (net.LookupTXT, from init); copies github.com/shopspring/decimal@v1.3.1 (92% of its files identical); added: loader.go"}}, false},
		{"a fork that renamed itself is information", "", Input{Clone: fork}, []Finding{{Rule: RuleClone, Action: Warn,
			Reason: "a fork of github.com/shopspring/decimal@v1.3.1: identical but for its go.mod module line"}}, false},
		{"a fork blocks only when clone.action says so", "clone: block", Input{Clone: fork}, []Finding{{Rule: RuleClone, Action: Block,
			Reason: "a fork of github.com/shopspring/decimal@v1.3.1: identical but for its go.mod module line"}}, true},
		{"added files not analysed: fail closed as with_new_capabilities", "", Input{Clone: &unknown}, []Finding{{Rule: RuleCloneUnknown, Action: Block,
			Reason: "copies github.com/shopspring/decimal@v1.3.1 (92% of its files identical); added: loader.go; the capabilities of its added and changed files were not analysed"}}, true},
		{"added files not analysed, unknown: warn", "clone: {unknown: warn}", Input{Clone: &unknown}, []Finding{{Rule: RuleCloneUnknown, Action: Warn,
			Reason: "copies github.com/shopspring/decimal@v1.3.1 (92% of its files identical); added: loader.go; the capabilities of its added and changed files were not analysed"}}, false},
		{"exemption for the look-alike rule", "lookalike: block", Input{Lookalike: lookalike, Exemptions: []store.Exemption{{ID: 7,
			Module: shopsprint.Path, Rule: RuleLookalike, ExpiresAt: NeverExpires}}}, []Finding{{Rule: RuleLookalike, Action: Block,
			Reason: "1 edit from github.com/shopspring/decimal (shopsprint for shopspring), a widely used module fetched here (40 versions)", Exemption: 7}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("policy.yaml", []byte(tt.policy))
			if err != nil {
				t.Fatal(err)
			}
			in := tt.in
			in.Module, in.Data = shopsprint, syncedData
			d := p.Decide(in, now)
			var got []Finding
			for _, f := range d.Findings {
				if strings.HasPrefix(f.Rule, RuleLookalike) || strings.HasPrefix(f.Rule, RuleClone) {
					got = append(got, f)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if d.Blocked != tt.block {
				t.Errorf("Blocked = %v, want %v", d.Blocked, tt.block)
			}
		})
	}
}

// TestResemblanceRefusalFits checks that a refusal for a look-alike path and a
// clone that adds capabilities fits the go command's 8 lines and 648 bytes
// with the path it resembles, the capability and its file, and the
// exemption that clears the path for good.
func TestResemblanceRefusalFits(t *testing.T) {
	p, err := Parse("policy.yaml", []byte("lookalike: block\n"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC)
	data := Data{VulnSynced: now.Add(-time.Hour)}
	for _, tt := range []struct {
		name string
		in   Input
		want []string
	}{
		{"look-alike", Input{Lookalike: lookalike}, []string{"- lookalike: 1 edit from github.com/shopspring/decimal (shopsprint for shopspring)",
			"--rule lookalike --reason ... --by ... --expires never"}},
		{"both", Input{Lookalike: lookalike, Clone: cloneCaps}, []string{"lookalike, clone.with_new_capabilities", "EXEC in loader.go:14"}},
		{"added files not analysed: a version's own, not missing data", Input{Clone: &store.Clone{Module: shopsprint,
			Original: cloneCaps.Original, Similarity: 923, Added: []string{"loader.go"}}},
			[]string{"- clone.unknown: copies github.com/shopspring/decimal@v1.3.1", "modgate exempt add --module github.com/shopsprint/decimal --versions v1.3.3 --rule clone.unknown"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Module, in.Data = shopsprint, data
			r := Refusal{Module: shopsprint, Decision: p.Decide(in, now), Page: "https://modgate.example/ui/version/github.com/shopsprint/decimal/@v/v1.3.3"}
			lines := r.Summary()
			if !Fits(lines) {
				t.Errorf("summary does not fit the go command's %d lines and %d bytes:\n%s", MaxDetailLines, MaxDetailBytes, strings.Join(lines, "\n"))
			}
			text := strings.Join(lines, "\n")
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("summary lacks %q:\n%s", w, text)
				}
			}
		})
	}
}

// TestNeverExpiresLookalikeOnly: only the look-alike rule may be waived for
// good.
func TestNeverExpiresLookalikeOnly(t *testing.T) {
	ok := store.Exemption{Module: shopsprint.Path, Rule: RuleLookalike, Reason: "reviewed", GrantedBy: "alice", ExpiresAt: NeverExpires}
	if err := CheckExemption(&ok); err != nil {
		t.Errorf("CheckExemption(lookalike, never) = %v, want nil", err)
	}
	for _, rule := range []string{"", RuleClone, RuleVulnerability} {
		bad := ok
		bad.Rule = rule
		if err := CheckExemption(&bad); err == nil || !strings.Contains(err.Error(), "never is for the lookalike rule only") {
			t.Errorf("CheckExemption(%q, never) = %v, want the never error", rule, err)
		}
	}
}
