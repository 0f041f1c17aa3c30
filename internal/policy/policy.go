// Package policy decides whether a module version may be served, from the
// facts modgate recorded about it (vulnerabilities, license, retraction,
// deprecation, publish time, size), the security team's policy file and the
// exemptions they granted. It is pure: no I/O, the clock is passed in.
//
// # The policy file
//
// A YAML mapping; every key is optional:
//
//	mode: enforce            # enforce | audit (decide and record, serve everything)
//	hide_blocked: true       # leave blocked versions out of @v/list and @latest
//	vulnerabilities:         # or just an action: "vulnerabilities: block"
//	  action: block          # for REVIEWED advisories
//	  unreviewed: warn       # for UNREVIEWED advisories (default: as action)
//	  only_fixed: false      # true: a block without a fixed version is a warn
//	  ignore: [GO-2022-0493] # advisory IDs or aliases (CVE-..., GHSA-...)
//	  unknown: block         # no vulnerability data, or data too old (see Data)
//	modules:
//	  deny:  ["github.com/evil/*", "example.com/old@<v1.4.0"]
//	  allow: []              # when not empty, only matching modules may be served
//	  action: block          # for deny matches and modules not allowed
//	malware: block           # MAL- records (see below); blocks even in audit mode
//	retracted: block
//	deprecated: warn
//	withdrawn: warn          # the upstream that served it now refuses it (a takedown)
//	origin_changed: warn     # its tag now points to another commit upstream
//	min_age: 72h             # or {age: 72h, action: block, except: [golang.org/toolchain], unknown: block, fixes: hold}
//	licenses:
//	  deny: [AGPL-3.0-only, AGPL-3.0-or-later, SSPL-1.0]
//	  action: block          # for deny matches
//	  unknown: warn          # for zips in which no license was recognised
//	  unscanned: block       # for a zip about to be served whose licenses were never scanned
//	max_zip_size: 200MB      # or {size: 200MB, action: block, unknown: block}
//	capabilities:            # what a version adds to the one before it (capabilities.go)
//	  new: [EXEC, NETWORK]   # capabilities newly used (default: none)
//	  in_init: [EXEC, NETWORK, PLUGIN] # newly reached from package initialisation (the default)
//	  action: block
//	  binaries: warn         # programs added to the zip outside testdata
//	  unknown: block         # the pass could not run, or nothing to compare a listed one with
//
// Every rule has an action: block, warn or off. Module entries are path
// patterns in GOPRIVATE syntax ([module.MatchPrefixPatterns]: a glob matched
// against a prefix of the path's elements) with an optional "@" and a version
// constraint: an exact version, or comparisons (<, <=, >, >=, =) joined by
// commas (">=v1.2.0,<v1.3.0"). Durations are Go durations (72h, 90m) or days
// (3d); sizes are bytes, or a number with kB, MB, GB, TB (powers of 1000) or
// KiB, MiB, GiB, TiB (powers of 1024).
//
// An omitted key takes its value from [Default], the policy without a file:
// mode enforce, hide_blocked false; vulnerabilities, unreviewed, retracted,
// deprecated and licenses.unknown warn; only_fixed false; no ignore, deny or
// allow entries, no min_age and no max_zip_size (so those rules are off); the
// actions of modules, min_age, licenses.deny and max_zip_size, which apply
// once their entries or limits are given, block. An empty file is [Default].
//
// # Malware
//
// An advisory whose id or an alias is an OSV malicious-packages id ("MAL-...",
// [store.IsMalware]) records malicious code: its finding is the rule
// "malware", not "vulnerabilities" (vulnerabilities.ignore, unreviewed and
// only_fixed do not apply). It blocks by default, without a policy file, and
// in audit mode too, unless the file says "malware: warn" (or off). Advisories
// that alias each other (a MAL- record and the GO- or GHSA- id of the same
// event) make one finding, the malware one. While a configured malware feed
// never synced, or its last good sync is older than the data's max age,
// every decision gets a malware.unknown finding per such feed (the file's
// "malware: {action: block, unknown: warn}" opts out; the default is the
// malware action). Unlike other missing data it blocks in audit mode too, as
// malware does: without the feed, malware cannot be told apart.
//
// # Takedowns and moved tags
//
// modgate rechecks cached versions at the upstream that served them
// (scanner.Scanner.Recheck). A version the upstream now refuses (403, 404,
// 410) after serving it is "withdrawn" (a takedown: removed as malware, for
// legal reasons, or at its author's request); a version whose .info Origin
// now names another commit is "origin_changed" (its tag was moved). Both
// warn by default: the cached bytes are the ones the checksum database
// vouched for, and a takedown is a signal to look, not proof of harm. A
// transient failure of the upstream (5xx, timeout) is never a takedown.
//
// # Missing data
//
// A rule that needs data modgate does not have decides by its own setting
// for that case (vulnerabilities.unknown, malware.unknown, licenses.unscanned,
// max_zip_size.unknown, min_age.unknown: block or warn, never off), so the gate never passes a
// version as checked when it was not: the finding (RuleVulnUnknown,
// RuleLicenseUnscanned, RuleMaxZipUnknown) says what is missing and since
// when. Each defaults to block when its rule blocks, else warn; the rule off
// makes no finding. [Decision.Unchecked] lists what was not checked whatever
// the policy says, for pages that must not claim otherwise.
//
// # Exemptions
//
// A [store.Exemption] waives findings until it expires: its Module is an exact
// module path or a glob pattern (then as GOPRIVATE), its Versions "" or a
// constraint as above, and its Rule "" (every rule), a rule name (the Rule*
// constants; "licenses" and "modules" cover their group) or an advisory ID or
// alias (that advisory's vulnerability finding). A waived finding stays in
// [Decision.Findings] with its Exemption set, and does not block.
package policy

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// Action is what a rule does when it matches.
type Action string

