package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// synced is vulnerability data synced an hour ago, usable for a week: what
// every decision test has unless it is about missing data.
var synced = Data{VulnSynced: now.Add(-time.Hour), VulnAttempted: now.Add(-time.Hour), VulnMaxAge: 7 * 24 * time.Hour}

func mustParse(t *testing.T, file string) *Policy {
	t.Helper()
	p, err := Parse("policy.yaml", []byte(file))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func mv(path, version string) module.Version { return module.Version{Path: path, Version: version} }

var (
	reviewed = store.Vuln{ID: "GO-2022-0493", Aliases: []string{"CVE-2022-29526", "GHSA-p782-xgp4-8hr8"},
		Summary: "Incorrect privilege reporting in syscall and golang.org/x/sys/unix", ReviewStatus: "REVIEWED", Fixed: "v0.0.0-20220412211240-33da011f77ad"}
	noFix = store.Vuln{ID: "GO-2024-0001", Summary: "Remote code execution\nin parser", ReviewStatus: "REVIEWED"}
	unrev = store.Vuln{ID: "GO-2024-0002", Aliases: []string{"CVE-2024-1"}, Summary: "Denial of service", ReviewStatus: "UNREVIEWED", Fixed: "v1.2.4"}
	gone  = store.Vuln{ID: "GO-2020-0001", Summary: "withdrawn", ReviewStatus: "REVIEWED", Withdrawn: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}
)

const (
	reviewedReason = "GO-2022-0493 (CVE-2022-29526, GHSA-p782-xgp4-8hr8): Incorrect privilege reporting in syscall and golang.org/x/sys/unix; fixed in v0.0.0-20220412211240-33da011f77ad"
	noFixReason    = "GO-2024-0001: Remote code execution in parser; no fixed version"
	unrevReason    = "GO-2024-0002 (CVE-2024-1) [unreviewed]: Denial of service; fixed in v1.2.4"
)

func vulnFinding(a Action, v store.Vuln, reason string) Finding {
	return Finding{Rule: RuleVulnerability, Action: a, Advisory: v.ID, Fixed: v.Fixed, Reason: reason}
}

func TestDecide(t *testing.T) {
	const blockVulns = "vulnerabilities: {action: block, unreviewed: warn}\n"
	published := now.Add(-10 * time.Hour)
	tests := []struct {
		name   string
		policy string // "" for Default
		in     Input
		want   Decision
	}{
		{
			name: "default warns about a vulnerability",
			in:   Input{Module: mv("golang.org/x/sys", "v0.0.1"), Facts: &store.Facts{Vulns: []store.Vuln{reviewed}}},
			want: Decision{Findings: []Finding{vulnFinding(Warn, reviewed, reviewedReason)}},
		},
		{
			name: "default: nothing known, nothing found",
			in:   Input{Module: mv("example.com/m", "v1.0.0")},
			want: Decision{},
		},
		{
			name:   "vulnerability blocks, unreviewed warns, withdrawn ignored",
			policy: blockVulns,
			in:     Input{Module: mv("example.com/m", "v1.2.3"), Facts: &store.Facts{Vulns: []store.Vuln{gone, reviewed, unrev}}},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{
				vulnFinding(Block, reviewed, reviewedReason), vulnFinding(Warn, unrev, unrevReason)}},
		},
		{
			name:   "unreviewed blocks when it follows action",
			policy: "vulnerabilities: block\n",
			in:     Input{Module: mv("example.com/m", "v1.2.3"), Facts: &store.Facts{Vulns: []store.Vuln{unrev}}},
			want:   Decision{Blocked: true, WouldBlock: true, Findings: []Finding{vulnFinding(Block, unrev, unrevReason)}},
		},
		{
			name:   "vulnerabilities off",
			policy: "vulnerabilities: off\n",
			in:     Input{Module: mv("example.com/m", "v1.2.3"), Facts: &store.Facts{Vulns: []store.Vuln{reviewed, unrev}}},
			want:   Decision{},
		},
		{
			name:   "never ingested: in.Vulns",
			policy: blockVulns,
			in:     Input{Module: mv("example.com/m", "v1.2.3"), Vulns: []store.Vuln{noFix, gone}},
			want:   Decision{Blocked: true, WouldBlock: true, Findings: []Finding{vulnFinding(Block, noFix, noFixReason)}},
		},
		{
			name:   "facts win over in.Vulns",
			policy: blockVulns,
			in:     Input{Module: mv("example.com/m", "v1.2.3"), Facts: &store.Facts{}, Vulns: []store.Vuln{noFix}},
			want:   Decision{},
		},
		{
			name:   "only_fixed: no fix is a warn, a fix blocks",
			policy: "vulnerabilities: {action: block, only_fixed: true}\n",
			in:     Input{Module: mv("example.com/m", "v1.2.3"), Facts: &store.Facts{Vulns: []store.Vuln{noFix, reviewed}}},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{
				vulnFinding(Block, reviewed, reviewedReason),
				vulnFinding(Warn, noFix, noFixReason+" (only_fixed: warn only)"),
			}},
		},
		{
			name:   "ignore by ID and by alias",
			policy: "vulnerabilities: {action: block, ignore: [cve-2022-29526, GO-2024-0001]}\n",
			in:     Input{Module: mv("example.com/m", "v1.2.3"), Facts: &store.Facts{Vulns: []store.Vuln{noFix, reviewed, unrev}}},
			want:   Decision{Blocked: true, WouldBlock: true, Findings: []Finding{vulnFinding(Block, unrev, unrevReason)}},
		},
		{
			name:   "deny pattern covers deeper paths",
			policy: `modules: {deny: ["github.com/evil/*"]}` + "\n",
			in:     Input{Module: mv("github.com/evil/x/v2", "v2.0.0")},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{
				{Rule: RuleDeny, Action: Block, Reason: `matches modules.deny entry "github.com/evil/*"`}}},
		},
		{
			name:   "deny pattern needs whole elements",
			policy: `modules: {deny: ["github.com/evil/*", "example.com/old"]}` + "\n",
			in:     Input{Module: mv("example.com/older", "v1.0.0")},
			want:   Decision{},
		},
		{
			name:   "deny with a version constraint: below",
			policy: `modules: {deny: ["example.com/old@<v1.4.0"]}` + "\n",
			in:     Input{Module: mv("example.com/old", "v1.3.9")},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{
				{Rule: RuleDeny, Action: Block, Reason: `matches modules.deny entry "example.com/old@<v1.4.0"`}}},
		},
		{
			name:   "deny with a version constraint: at the bound",
			policy: `modules: {deny: ["example.com/old@<v1.4.0"]}` + "\n",
			in:     Input{Module: mv("example.com/old", "v1.4.0")},
			want:   Decision{},
		},
		{
			name:   "deny with a range",
			policy: `modules: {deny: ["example.com/r@>=v1.2.0,<v1.3.0", "example.com/x@v1.0.0"]}` + "\n",
			in:     Input{Module: mv("example.com/r", "v1.2.5-rc.1")},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{
				{Rule: RuleDeny, Action: Block, Reason: `matches modules.deny entry "example.com/r@>=v1.2.0,<v1.3.0"`}}},
		},
		{
			name:   "deny warns with modules.action warn",
			policy: `modules: {deny: ["example.com/x@v1.0.0"], action: warn}` + "\n",
			in:     Input{Module: mv("example.com/x", "v1.0.0")},
			want:   Decision{Findings: []Finding{{Rule: RuleDeny, Action: Warn, Reason: `matches modules.deny entry "example.com/x@v1.0.0"`}}},
		},
		{
			name:   "allow list: allowed",
			policy: `modules: {allow: ["golang.org/x/*", "example.com/ok@>=v1.2.0"]}` + "\n",
			in:     Input{Module: mv("golang.org/x/text", "v0.14.0")},
			want:   Decision{},
		},
		{
			name:   "allow list: version outside the allowed range",
			policy: `modules: {allow: ["golang.org/x/*", "example.com/ok@>=v1.2.0"]}` + "\n",
			in:     Input{Module: mv("example.com/ok", "v1.1.0")},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{
				{Rule: RuleAllow, Action: Block, Reason: "not on the modules.allow list (golang.org/x/*, example.com/ok@>=v1.2.0)"}}},
		},
		{
			name:   "allow list: long list shortened",
			policy: `modules: {allow: ["a.example.com", "b.example.com", "c.example.com", "d.example.com", "e.example.com"]}` + "\n",
			in:     Input{Module: mv("example.com/ok", "v1.1.0")},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{
				{Rule: RuleAllow, Action: Block, Reason: "not on the modules.allow list (a.example.com, b.example.com, c.example.com, and 2 more)"}}},
		},
		{
			name:   "retracted and deprecated",
			policy: "retracted: block\ndeprecated: warn\n",
			in: Input{Module: mv("example.com/m", "v1.0.1"), Facts: &store.Facts{Retracted: true, Rationale: "published\taccidentally\n",
				Deprecated: true, Deprecation: "use example.com/m/v2"}},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{
				{Rule: RuleRetracted, Action: Block, Reason: "retracted by the module's authors: published accidentally"},
				{Rule: RuleDeprecated, Action: Warn, Reason: "the module is deprecated: use example.com/m/v2"},
			}},
		},
		{
			name: "withdrawn upstream and a moved tag warn by default",
			in: Input{Module: mv("example.com/m", "v1.2.3"), Facts: &store.Facts{Upstream: &store.UpstreamState{
				Source: "https://proxy.example", WithdrawnAt: now.Add(-time.Hour), WithdrawnStatus: 410,
				Origin: store.Origin{Hash: "1111111111111111111111111111111111111111"},
				Moved:  store.Origin{Hash: "2222222222222222222222222222222222222222", Ref: "refs/tags/v1.2.3"}}}},
			want: Decision{Findings: []Finding{
				{Rule: RuleWithdrawn, Action: Warn, Reason: "withdrawn upstream: https://proxy.example answers 410 Gone since 2026-03-10, after serving it (a takedown)"},
				{Rule: RuleOriginChanged, Action: Warn, Reason: "origin changed: v1.2.3 (refs/tags/v1.2.3) now points to 2222222222222222222222222222222222222222; modgate first saw 1111111111111111111111111111111111111111"},
			}},
		},
		{
			name:   "withdrawn: block",
			policy: "withdrawn: block\norigin_changed: off\n",
			in: Input{Module: mv("example.com/m", "v1.2.3"), Facts: &store.Facts{Upstream: &store.UpstreamState{
				Source: "https://proxy.example\nFAKE LINE", WithdrawnAt: now, WithdrawnStatus: 404,
				Moved: store.Origin{Hash: "22"}}}},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{
				{Rule: RuleWithdrawn, Action: Block, Reason: "withdrawn upstream: https://proxy.example FAKE LINE answers 404 Not Found since 2026-03-10, after serving it (a takedown)"},
			}},
		},
		{
			name:   "withdrawn: block, but the upstream serves it (returned, or a transient failure)",
			policy: "withdrawn: block\n",
			in: Input{Module: mv("example.com/m", "v1.2.3"), Facts: &store.Facts{Upstream: &store.UpstreamState{
				Source: "https://proxy.example", ReturnedAt: now, Failures: 7, LastStatus: 503}}},
			want: Decision{},
		},
		{
			name:   "retracted off",
			policy: "retracted: off\ndeprecated: off\n",
			in:     Input{Module: mv("example.com/m", "v1.0.1"), Facts: &store.Facts{Retracted: true, Deprecated: true}},
			want:   Decision{},
		},
		{
			name:   "min_age: too young",
			policy: "min_age: 72h\n",
			in: Input{Module: mv("example.com/m", "v1.0.0"), Facts: &store.Facts{Published: published,
				PublishedSource: store.PublishedUpstream}},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{{Rule: RuleMinAge, Action: Block,
				Until:  published.Add(72 * time.Hour),
				Reason: "published 10h ago (2026-03-10T02:00:00Z, upstream-last-modified), younger than min_age 72h: allowed from 2026-03-13T02:00:00Z"}}},
		},
		{
			name:   "min_age: old enough",
			policy: "min_age: 3d\n",
			in:     Input{Module: mv("example.com/m", "v1.0.0"), Facts: &store.Facts{Published: now.Add(-72 * time.Hour), PublishedSource: store.PublishedIndex}},
			want:   Decision{},
		},
		{
			name:   "min_age: on the exception list",
			policy: "min_age: {age: 72h, except: [golang.org/toolchain, \"corp.example.com/*\"]}\n",
			in:     Input{Module: mv("corp.example.com/team/lib", "v1.0.0"), Facts: &store.Facts{Published: published, PublishedSource: store.PublishedIndex}},
			want:   Decision{},
		},
		{
			name:   "min_age: not on the exception list, warn",
			policy: "min_age: {age: 72h, action: warn, except: [golang.org/toolchain]}\n",
			in:     Input{Module: mv("golang.org/toolchainx", "v1.0.0"), Facts: &store.Facts{Published: published.Add(-30 * time.Minute), PublishedSource: store.PublishedIndex}},
			want: Decision{Findings: []Finding{{Rule: RuleMinAge, Action: Warn, Until: published.Add(71*time.Hour + 30*time.Minute),
				Reason: "published 10h30m ago (2026-03-10T01:30:00Z, module-index), younger than min_age 72h: allowed from 2026-03-13T01:30:00Z"}}},
		},
		{
			name:   "min_age: publish time unknown",
			policy: "min_age: 72h\n",
			in:     Input{Module: mv("example.com/m", "v1.0.0"), Facts: &store.Facts{}},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{{Rule: RuleMinAgeUnknown, Action: Block,
				Reason: "publication time unknown: the module index was never read (no attempt yet); retry in a few minutes"}},
				Unchecked: []Unchecked{{Rule: RuleMinAgeUnknown, Reason: "publication time unknown: the module index was never read (no attempt yet); retry in a few minutes"}}},
		},
		{
			name:   "min_age: never ingested",
			policy: "min_age: 72h\n",
			in:     Input{Module: mv("example.com/m", "v1.0.0")},
			want:   Decision{},
		},
		{
			name:   "license denied",
			policy: "licenses: {deny: [AGPL-3.0-only, SSPL-1.0]}\n",
			in:     Input{Module: mv("example.com/m", "v1.0.0"), Facts: &store.Facts{LicensesKnown: true, Licenses: []string{"MIT", "agpl-3.0-only"}}},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{{Rule: RuleLicense, Action: Block,
				Reason: "license agpl-3.0-only is on licenses.deny (found: MIT, agpl-3.0-only)"}}},
		},
		{
			name:   "license allowed",
			policy: "licenses: {deny: [AGPL-3.0-only], unknown: block}\n",
			in:     Input{Module: mv("example.com/m", "v1.0.0"), Facts: &store.Facts{LicensesKnown: true, Licenses: []string{"BSD-3-Clause", "NOASSERTION"}}},
			want:   Decision{},
		},
		{
			name:   "license unknown: none found",
			policy: "licenses: {unknown: block}\n",
			in:     Input{Module: mv("example.com/m", "v1.0.0"), Facts: &store.Facts{LicensesKnown: true}},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{{Rule: RuleLicenseUnknwn, Action: Block,
				Reason: "no license file found in the module zip"}}},
		},
		{
			name: "license unknown: not recognised (default warns)",
			in:   Input{Module: mv("example.com/m", "v1.0.0"), Facts: &store.Facts{LicensesKnown: true, Licenses: []string{"NOASSERTION"}}},
			want: Decision{Findings: []Finding{{Rule: RuleLicenseUnknwn, Action: Warn,
				Reason: "license not recognised (no SPDX license identified in the license files)"}}},
		},
		{
			name:   "license not scanned yet",
			policy: "licenses: {deny: [MIT], unknown: block}\n",
			in:     Input{Module: mv("example.com/m", "v1.0.0"), Facts: &store.Facts{}},
			want:   Decision{},
		},
		{
			name:   "max_zip_size exceeded",
			policy: "max_zip_size: 200MB\n",
			in:     Input{Module: mv("example.com/m", "v1.0.0"), ZipSize: 262144000},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{{Rule: RuleMaxZipSize, Action: Block,
				Reason: "the zip is 262.1 MB (262144000 bytes), over max_zip_size 200.0 MB"}}},
		},
		{
			name:   "max_zip_size: at the limit, and unknown",
			policy: "max_zip_size: 200MB\n",
			in:     Input{Module: mv("example.com/m", "v1.0.0"), ZipSize: 200e6},
			want:   Decision{},
		},
		{
			name:   "combined: blocking first, in rule order",
			policy: example,
			in: Input{Module: mv("example.com/old", "v1.3.0"), ZipSize: 3e8, Facts: &store.Facts{
				Vulns: []store.Vuln{unrev, reviewed, noFix}, Deprecated: true, Retracted: true, Published: published, PublishedSource: store.PublishedIndex,
				LicensesKnown: true}},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{
				{Rule: RuleDeny, Action: Block, Reason: `matches modules.deny entry "example.com/old@<v1.4.0"`},
				vulnFinding(Block, noFix, noFixReason),
				{Rule: RuleRetracted, Action: Block, Reason: "retracted by the module's authors"},
				{Rule: RuleMinAge, Action: Block, Until: published.Add(72 * time.Hour),
					Reason: "published 10h ago (2026-03-10T02:00:00Z, module-index), younger than min_age 72h: allowed from 2026-03-13T02:00:00Z"},
				{Rule: RuleMaxZipSize, Action: Block, Reason: "the zip is 300.0 MB (300000000 bytes), over max_zip_size 200.0 MB"},
				vulnFinding(Warn, unrev, unrevReason),
				{Rule: RuleDeprecated, Action: Warn, Reason: "the module is deprecated"},
				{Rule: RuleLicenseUnknwn, Action: Warn, Reason: "no license file found in the module zip"},
			}},
		},
		{
			name:   "audit mode decides but does not block",
			policy: "mode: audit\n" + blockVulns,
			in:     Input{Module: mv("example.com/m", "v1.2.3"), Facts: &store.Facts{Vulns: []store.Vuln{reviewed}}},
			want:   Decision{Blocked: false, WouldBlock: true, Findings: []Finding{vulnFinding(Block, reviewed, reviewedReason)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Default()
			if tt.policy != "" {
				p = mustParse(t, tt.policy)
			}
			if cmp.Equal(tt.in.Data, Data{}) {
				tt.in.Data = synced
			}
			got := p.Decide(tt.in, now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideNilPolicy(t *testing.T) {
	var p *Policy
	got := p.Decide(Input{Module: mv("example.com/m", "v1.0.0"), Vulns: []store.Vuln{noFix}, Data: synced}, now)
	want := Decision{Findings: []Finding{vulnFinding(Warn, noFix, noFixReason)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("nil policy: Decide (-want +got):\n%s", diff)
	}
}

func TestDecideExemptions(t *testing.T) {
	p := mustParse(t, strings.Replace(example, "ignore: [GO-2022-0493]", "ignore: []", 1))
	later := now.Add(24 * time.Hour)
	facts := &store.Facts{Vulns: []store.Vuln{reviewed, noFix}, LicensesKnown: true, Licenses: []string{"SSPL-1.0"},
		Published: now.Add(-1000 * time.Hour), PublishedSource: store.PublishedIndex}
	ex := func(id int64, mod, vers, rule string, expires time.Time) store.Exemption {
		return store.Exemption{ID: id, Module: mod, Versions: vers, Rule: rule, Reason: "r", GrantedBy: "alice", ExpiresAt: expires}
	}
	type outcome struct {
		Blocked    bool
		Exemptions map[string]int64 // finding (rule or advisory) -> exemption
	}
	tests := []struct {
		name string
		mod  module.Version
		exs  []store.Exemption
		want outcome
	}{
		{"none", mv("example.com/m", "v1.2.3"), nil,
			outcome{Blocked: true}},
		{"every rule, exact module", mv("example.com/m", "v1.2.3"), []store.Exemption{ex(1, "example.com/m", "", "", later)},
			outcome{Exemptions: map[string]int64{"GO-2022-0493": 1, "GO-2024-0001": 1, "licenses.deny": 1}}},
		{"exact module does not cover another major", mv("example.com/m/v2", "v2.0.0"), []store.Exemption{ex(1, "example.com/m", "", "", later)},
			outcome{Blocked: true}},
		{"module pattern", mv("example.com/team/m", "v1.2.3"), []store.Exemption{ex(2, "example.com/*", "", "", later)},
			outcome{Exemptions: map[string]int64{"GO-2022-0493": 2, "GO-2024-0001": 2, "licenses.deny": 2}}},
		{"version range matches", mv("example.com/m", "v1.2.3"), []store.Exemption{ex(3, "example.com/m", ">=v1.2.0,<v1.3.0", "", later)},
			outcome{Exemptions: map[string]int64{"GO-2022-0493": 3, "GO-2024-0001": 3, "licenses.deny": 3}}},
		{"version range misses", mv("example.com/m", "v1.3.0"), []store.Exemption{ex(3, "example.com/m", ">=v1.2.0,<v1.3.0", "", later)},
			outcome{Blocked: true}},
		{"exact version misses", mv("example.com/m", "v1.2.4"), []store.Exemption{ex(3, "example.com/m", "v1.2.3", "", later)},
			outcome{Blocked: true}},
		{"rule by name", mv("example.com/m", "v1.2.3"), []store.Exemption{ex(4, "example.com/m", "", "vulnerabilities", later)},
			outcome{Blocked: true, Exemptions: map[string]int64{"GO-2022-0493": 4, "GO-2024-0001": 4}}},
		{"rule group", mv("example.com/m", "v1.2.3"), []store.Exemption{ex(5, "example.com/m", "", "licenses", later)},
			outcome{Blocked: true, Exemptions: map[string]int64{"licenses.deny": 5}}},
		{"advisory by alias", mv("example.com/m", "v1.2.3"), []store.Exemption{ex(6, "example.com/m", "", "GHSA-p782-xgp4-8hr8", later)},
			outcome{Blocked: true, Exemptions: map[string]int64{"GO-2022-0493": 6}}},
		{"advisory by ID, every finding exempted", mv("example.com/m", "v1.2.3"), []store.Exemption{
			ex(7, "example.com/m", "", "GO-2024-0001", later), ex(8, "example.com/m", "", "GO-2022-0493", later), ex(9, "example.com/*", "", "licenses.deny", later)},
			outcome{Exemptions: map[string]int64{"GO-2022-0493": 8, "GO-2024-0001": 7, "licenses.deny": 9}}},
		{"expired exemptions do not apply", mv("example.com/m", "v1.2.3"), []store.Exemption{
			ex(10, "example.com/m", "", "", now), ex(11, "example.com/m", "", "", now.Add(-time.Hour))},
			outcome{Blocked: true}},
		{"first matching exemption wins", mv("example.com/m", "v1.2.3"), []store.Exemption{
			ex(12, "example.com/m", "", "", now), ex(13, "example.com/m", "", "licenses.deny", later), ex(14, "example.com/*", "", "", later)},
			outcome{Exemptions: map[string]int64{"GO-2022-0493": 14, "GO-2024-0001": 14, "licenses.deny": 13}}},
		{"an advisory ID does not cover other rules", mv("example.com/m", "v1.2.3"), []store.Exemption{ex(15, "example.com/m", "", "SSPL-1.0", later)},
			outcome{Blocked: true}},
		{"malformed stored range waives nothing", mv("example.com/m", "v1.2.3"), []store.Exemption{ex(16, "example.com/m", "<1.4", "", later)},
			outcome{Blocked: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(Input{Module: tt.mod, Facts: facts, Exemptions: tt.exs, Data: synced}, now)
			got := outcome{Blocked: d.Blocked}
			for i, f := range d.Findings {
				if f.Exemption == 0 {
					if i > 0 && d.Findings[i-1].Exemption != 0 {
						t.Errorf("finding %d (%s) not exempted after an exempted one: exempted findings go last", i, f.Rule)
					}
					continue
				}
				if got.Exemptions == nil {
					got.Exemptions = map[string]int64{}
				}
				key := f.Rule
				if f.Advisory != "" {
					key = f.Advisory
				}
				got.Exemptions[key] = f.Exemption
			}
			if d.WouldBlock != d.Blocked {
				t.Errorf("enforce mode: WouldBlock %v, Blocked %v", d.WouldBlock, d.Blocked)
			}
			if len(d.Findings) != 3 {
				t.Errorf("got %d findings, want 3 (exempted findings stay)", len(d.Findings))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckExemption(t *testing.T) {
	valid := store.Exemption{Module: "example.com/m", Reason: "r", GrantedBy: "alice", ExpiresAt: now}
	good := []func(e *store.Exemption){
		func(e *store.Exemption) {},
		func(e *store.Exemption) { e.Module = "corp.example.com/*" },
		func(e *store.Exemption) { e.Versions = "v1.2.3" },
		func(e *store.Exemption) { e.Versions = ">=v1.2.0,<v1.3.0" },
		func(e *store.Exemption) { e.Rule = "min_age" },
		func(e *store.Exemption) { e.Rule = "licenses" },
		func(e *store.Exemption) { e.Rule = "GHSA-p782-xgp4-8hr8" },
		func(e *store.Exemption) { e.Rule = "CVE-2022-29526" },
	}
	for i, change := range good {
		e := valid
		change(&e)
		if err := CheckExemption(&e); err != nil {
			t.Errorf("good case %d: CheckExemption(%+v): %v", i, e, err)
		}
	}
	bad := map[string]func(e *store.Exemption){
		"empty module":   func(e *store.Exemption) { e.Module = "" },
		"bad module":     func(e *store.Exemption) { e.Module = "Example Com" },
		"bad glob":       func(e *store.Exemption) { e.Module = "example.com/[" },
		"module@version": func(e *store.Exemption) { e.Module = "example.com/m@v1.0.0" },
		"bad versions":   func(e *store.Exemption) { e.Versions = "1.2" },
		"bad rule":       func(e *store.Exemption) { e.Rule = "vulns" },
		"no reason":      func(e *store.Exemption) { e.Reason = " " },
		"no grantor":     func(e *store.Exemption) { e.GrantedBy = "" },
		"no expiry":      func(e *store.Exemption) { e.ExpiresAt = time.Time{} },
	}
	for name, change := range bad {
		e := valid
		change(&e)
		if err := CheckExemption(&e); err == nil {
			t.Errorf("%s: CheckExemption(%+v) = nil, want an error", name, e)
		}
	}
}

func TestOneLine(t *testing.T) {
	long := ""
	for range 30 {
		long += "abcde "
	}
	tests := []struct{ in, want string }{
		{"a\nb\tc\x00d\x1b[31m", "a b c d [31m"},
		{"  spaced   out  ", "spaced out"},
		{long, long[:19] + "…"},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in, 20); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
