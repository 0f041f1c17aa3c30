// Package policy decides whether a module version may be served, from the
// facts modgate recorded about it (vulnerabilities, license, retraction,
// deprecation, publish time, size), the security team's policy file and the
// exemptions they granted. It is pure: no I/O, the clock is passed in.
package policy

import (
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
	RuleDeny          = "modules.deny"
	RuleAllow         = "modules.allow"
	RuleRetracted     = "retracted"
	RuleDeprecated    = "deprecated"
	RuleMinAge        = "min_age"
	RuleLicense       = "licenses.deny"
	RuleLicenseUnknwn = "licenses.unknown"
	RuleMaxZipSize    = "max_zip_size"
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

// rules is the policy's rule set; its fields are the implementer's choice.
type rules struct{}

// Default is the policy without a file: every rule reports (warn) and nothing
// is blocked by policy (checksum failures are refused by the verifier, always).
func Default() *Policy { panic("unimplemented") }

// Parse parses a policy file. name is used in errors, which say the file, the
// line and what was expected for any unknown key or bad value.
func Parse(name string, data []byte) (*Policy, error) { panic("unimplemented") }

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
}

// Decide decides on in at time now.
func (p *Policy) Decide(in Input, now time.Time) Decision { panic("unimplemented") }