// The actions of a rule.
const (
	Block Action = "block" // refuse the version's zip (in enforce mode)
	Warn  Action = "warn"  // serve it, and record the finding
	Off   Action = "off"   // ignore the rule
)

// Modes of a policy.
const (
	Enforce = "enforce" // blocks are refused
	Audit   = "audit"   // blocks are decided and recorded, but everything is served
)

// Rule names, as findings, exemptions and messages name them.
const (
	RuleVulnerability = "vulnerabilities"
	RuleMalware       = "malware"
	RuleDeny          = "modules.deny"
	RuleAllow         = "modules.allow"
	RuleRetracted     = "retracted"
	RuleDeprecated    = "deprecated"
	RuleMinAge        = "min_age"
	RuleLicense       = "licenses.deny"
	RuleLicenseUnknwn = "licenses.unknown"
	RuleMaxZipSize    = "max_zip_size"
	RuleWithdrawn     = "withdrawn"      // withdrawn upstream: a takedown
	RuleOriginChanged = "origin_changed" // the version's tag moved upstream

	// The findings of missing data (see Data): no usable vulnerability data,
	// a zip about to be served whose licenses were never scanned, or whose
	// size is not known.
	RuleVulnUnknown      = "vulnerabilities.unknown"
	RuleLicenseUnscanned = "licenses.unscanned"
	RuleMaxZipUnknown    = "max_zip_size.unknown"
	// RuleMalwareUnknown is a configured malware feed (--advisories) that
	// never synced, or whose last good sync is too old.
	RuleMalwareUnknown = "malware.unknown"
	// RuleMinAgeUnknown is min_age without a trusted publication time (see
	// [store.PublishedTrusted]): no source an author cannot set knows when
	// the version was published.
	RuleMinAgeUnknown = "min_age.unknown"
)

// Policy is a parsed policy file. The zero value is not valid; use Default or
// Parse.
type Policy struct {
	// Source names the file the policy came from ("" for the default) and
	// Loaded when it was read.
	Source string
	Loaded time.Time
	// Mode is Enforce or Audit.
	Mode        string
	HideBlocked bool
	// ... the rules (see Parse for the file's keys) ...
	rules rules
}

// rules is the policy's rule set. Each rule's zero Action is never used:
// Default and Parse set every one.
type rules struct {
	vulnAction Action
	unreviewed Action // for advisories whose ReviewStatus is UNREVIEWED
	onlyFixed  bool   // a block without a fixed version becomes a warn
	ignore     []string
	// vulnUnknown is for a decision without usable vulnerability data; ""
	// means block when vulnAction or unreviewed blocks, else warn.
	vulnUnknown Action

	deny, allow   []moduleRule
	modulesAction Action // for deny matches and modules outside a non-empty allow list

	retracted, deprecated Action

	withdrawn, originChanged Action // for versions withdrawn upstream, and moved tags

	malware Action // for malicious-code records; Block by default
	// malwareUnknown is for a decision while a malware feed's data is
	// missing; "" means as malware.
	malwareUnknown Action

	minAge       time.Duration // 0: off
	minAgeAction Action
	minAgeExcept []pathPattern
	// minAgeUnknown is for a version whose publication time no trusted
	// source knows; "" means as minAgeAction.
	minAgeUnknown Action
	// minAgeFixes lets a young version pass early (as a warning) when it
	// fixes an advisory affecting a version this organisation fetched
	// (Input.Fixes): min_age: {fixes: allow}.
	minAgeFixes bool

	licenseDeny    []string // SPDX ids, matched case-insensitively
	licenseAction  Action   // for licenseDeny matches
	licenseUnknown Action   // for zips in which no license was recognised
	// licenseUnscanned is for a zip about to be served whose licenses were
	// never scanned; "" means block when a license rule blocks, else warn.
	licenseUnscanned Action

	maxZipSize   int64 // bytes; 0: off
	maxZipAction Action
	// maxZipUnknown is for a zip about to be served whose size is not known;
	// "" means as maxZipAction.
	maxZipUnknown Action

	caps        capRules         // capabilities: what a version adds to the one before it
	resemblance resemblanceRules // lookalike and clone (resemblance.go)
}

