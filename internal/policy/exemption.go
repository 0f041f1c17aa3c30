package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/modgate/modgate/internal/store"
)

// CheckExemption reports whether e can be stored: its Module is a module path
// or a path pattern, its Versions a version constraint ("" for every
// version), its Rule "", a rule name, a rule group ("licenses", "modules") or
// an advisory ID or alias, and it has a reason, a grantor and an expiry. It
// does not compare the expiry with a clock: the caller does.
func CheckExemption(e *store.Exemption) error {
	var errs []error
	if err := checkPattern(e.Module); err != nil {
		errs = append(errs, fmt.Errorf("module: %w", err))
	}
	if _, err := parseConstraint(e.Versions); err != nil {
		errs = append(errs, fmt.Errorf("versions: %w", err))
	}
	if e.Rule != "" && !knownRule(e.Rule) && !isAdvisoryID(e.Rule) {
		errs = append(errs, fmt.Errorf("rule %q: want a rule (%s) or an advisory ID or alias (GO-..., CVE-..., GHSA-...)",
			e.Rule, strings.Join(ruleNames, ", ")))
	}
	if strings.TrimSpace(e.Reason) == "" {
		errs = append(errs, errors.New("reason: required"))
	}
	if strings.TrimSpace(e.GrantedBy) == "" {
		errs = append(errs, errors.New("granted by: required"))
	}
	if e.ExpiresAt.IsZero() {
		errs = append(errs, errors.New("expiry: required"))
	}
	if e.ExpiresAt.Equal(NeverExpires) && e.Rule != RuleLookalike {
		errs = append(errs, errors.New("expiry: never is for the lookalike rule only (a reviewed path stays cleared); other exemptions expire"))
	}
	return errors.Join(errs...)
}

// ruleNames are the names an exemption's Rule may take besides advisories.
var ruleNames = []string{
	RuleVulnerability, "modules", RuleDeny, RuleAllow, RuleRetracted, RuleDeprecated, RuleMinAge,
	"licenses", RuleLicense, RuleLicenseUnknwn, RuleMaxZipSize,
	RuleVulnUnknown, RuleLicenseUnscanned, RuleMaxZipUnknown, RuleMinAgeUnknown,
	RuleMalware, RuleMalwareUnknown,
	"capabilities", RuleCapNew, RuleCapInit, RuleCapBinary, RuleCapUnknown,
	RuleLookalike, RuleClone, RuleCloneCaps, RuleCloneUnknown,
}

func knownRule(r string) bool {
	for _, n := range ruleNames {
		if r == n {
			return true
		}
	}
	return false
}

// isAdvisoryID reports whether s looks like an advisory ID or alias: a
// prefix of letters, a dash, and letters, digits and dashes (GO-2022-0493,
// CVE-2022-29526, GHSA-xxxx-xxxx-xxxx, PYSEC-...).
func isAdvisoryID(s string) bool {
	prefix, rest, ok := strings.Cut(s, "-")
	if !ok || prefix == "" || rest == "" || len(s) > 100 {
		return false
	}
	for _, c := range prefix {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	for _, c := range rest {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
