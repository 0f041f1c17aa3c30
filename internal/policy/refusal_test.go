package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner/vulndb"
)

// realVulns matches m against the real Go vulnerability database entries of
// testdata/vulndb (a subset of the snapshot, see its README), as the scanner does:
// golang.org/toolchain versions against stdlib and toolchain at their Go
// release.
func realVulns(t *testing.T, m module.Version) []store.Vuln {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "vulndb", "ID", "GO-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no entries in testdata/vulndb/ID: %v", err)
	}
	targets := []module.Version{m}
	if m.Path == vulndb.ToolchainModule {
		sv := vulndb.GoSemver(vulndb.ToolchainGo(m.Version))
		targets = []module.Version{{Path: vulndb.Stdlib, Version: sv}, {Path: vulndb.Toolchain, Version: sv}}
	}
	var out []store.Vuln
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var e vulndb.Entry
		if err := json.Unmarshal(data, &e); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tg := range targets {
			if e.Affects(tg.Path, tg.Version) {
				out = append(out, store.Vuln{ID: e.ID, Aliases: e.Aliases, Summary: e.Summary, ReviewStatus: e.ReviewStatus(),
					Fixed: e.FixedIn(tg.Path, tg.Version)})
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// goShows is what the go command prints of an error body (the rule of
// cmd/go/internal/web formatErrorDetail, written out independently of Fits):
// the lines up to the first blank one, joined with "\n\t", cut with
// "[Truncated: ...]" after 8 lines or 648 bytes.
func goShows(body string) string {
	var b strings.Builder
	for i, line := range strings.Split(body, "\n") {
		if strings.TrimSpace(line) == "" {
			break
		}
		if i > 0 {
			b.WriteString("\n\t")
		}
		if i >= 8 {
			b.WriteString("[Truncated: too many lines.]")
			break
		}
		if b.Len()+len(line) > 8*81 {
			b.WriteString("[Truncated: too long.]")
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

func TestRefusalRealAdvisories(t *testing.T) {
	p := mustParse(t, "vulnerabilities: block\n")
	const page = "https://modgate.example.com/ui/version/"
	tests := []struct {
		name    string
		mod     module.Version
		instead string
		n       int      // advisories
		want    []string // in what the go command shows
	}{
		{
			name: "x/text v0.3.2, 4 advisories", mod: mv("golang.org/x/text", "v0.3.2"), instead: "v0.39.0", n: 4,
			want: []string{
				"golang.org/x/text@v0.3.2: refused by modgate policy (vulnerabilities)",
				"4 advisories (GO-2020-0015, GO-2021-0113, GO-2022-1059, GO-2026-5970), highest fixed in v0.39.0",
				"Use golang.org/x/text@v0.39.0 instead",
				"modgate exempt add --module golang.org/x/text --versions v0.3.2 --rule vulnerabilities --reason ... --by ... --expires 30d",
				page + "golang.org/x/text/@v/v0.3.2",
				"--rule GO-... without --versions",
			},
		},
		{
			name: "toolchain go1.21.0, 90 advisories", mod: mv("golang.org/toolchain", "v0.0.1-go1.21.0.linux-amd64"), n: 90,
			want: []string{
				"golang.org/toolchain@v0.0.1-go1.21.0.linux-amd64: refused by modgate policy (vulnerabilities)",
				"90 advisories (GO-2023-2041, ",
				"more), highest fixed in go1.",
				"No version of golang.org/toolchain known to modgate is allowed",
				"modgate exempt add --module golang.org/toolchain --versions v0.0.1-go1.21.0.linux-amd64 --rule vulnerabilities --reason ... --by ... --expires 30d",
				page + "golang.org/toolchain/@v/v0.0.1-go1.21.0.linux-amd64",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vulns := realVulns(t, tt.mod)
			if len(vulns) != tt.n {
				t.Fatalf("%d advisories match %s in the test data, want %d", len(vulns), tt.mod, tt.n)
			}
			d := p.Decide(Input{Module: tt.mod, Vulns: vulns, Data: synced}, now)
			if !d.Blocked || len(d.Findings) != tt.n {
				t.Fatalf("decision: blocked %v, %d findings", d.Blocked, len(d.Findings))
			}
			esc, _ := module.EscapePath(tt.mod.Path)
			body := Refusal{Module: tt.mod, Decision: d, Instead: tt.instead, Page: page + esc + "/@v/" + tt.mod.Version}.Text()
			shown := goShows(body)
			t.Logf("%d bytes, %d lines shown:\n%s", len(shown), strings.Count(shown, "\n")+1, shown)
			if strings.Contains(shown, "[Truncated") {
				t.Errorf("the go command would truncate:\n%s", shown)
			}
			for _, w := range tt.want {
				if !strings.Contains(shown, w) {
					t.Errorf("the go command would not show %q", w)
				}
			}
			// The whole body still lists every finding after the blank line.
			for _, v := range vulns {
				if !strings.Contains(body, v.ID) {
					t.Errorf("body lacks %s", v.ID)
				}
			}
		})
	}
}

func TestFits(t *testing.T) {
	line := strings.Repeat("x", 79)
	eight := []string{line, line, line, line, line, line, line, line} // 8*79 + 7*2 = 646
	tests := []struct {
		name  string
		lines []string
		want  bool
	}{
		{"eight lines of 79", eight, true},
		{"one byte more", append(append([]string{}, eight[:7]...), line+"xx"), true}, // 648 exactly
		{"three bytes more", append(append([]string{}, eight[:7]...), line+"xxx"), false},
		{"nine lines", append(append([]string{}, eight...), "x"), false},
		{"blank line", []string{"a", " ", "b"}, false},
		{"one long line", []string{strings.Repeat("x", 649)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fits(tt.lines); got != tt.want {
				t.Errorf("Fits = %v, want %v", got, tt.want)
			}
			if tt.name == "blank line" {
				return // the go command stops there: the rest is not shown
			}
			shown := goShows(strings.Join(tt.lines, "\n") + "\n")
			if trunc := strings.Contains(shown, "[Truncated"); trunc == tt.want {
				t.Errorf("Fits = %v, but the go command's rule truncates: %v", tt.want, trunc)
			}
		})
	}
}

func TestRefusalSummary(t *testing.T) {
	m := mv("example.com/m", "v1.2.3")
	p := mustParse(t, "vulnerabilities: block\nretracted: block\nmodules: {deny: [example.com/m@v1.2.3]}\n")
	retracted := &store.Facts{Vulns: []store.Vuln{reviewed}, Retracted: true, Rationale: "broken", LicensesKnown: true, Licenses: []string{"MIT"}}
	tests := []struct {
		name string
		r    Refusal
		want []string
	}{
		{
			name: "one advisory: its own exemption",
			r: Refusal{Module: m, Instead: "v1.2.4", Page: "http://h/ui/version/example.com/m/@v/v1.2.3",
				Decision: mustParse(t, "vulnerabilities: block\n").Decide(Input{Module: m, Vulns: []store.Vuln{reviewed}, Data: synced}, now)},
			want: []string{
				"example.com/m@v1.2.3: refused by modgate policy (vulnerabilities)",
				"- vulnerabilities: " + reviewedReason,
				"Use example.com/m@v1.2.4 instead: allowed by the current policy.",
				"To waive, ask your security team to run:",
				"  modgate exempt add --module example.com/m --versions v1.2.3 --rule GO-2022-0493 --reason ... --by ... --expires 30d",
				"All findings: http://h/ui/version/example.com/m/@v/v1.2.3",
				"To waive one advisory in every version: --rule GO-... without --versions.",
			},
		},
		{
			name: "several rules: an exemption of every rule",
			r:    Refusal{Module: m, Decision: p.Decide(Input{Module: m, Facts: retracted, Data: synced}, now)},
			want: []string{
				"example.com/m@v1.2.3: refused by modgate policy (modules.deny, vulnerabilities, retracted)",
				`- modules.deny: matches modules.deny entry "example.com/m@v1.2.3"`,
				"- vulnerabilities: " + reviewedReason,
				"- retracted: retracted by the module's authors: broken",
				"No version of example.com/m known to modgate is allowed by the current policy.",
				"To waive, ask your security team to run:",
				"  modgate exempt add --module example.com/m --versions v1.2.3 --reason ... --by ... --expires 30d",
			},
		},
		{
			name: "missing data only: no exemption, no other version",
			r: Refusal{Module: m, Instead: "v1.2.4", Status: "http://h/vulndb-status",
				Decision: mustParse(t, "vulnerabilities: block\n").Decide(Input{Module: m,
					Data: Data{VulnAttempted: now.Add(-time.Minute), VulnError: "vulndb sync from https://vuln.go.dev: dial tcp: connection refused"}}, now)},
			want: []string{
				"example.com/m@v1.2.3: refused by modgate policy (vulnerabilities.unknown)",
				"- vulnerabilities.unknown: vulnerability data: never synced (last attempt 11:59 UTC: vulndb sync from https://vuln.go.dev: dial tcp: connection refused)",
				"modgate serves it once it has the data: operators, see http://h/vulndb-status",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.Summary()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Summary (-want +got):\n%s", diff)
			}
			if !Fits(got) {
				t.Errorf("summary does not fit")
			}
		})
	}
}

func TestDecideMissingData(t *testing.T) {
	m := mv("golang.org/x/text", "v0.3.2")
	never := Data{VulnAttempted: now.Add(-9 * time.Minute), VulnError: "vulndb sync from http://127.0.0.1:1: connection refused"}
	old := Data{VulnSynced: now.Add(-9 * 24 * time.Hour), VulnAttempted: now.Add(-time.Hour), VulnError: "timeout", VulnMaxAge: 7 * 24 * time.Hour}
	const neverReason = "vulnerability data: never synced (last attempt 11:51 UTC: vulndb sync from http://127.0.0.1:1: connection refused)"
	const oldReason = "vulnerability data is 9 days old (max 7d; last synced 2026-03-01 12:00 UTC; last attempt 11:00 UTC: timeout)"
	scanned := &store.Facts{LicensesKnown: true, Licenses: []string{"BSD-3-Clause"}}
	tests := []struct {
		name   string
		policy string
		in     Input
		want   Decision
	}{
		{
			name: "no policy file: never synced warns, and says so",
			in:   Input{Module: m, Data: never},
			want: Decision{Findings: []Finding{{Rule: RuleVulnUnknown, Action: Warn, Reason: neverReason}},
				Unchecked: []Unchecked{{Rule: RuleVulnUnknown, Reason: neverReason}}},
		},
		{
			name:   "vulnerabilities block: never synced blocks",
			policy: "vulnerabilities: block\n",
			in:     Input{Module: m, Data: never},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{{Rule: RuleVulnUnknown, Action: Block, Reason: neverReason}},
				Unchecked: []Unchecked{{Rule: RuleVulnUnknown, Reason: neverReason}}},
		},
		{
			name:   "stale data blocks too",
			policy: "vulnerabilities: {action: block}\n",
			in:     Input{Module: m, Data: old},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{{Rule: RuleVulnUnknown, Action: Block, Reason: oldReason}},
				Unchecked: []Unchecked{{Rule: RuleVulnUnknown, Reason: oldReason}}},
		},
		{
			name:   "unknown: warn serves",
			policy: "vulnerabilities: {action: block, unknown: warn}\n",
			in:     Input{Module: m, Data: never},
			want: Decision{Findings: []Finding{{Rule: RuleVulnUnknown, Action: Warn, Reason: neverReason}},
				Unchecked: []Unchecked{{Rule: RuleVulnUnknown, Reason: neverReason}}},
		},
		{
			name:   "vulnerabilities off: nothing decided, still unchecked",
			policy: "vulnerabilities: off\n",
			in:     Input{Module: m, Data: never},
			want:   Decision{Unchecked: []Unchecked{{Rule: RuleVulnUnknown, Reason: neverReason}}},
		},
		{
			name:   "fresh data: nothing missing",
			policy: "vulnerabilities: block\n",
			in:     Input{Module: m, Data: synced},
			want:   Decision{},
		},
		{
			name:   "a zip served without a license scan blocks when a license rule blocks",
			policy: "licenses: {deny: [AGPL-3.0-only]}\n",
			in:     Input{Module: m, Data: synced, Zip: true, Capabilities: noCaps, ZipSize: 100, Facts: &store.Facts{}},
			want: Decision{Blocked: true, WouldBlock: true,
				Findings:  []Finding{{Rule: RuleLicenseUnscanned, Action: Block, Reason: "licenses not known: the zip's license files were never scanned (see the server's log)"}},
				Unchecked: []Unchecked{{Rule: RuleLicenseUnscanned, Reason: "licenses not known: the zip's license files were never scanned (see the server's log)"}}},
		},
		{
			name:   "before the download, licenses and size are not asked for",
			policy: "licenses: {deny: [AGPL-3.0-only]}\nmax_zip_size: 1MB\n",
			in:     Input{Module: m, Data: synced},
			want:   Decision{},
		},
		{
			name:   "a zip of unknown size, with max_zip_size set",
			policy: "max_zip_size: {size: 1MB, unknown: warn}\n",
			in:     Input{Module: m, Data: synced, Zip: true, Capabilities: noCaps, Facts: scanned},
			want: Decision{Findings: []Finding{{Rule: RuleMaxZipUnknown, Action: Warn, Reason: "zip size not known"}},
				Unchecked: []Unchecked{{Rule: RuleMaxZipUnknown, Reason: "zip size not known"}}},
		},
		{
			name:   "an exemption of the rule covers missing data",
			policy: "vulnerabilities: block\n",
			in: Input{Module: m, Data: never, Exemptions: []store.Exemption{{ID: 4, Module: m.Path, Rule: RuleVulnerability,
				ExpiresAt: now.Add(time.Hour)}}},
			want: Decision{Findings: []Finding{{Rule: RuleVulnUnknown, Action: Block, Reason: neverReason, Exemption: 4}},
				Unchecked: []Unchecked{{Rule: RuleVulnUnknown, Reason: neverReason}}},
		},
		{
			name:   "an advisory's exemption does not",
			policy: "vulnerabilities: block\n",
			in: Input{Module: m, Data: never, Exemptions: []store.Exemption{{ID: 5, Module: m.Path, Rule: "GO-2021-0113",
				ExpiresAt: now.Add(time.Hour)}}},
			want: Decision{Blocked: true, WouldBlock: true, Findings: []Finding{{Rule: RuleVulnUnknown, Action: Block, Reason: neverReason}},
				Unchecked: []Unchecked{{Rule: RuleVulnUnknown, Reason: neverReason}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Default()
			if tt.policy != "" {
				p = mustParse(t, tt.policy)
			}
			if diff := cmp.Diff(tt.want, p.Decide(tt.in, now)); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
		})
	}
}

// TestREADMEPolicy decides with the policy of README.md's Policy section:
// it must block a version with a fixed advisory, and must not block every
// golang.org/x/crypto version for GO-2026-5932 (openpgp, no fixed version).
func TestREADMEPolicy(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n## Policy\n")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	yml, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md: no ```yaml block in the Policy section")
	}
	p, err := Parse("README.md", []byte(yml))
	if err != nil {
		t.Fatalf("README's policy: %v", err)
	}
	crypto := mv("golang.org/x/crypto", "v0.52.0") // fixes every advisory that has a fix
	vulns := realVulns(t, crypto)
	if len(vulns) != 1 || vulns[0].ID != "GO-2026-5932" {
		t.Fatalf("test data: %s matches %v, want GO-2026-5932", crypto, vulns)
	}
	// Day one: modgate saw everything for the first time just now.
	published := now
	facts := &store.Facts{Vulns: vulns, LicensesKnown: true, Licenses: []string{"BSD-3-Clause"}, Published: published}
	if d := p.Decide(Input{Module: crypto, Facts: facts, Data: synced, Zip: true, Capabilities: noCaps, ZipSize: 1 << 20}, now); d.Blocked {
		t.Errorf("README policy blocks %s: %+v", crypto, d.Findings)
	}
	text := mv("golang.org/x/text", "v0.3.2")
	facts = &store.Facts{Vulns: realVulns(t, text), LicensesKnown: true, Licenses: []string{"BSD-3-Clause"}, Published: published}
	if d := p.Decide(Input{Module: text, Facts: facts, Data: synced, Zip: true, Capabilities: noCaps, ZipSize: 1 << 20}, now); !d.Blocked {
		t.Errorf("README policy does not block %s: %+v", text, d.Findings)
	}
	d := p.Decide(Input{Module: text, Facts: &store.Facts{LicensesKnown: true, Licenses: []string{"BSD-3-Clause"}, Published: published}, Zip: true, Capabilities: noCaps, ZipSize: 1 << 20}, now)
	if !d.Blocked || len(d.Findings) != 1 || d.Findings[0].Rule != RuleVulnUnknown {
		t.Errorf("README policy without vulnerability data: %+v", d.Findings)
	}
}

// TestSuggestedExemptionUnblocks: the exemption a refusal suggests covers
// every finding that blocks the version, so granting it serves the version
// (not the next advisory's refusal).
func TestSuggestedExemptionUnblocks(t *testing.T) {
	text := mv("golang.org/x/text", "v0.3.2")
	p := mustParse(t, "vulnerabilities: block\nretracted: block\n")
	tests := []struct {
		name string
		in   Input
	}{
		{"4 advisories", Input{Module: text, Vulns: realVulns(t, text), Data: synced}},
		{"one advisory", Input{Module: text, Vulns: realVulns(t, text)[:1], Data: synced}},
		{"advisories and a retraction", Input{Module: text, Facts: &store.Facts{Vulns: realVulns(t, text), Retracted: true}, Data: synced}},
		{"advisories and missing data", Input{Module: text, Facts: &store.Facts{Vulns: realVulns(t, text)},
			Data: Data{VulnSynced: now.Add(-30 * 24 * time.Hour), VulnMaxAge: 7 * 24 * time.Hour}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.in, now)
			if !d.Blocked {
				t.Fatalf("not blocked: %+v", d.Findings)
			}
			var cmd string
			for _, l := range (Refusal{Module: tt.in.Module, Decision: d}).Summary() {
				if strings.Contains(l, "modgate exempt add") {
					cmd = l
				}
			}
			if cmd == "" {
				t.Fatalf("no exemption suggested")
			}
			ex := store.Exemption{ID: 1, ExpiresAt: now.Add(30 * 24 * time.Hour)}
			f := strings.Fields(cmd)
			for i := 0; i+1 < len(f); i++ {
				switch f[i] {
				case "--module":
					ex.Module = f[i+1]
				case "--versions":
					ex.Versions = f[i+1]
				case "--rule":
					ex.Rule = f[i+1]
				}
			}
			tt.in.Exemptions = []store.Exemption{ex}
			if d := p.Decide(tt.in, now); d.Blocked {
				t.Errorf("still blocked with the suggested exemption (%s): %+v", cmd, d.Findings)
			}
		})
	}
}

// noCaps are the capability facts of a zip that uses none, for tests of other
// rules on zips about to be served.
var noCaps = &store.CapabilityFacts{ComputedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