// Default is the policy without a file: every rule reports (warn) and nothing
// is blocked by policy but known malware and capabilities (EXEC, NETWORK,
// PLUGIN) a version newly reaches from package initialisation (checksum
// failures are refused by the verifier, always).
// It is also the policy of an empty file, and gives every key a file omits
// its value (see the package documentation).
func Default() *Policy {
	return &Policy{
		Mode: Enforce,
		rules: rules{
			vulnAction:     Warn,
			unreviewed:     Warn,
			modulesAction:  Block,
			malware:        Block,
			retracted:      Warn,
			deprecated:     Warn,
			withdrawn:      Warn,
			originChanged:  Warn,
			minAgeAction:   Block,
			licenseAction:  Block,
			licenseUnknown: Warn,
			maxZipAction:   Block,
			caps:           defaultCaps(),
			resemblance:    defaultResemblance(),
		},
	}
}

// Input is what a decision is made from.
type Input struct {
	Module module.Version
	// Facts are the version's recorded facts; nil when none were recorded (a
	// version never ingested). Vulns, when Facts is nil, are the advisories
	// matched without ingestion (scanner.Check).
	Facts *store.Facts
	Vulns []store.Vuln
	// ZipSize is the zip's size in bytes; 0 when unknown.
	ZipSize int64
	// Exemptions are the exemptions that may apply (the caller may pass all
	// of them; Decide matches module, version, rule and expiry itself).
	Exemptions []store.Exemption
	// Data is the state of the vulnerability data the decision is made
	// with. Its zero value is "never synced": vulnerabilities are then not
	// checked, and vulnerabilities.unknown decides.
	Data Data
	// Fixes are findings of stored versions of the module whose advisory
	// this version fixes (store.ModuleIndex.FixedBy), for min_age's fast
	// lane; callers need them only when [Policy.FastLane] is set and the
	// decision without them holds the version for min_age.
	Fixes []store.Finding
	// Lookalike is the look-alike check of the module's path and Clone the
	// clone check of the version's zip (scanner.Resemblance); nil when not
	// made.
	Lookalike *store.PathCheck
	Clone     *store.Clone
	// Zip is set when the decision is for a zip about to be served: its
	// licenses and size must then be known (licenses.unscanned and
	// max_zip_size.unknown decide when they are not; so must its
	// capabilities, for a policy that uses them). Unset, for decisions
	// made before a download or without one, what only the zip tells is not
	// asked for.
	Zip bool
	// Capabilities are the version's capability facts and what they add to
	// the version before it (nil: not known); read only when
	// [Policy.UsesCapabilities].
	Capabilities *store.CapabilityFacts
}

// Finding is one rule that matched.
type Finding struct {
	Rule   string // one of the Rule* names
	Action Action // Block or Warn
	// Reason is one line for a developer: the advisory with its aliases,
	// summary and fixed version; the license; the age and when the version
	// becomes allowed; ...
	Reason string
	// Advisory is the advisory id for vulnerability findings.
	Advisory string
	// Fixed is the version that fixes the advisory of a vulnerability
	// finding, "" if none (or for other rules).
	Fixed string
	// Until is when a min_age block ends.
	Until time.Time
	// Exemption is the id of the exemption that waived this finding (then it
	// does not block), 0 if none.
	Exemption int64
}

// Decision is the outcome for one version.
type Decision struct {
	// Blocked reports whether the version's zip is refused: some finding
	// blocks, is not exempted, and the policy is in enforce mode.
	Blocked bool
	// WouldBlock is Blocked ignoring audit mode (what enforce mode would do).
	WouldBlock bool
	// Findings are every rule that matched, blocking ones first.
	Findings []Finding
	// Unchecked says what could not be checked for lack of data and why
	// ("vulnerabilities: vulnerability data: never synced (...)"), whatever
	// the policy does about it: a page showing the version must not claim
	// "no known vulnerability" then.
	Unchecked []Unchecked
}

