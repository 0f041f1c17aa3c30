package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// example is the policy file of the issue, verbatim.
const example = `mode: enforce            # enforce | audit
hide_blocked: true
vulnerabilities:
  action: block          # block | warn | off
  only_fixed: false      # true: block only when a fixed version exists (else the finding is a warn)
  unreviewed: warn       # action for advisories whose review_status is UNREVIEWED
  ignore: [GO-2022-0493] # advisory IDs or aliases (CVE-..., GHSA-...)
modules:
  deny:  ["github.com/evil/*", "example.com/old@<v1.4.0"]   # path patterns
  allow: []              # when not empty, only matching modules may be served
retracted: block
deprecated: warn
min_age: 72h             # cooldown
licenses:
  deny: [AGPL-3.0-only, AGPL-3.0-or-later, SSPL-1.0]
  unknown: warn
max_zip_size: 200MB
`

var cmpRules = cmp.AllowUnexported(rules{}, moduleRule{}, comparison{}, capRules{}, resemblanceRules{})

func mustRule(t *testing.T, s string) moduleRule {
	t.Helper()
	r, err := parseModuleRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParse(t *testing.T) {
	def := Default().rules
	tests := []struct {
		name     string
		file     string
		mode     string
		hide     bool
		rules    func(r *rules)
		unchange bool // rules are Default's
	}{
		{name: "example", file: example, mode: Enforce, hide: true, rules: func(r *rules) {
			r.vulnAction, r.unreviewed, r.ignore = Block, Warn, []string{"GO-2022-0493"}
			r.deny = []moduleRule{mustRule(t, "github.com/evil/*"), mustRule(t, "example.com/old@<v1.4.0")}
			r.retracted, r.deprecated = Block, Warn
			r.minAge = 72 * time.Hour
			r.licenseDeny = []string{"AGPL-3.0-only", "AGPL-3.0-or-later", "SSPL-1.0"}
			r.maxZipSize = 200e6
		}},
		{name: "empty file", file: "", mode: Enforce},
		{name: "only comments", file: "# nothing yet\n", mode: Enforce},
		{name: "audit", file: "mode: audit\n", mode: Audit},
		{name: "unreviewed follows action", file: "vulnerabilities:\n  action: block\n", mode: Enforce, rules: func(r *rules) {
			r.vulnAction, r.unreviewed = Block, Block
		}},
		{name: "vulnerabilities short form", file: "vulnerabilities: off\n", mode: Enforce, rules: func(r *rules) {
			r.vulnAction, r.unreviewed = Off, Off
		}},
		{name: "min_age mapping", file: "min_age:\n  age: 3d\n  action: warn\n  except: [golang.org/toolchain, \"corp.example.com/*\"]\n",
			mode: Enforce, rules: func(r *rules) {
				r.minAge, r.minAgeAction = 72*time.Hour, Warn
				r.minAgeExcept = []pathPattern{"golang.org/toolchain", "corp.example.com/*"}
			}},
		{name: "max_zip_size mapping", file: "max_zip_size: {size: 1GiB, action: warn}\n", mode: Enforce, rules: func(r *rules) {
			r.maxZipSize, r.maxZipAction = 1<<30, Warn
		}},
		{name: "plain bytes", file: "max_zip_size: 500000000\n", mode: Enforce, rules: func(r *rules) { r.maxZipSize = 5e8 }},
		{name: "modules action and allow", file: "modules:\n  allow: [\"golang.org/x/*\", example.com/ok@>=v1.2.0]\n  action: warn\n",
			mode: Enforce, rules: func(r *rules) {
				r.allow = []moduleRule{mustRule(t, "golang.org/x/*"), mustRule(t, "example.com/ok@>=v1.2.0")}
				r.modulesAction = Warn
			}},
		{name: "licenses action", file: "licenses:\n  deny: [GPL-3.0-only]\n  action: warn\n  unknown: off\n", mode: Enforce, rules: func(r *rules) {
			r.licenseDeny, r.licenseAction, r.licenseUnknown = []string{"GPL-3.0-only"}, Warn, Off
		}},
		{name: "missing-data actions", file: "vulnerabilities: {action: warn, unknown: block}\nlicenses: {unscanned: warn}\nmax_zip_size: {size: 1MB, unknown: warn}\n",
			mode: Enforce, rules: func(r *rules) {
				r.vulnUnknown, r.licenseUnscanned, r.maxZipSize, r.maxZipUnknown = Block, Warn, 1e6, Warn
			}},
		{name: "null lists", file: "modules:\n  deny:\n  allow: ~\nvulnerabilities:\n  ignore:\n", mode: Enforce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("policy.yaml", []byte(tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Source != "policy.yaml" || p.Mode != tt.mode || p.HideBlocked != tt.hide || !p.Loaded.IsZero() {
				t.Errorf("Parse: Source %q, Mode %q, HideBlocked %v, Loaded %v; want policy.yaml, %q, %v, zero",
					p.Source, p.Mode, p.HideBlocked, p.Loaded, tt.mode, tt.hide)
			}
			want := def
			if tt.rules != nil {
				tt.rules(&want)
			}
			if diff := cmp.Diff(want, p.rules, cmpRules); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string // the error's lines
	}{
		{"unknown top-level key", "mode: enforce\nvulnerabilites:\n  action: block\n",
			[]string{`policy.yaml:2: unknown key "vulnerabilites" (known: mode, hide_blocked, vulnerabilities, modules, retracted, deprecated, min_age, licenses, max_zip_size, malware, capabilities, lookalike, clone, withdrawn, origin_changed)`}},
		{"unknown nested key", "vulnerabilities:\n  action: block\n  fixed_only: true\n",
			[]string{`policy.yaml:3: vulnerabilities: unknown key "fixed_only" (known: action, only_fixed, unreviewed, ignore, unknown)`}},
		{"missing data cannot be off", "vulnerabilities:\n  action: block\n  unknown: off\n",
			[]string{`policy.yaml:3: vulnerabilities.unknown: "off": want block or warn (missing data is always recorded; off is not allowed)`}},
		{"unknown modules key", "modules:\n  block: []\n",
			[]string{`policy.yaml:2: modules: unknown key "block" (known: deny, allow, action)`}},
		{"unknown licenses key", "licenses:\n  allow: [MIT]\n",
			[]string{`policy.yaml:2: licenses: unknown key "allow" (known: deny, action, unknown, unscanned)`}},
		{"unknown min_age key", "min_age:\n  duration: 3d\n",
			[]string{`policy.yaml:2: min_age: unknown key "duration" (known: age, action, except, unknown, fixes)`}},
		{"bad mode", "mode: strict\n", []string{`policy.yaml:1: mode: "strict": want enforce or audit`}},
		{"bad action", "retracted: deny\n", []string{`policy.yaml:1: retracted: "deny" is not an action: want block, warn or off`}},
		{"bad nested action", "vulnerabilities:\n  unreviewed: yes\n",
			[]string{`policy.yaml:2: vulnerabilities.unreviewed: "yes" is not an action: want block, warn or off`}},
		{"action as list", "deprecated: [warn]\n", []string{`policy.yaml:1: deprecated: expected an action: block, warn or off`}},
		{"bad bool", "hide_blocked: maybe\n", []string{`policy.yaml:1: hide_blocked: "maybe": want true or false`}},
		{"bad only_fixed", "vulnerabilities:\n  only_fixed: 1\n", []string{`policy.yaml:2: vulnerabilities.only_fixed: "1": want true or false`}},
		{"ignore not a list", "vulnerabilities:\n  ignore: GO-2022-0493\n",
			[]string{`policy.yaml:2: vulnerabilities.ignore: expected a list of advisory IDs or aliases (GO-..., CVE-..., GHSA-...)`}},
		{"bad deny pattern", "modules:\n  deny:\n    - ok.example.com/*\n    - \"bad/[x\"\n",
			[]string{`policy.yaml:4: modules.deny: module path pattern "bad/[x": bad glob "[x"`}},
		{"bad deny constraint", "modules:\n  deny: [\"example.com/old@<1.4\"]\n",
			[]string{`policy.yaml:2: modules.deny: version constraint "<1.4": "1.4" is not a semantic version (want v1.2.3, <v1.4.0, >=v1.2.0,<v1.3.0, ...)`}},
		{"empty constraint", "modules:\n  allow: [\"example.com/x@\"]\n",
			[]string{`policy.yaml:2: modules.allow: "example.com/x@": empty version constraint after @`}},
		{"comma in pattern", "modules:\n  deny: [\"a.example.com,b.example.com\"]\n",
			[]string{`policy.yaml:2: modules.deny: module path pattern "a.example.com,b.example.com": want one pattern without commas, spaces or @`}},
		{"deny not a list", "modules:\n  deny: github.com/evil/*\n",
			[]string{`policy.yaml:2: modules.deny: expected a list of module path patterns with an optional @version constraint ("github.com/evil/*", "example.com/old@<v1.4.0")`}},
		{"bad duration", "min_age: 3 days\n", []string{`policy.yaml:1: min_age: "3 days": want a duration such as 72h, 90m or 3d`}},
		{"negative duration", "min_age: -1h\n", []string{`policy.yaml:1: min_age: "-1h": want a duration such as 72h, 90m or 3d`}},
		{"bad nested duration", "min_age:\n  age: soon\n", []string{`policy.yaml:2: min_age.age: "soon": want a duration such as 72h, 90m or 3d`}},
		{"min_age list", "min_age: [72h]\n",
			[]string{`policy.yaml:1: min_age: expected a duration (72h, 3d) or a mapping {age: 72h, action: block, except: [patterns], unknown: block, fixes: allow}`}},
		{"bad except", "min_age:\n  age: 1h\n  except: [\"a b\"]\n",
			[]string{`policy.yaml:3: min_age.except: module path pattern "a b": want one pattern without commas, spaces or @`}},
		{"bad size", "max_zip_size: 200 parsecs\n", []string{`policy.yaml:1: max_zip_size: "200 parsecs": want a size such as 200MB, 1GiB or a number of bytes`}},
		{"negative size", "max_zip_size: -5MB\n", []string{`policy.yaml:1: max_zip_size: "-5MB": want a size such as 200MB, 1GiB or a number of bytes`}},
		{"bad nested size", "max_zip_size:\n  size: big\n", []string{`policy.yaml:2: max_zip_size.size: "big": want a size such as 200MB, 1GiB or a number of bytes`}},
		{"null action", "retracted:\n", []string{`policy.yaml:1: retracted: expected an action: block, warn or off`}},
		{"duplicate key", "mode: audit\nmode: enforce\n", []string{`policy.yaml:2: mode: given twice`}},
		{"not a mapping", "- mode: audit\n", []string{`policy.yaml:1: expected a mapping with keys mode, hide_blocked, vulnerabilities, modules, retracted, deprecated, min_age, licenses, max_zip_size, malware, capabilities, lookalike, clone, withdrawn, origin_changed`}},
		{"section not a mapping", "licenses: [MIT]\n", []string{`policy.yaml:1: licenses: expected a mapping with keys deny, action, unknown, unscanned`}},
		{"every error, in order", "mode: on\nretracted: blok\nlicenses:\n  unknwn: warn\n",
			[]string{
				`policy.yaml:1: mode: "on": want enforce or audit`,
				`policy.yaml:2: retracted: "blok" is not an action: want block, warn or off`,
				`policy.yaml:4: licenses: unknown key "unknwn" (known: deny, action, unknown, unscanned)`,
			}},
		{"two documents", "mode: audit\n---\nmode: enforce\n", []string{`policy.yaml:2: expected one YAML document`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("policy.yaml", []byte(tt.file))
			if err == nil {
				t.Fatalf("Parse succeeded (%s), want an error", p.Summary())
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseYAMLSyntaxError(t *testing.T) {
	_, err := Parse("policy.yaml", []byte("mode: [enforce\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "policy.yaml: yaml: line ") {
		t.Errorf("Parse of broken YAML: %v, want an error naming the file and line", err)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"1", 1}, {"500000000", 500000000}, {"200MB", 200e6}, {"200 MB", 200e6}, {"200mb", 200e6},
		{"1GiB", 1 << 30}, {"1.5GiB", 3 << 29}, {"10KiB", 10240}, {"10kB", 10000}, {"2TB", 2e12}, {"512B", 512},
		{"1MiB", 1 << 20}, {"3G", 3e9},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "MB", "-1", "1.2.3MB", "1e400GB", "ten", "5 PB", "NaN"} {
		if got, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", bad, got)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0}, {"72h", 72 * time.Hour}, {"90m", 90 * time.Minute}, {"3d", 72 * time.Hour}, {"1h30m", 90 * time.Minute}, {"0d", 0},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "d", "-3d", "-1h", "3 days", "1.5d", "72"} {
		if got, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", bad, got)
		}
	}
}

func TestSummary(t *testing.T) {
	p, err := Parse("policy.yaml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	want := `policy.yaml: mode enforce, hide_blocked
vulnerabilities: block (unreviewed: warn, ignore GO-2022-0493), missing data: block
malware: block, unknown: block
modules: deny 2 (block)
retracted: block, deprecated: warn, withdrawn: warn, origin_changed: warn
lookalike: warn, clone: warn (with new capabilities: block, unknown: block)
min_age: 72h (block), unknown: block, fixes: hold
licenses: deny AGPL-3.0-only AGPL-3.0-or-later SSPL-1.0 (block), unknown: warn, unscanned: block
max_zip_size: 200.0 MB (block, unknown: block)
capabilities: new none, in_init EXEC NETWORK PLUGIN (block), binaries: warn, unknown: block`
	if diff := cmp.Diff(want, p.Summary()); diff != "" {
		t.Errorf("Summary (-want +got):\n%s", diff)
	}
	want = `default policy (no file): mode enforce
vulnerabilities: warn (unreviewed: warn), missing data: warn
malware: block, unknown: block
modules: off
retracted: warn, deprecated: warn, withdrawn: warn, origin_changed: warn
lookalike: warn, clone: warn (with new capabilities: block, unknown: block)
min_age: off
licenses: deny none, unknown: warn, unscanned: warn
max_zip_size: off
capabilities: new none, in_init EXEC NETWORK PLUGIN (block), binaries: warn, unknown: block`
	if diff := cmp.Diff(want, Default().Summary()); diff != "" {
		t.Errorf("Default().Summary (-want +got):\n%s", diff)
	}
}