// UsesPublished reports whether a rule of the policy decides with publication
// times (min_age), which only the module index knows for most versions.
func (p *Policy) UsesPublished() bool {
	return p != nil && p.rules.minAge > 0 && p.rules.minAgeAction != Off
}

// DeniedLicenses lists the license ids of licenses.deny (the license
// scanner must recognise them; see scanner.Scanner.LicensesFrom).
func (p *Policy) DeniedLicenses() []string {
	if p == nil {
		return nil
	}
	return slices.Clone(p.rules.licenseDeny)
}

// FastLane reports whether the policy lets young versions that fix an
// advisory pass early (min_age: {fixes: allow}): callers then pass
// Input.Fixes when a decision holds a version for min_age.
func (p *Policy) FastLane() bool {
	return p != nil && p.rules.minAge > 0 && p.rules.minAgeFixes
}

// HeldForAge reports whether d blocks a version for min_age or
// min_age.unknown (not exempted).
func (d Decision) HeldForAge() bool {
	for _, f := range d.Findings {
		if f.Action == Block && f.Exemption == 0 && (f.Rule == RuleMinAge || f.Rule == RuleMinAgeUnknown) {
			return true
		}
	}
	return false
}

// Decide decides on in at time now. It is pure and safe for concurrent use;
// a nil *Policy decides as [Default]. Facts of the version that are not known
// (in.Facts nil, a zero publish time) make no finding of their own rule: only
// modules.deny and modules.allow, which need nothing but the path and version,
// and vulnerabilities (from in.Vulns when Facts is nil) apply to a version
// never ingested. Missing data makes a finding of its own instead (see
// [Data]): vulnerability data that is absent or too old always; a zip's
// licenses or size when in.Zip is set.
func (p *Policy) Decide(in Input, now time.Time) Decision {
	if p == nil {
		p = Default()
	}
	var cands []candidate
	cands = append(cands, p.rules.moduleFindings(in.Module)...)
	cands = append(cands, p.rules.vulnFindings(in)...)
	if in.Facts != nil {
		cands = append(cands, p.rules.factFindings(in.Module, in.Facts, now)...)
	}
	cands = append(cands, p.rules.capFindings(in)...)
	cands = append(cands, p.rules.resemblance.findings(in)...)
	unchecked, missing := p.rules.missingData(in, now)
	cands = append(cands, missing...)
	if r := &p.rules; r.maxZipSize > 0 && r.maxZipAction != Off && in.ZipSize > r.maxZipSize {
		cands = append(cands, candidate{Finding: Finding{Rule: RuleMaxZipSize, Action: r.maxZipAction,
			Reason: fmt.Sprintf("the zip is %s (%d bytes), over max_zip_size %s", formatSize(in.ZipSize), in.ZipSize, formatSize(r.maxZipSize))}})
	}
	d := Decision{Unchecked: unchecked}
	malware := false
	for _, c := range cands {
		f := c.Finding
		if f.Action == Block && (f.Rule == RuleMinAge || f.Rule == RuleMinAgeUnknown) && p.rules.minAgeFixes && len(in.Fixes) > 0 {
			// The fast lane: a fix for what this organisation fetched.
			fx := in.Fixes[0]
			f.Action = Warn
			f.Reason += fmt.Sprintf("; passed early (min_age.fixes: allow): fixes %s in %s@%s, fetched here",
				fx.VulnID, oneLine(fx.Module.Path, 80), oneLine(fx.Module.Version, 40))
			if len(in.Fixes) > 1 {
				f.Reason += fmt.Sprintf(" (and %d more)", len(in.Fixes)-1)
			}
		}
		f.Exemption = exemptionFor(in.Module, c, in.Exemptions, now)
		if f.Action == Block && f.Exemption == 0 {
			d.WouldBlock = true
			malware = malware || f.Rule == RuleMalware || f.Rule == RuleMalwareUnknown
		}
		d.Findings = append(d.Findings, f)
	}
	sort.SliceStable(d.Findings, func(i, j int) bool { return rank(d.Findings[i]) < rank(d.Findings[j]) })
	// Audit mode serves everything but known malware and what no malware
	// feed could check (see # Malware).
	d.Blocked = d.WouldBlock && (p.Mode != Audit || malware)
	return d
}
