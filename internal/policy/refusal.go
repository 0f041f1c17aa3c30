package policy

import (
	"fmt"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// The go command prints at most this much of an error body (cmd/go/internal/web:
// maxErrorDetailLines, maxErrorDetailBytes): the lines before the first blank
// one, each after the first preceded by "\n\t", while the total stays within
// the bytes; then "[Truncated: ...]".
const (
	MaxDetailLines = 8
	MaxDetailBytes = MaxDetailLines * 81
)

// Fits reports whether the go command shows lines whole: at most
// MaxDetailLines, none blank, and MaxDetailBytes counted as the go command
// counts them (two bytes of "\n\t" before every line but the first).
func Fits(lines []string) bool {
	if len(lines) > MaxDetailLines {
		return false
	}
	n := 0
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			return false
		}
		if i > 0 {
			n += 2
		}
		if n+len(l) > MaxDetailBytes {
			return false
		}
		n += len(l)
	}
	return true
}

// Refusal is what a developer is told when a version's zip is refused by
// policy.
type Refusal struct {
	Module   module.Version
	Decision Decision
	// Instead is a version of the module whose facts are known and that the
	// policy allows, to use instead; "" when none is known.
	Instead string
	// Page is the URL of the version's page on the dashboard, where every
	// finding is listed; "" when not known.
	Page string
	// Status is the URL of the vulnerability data's state (/vulndb-status),
	// for a refusal for missing data; "" when not known.
	Status string
	// Ask leads the exemption advice ("ask your security team", a channel);
	// "" means a generic text.
	Ask string
}

// part is one line of the summary with the variants it can be shortened to,
// longest first; "" as the last variant means the line may be left out.
// Lines of a higher prio number are shortened first.
type part struct {
	prio     int
	variants []string
	at       int
}

// Text renders the refusal: a summary that the go command shows whole (see
// [Fits]), then a blank line (where the go command stops reading) and every
// finding, for clients that read the whole body.
func (r Refusal) Text() string {
	lines := r.Summary()
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString("\nAll findings:\n")
	for _, f := range r.Decision.Findings {
		b.WriteString("- " + describe(f) + "\n")
	}
	return b.String()
}

func describe(f Finding) string {
	s := string(f.Action) + " " + f.Rule + ": " + f.Reason
	if f.Exemption != 0 {
		s += fmt.Sprintf(" (exempted by #%d)", f.Exemption)
	}
	return s
}

// Summary returns the lines a developer needs, in order of need, fitted to
// what the go command shows: what is blocked and by which rules (advisories
// grouped), the version to use instead, and one command or URL that resolves
// it (an exemption covering every blocking finding, and the page listing
// them). What does not fit is shortened, lowest need first.
func (r Refusal) Summary() []string {
	m := r.Module.Path + "@" + r.Module.Version
	groups := r.groups()
	var rules []string
	for _, g := range groups {
		rules = append(rules, g.rule)
	}
	// Shortened first: the hint on waiving across versions (9), the lead-in
	// of the exemption (8), the advisory list (7), further rules (6, the
	// header names them), the version to use instead (5), the exemption
	// command (4), the header (3), the page (2).
	parts := []*part{{prio: 3, variants: []string{
		m + ": refused by modgate policy (" + strings.Join(rules, ", ") + ")",
		m + ": refused by modgate policy",
	}}}
	missing := false
	for i, g := range groups {
		p := &part{prio: 7, variants: g.lines}
		if i > 0 {
			p.prio = 6
			p.variants = append(p.variants, "") // the header names the rule
		}
		parts = append(parts, p)
		// min_age.unknown is not the data modgate lacks as a whole: another
		// version may do, and an exemption may waive it.
		// Nor is clone.unknown (this version's added files).
		missing = missing || (strings.HasSuffix(g.rule, ".unknown") && g.rule != RuleMinAgeUnknown && g.rule != RuleCloneUnknown) ||
			g.rule == RuleLicenseUnscanned
	}
	onlyMissing := missing && len(groups) == 1
	switch {
	case onlyMissing:
		// Every version lacks the same data: no other version would do.
		if r.Status != "" {
			parts = append(parts, &part{prio: 5, variants: []string{
				"modgate serves it once it has the data: operators, see " + r.Status,
				r.Status}})
		} else {
			parts = append(parts, &part{prio: 5, variants: []string{
				"modgate serves it once it has the data (its operators can see why in its log)"}})
		}
	case r.Instead != "":
		parts = append(parts, &part{prio: 5, variants: []string{
			"Use " + r.Module.Path + "@" + r.Instead + " instead: allowed by the current policy.",
			"Use " + r.Instead + " instead.",
		}})
	default:
		parts = append(parts, &part{prio: 5, variants: []string{
			"No version of " + r.Module.Path + " known to modgate is allowed by the current policy.",
			"No allowed version known.",
		}})
	}
	if !onlyMissing {
		ask := r.Ask
		if ask == "" {
			ask = "To waive, ask your security team to run:"
		}
		versions, expires := " --versions "+r.Module.Version, "30d"
		if exemptRule(r.Decision) == " --rule "+RuleLookalike {
			// A look-alike is the path's, whatever the version: once
			// reviewed, the path is cleared for good.
			versions, expires = "", "never"
		}
		cmd := "  modgate exempt add --module " + r.Module.Path + versions + exemptRule(r.Decision) +
			" --reason ... --by ... --expires " + expires
		parts = append(parts, &part{prio: 8, variants: []string{ask, ""}}, &part{prio: 4, variants: []string{cmd, ""}})
	}
	if r.Page != "" {
		parts = append(parts, &part{prio: 2, variants: []string{"All findings: " + r.Page, r.Page}})
	}
	if kind := advisoryKind(r.Decision); !onlyMissing && kind != "" {
		parts = append(parts, &part{prio: 9, variants: []string{
			"To waive one advisory in every version: --rule " + kind + "-... without --versions.", ""}})
	}
	return fit(parts)
}

// fit shortens parts until their lines fit, taking the part with the
// highest prio number that can still be shortened (the last of equals).
func fit(parts []*part) []string {
	for {
		var lines []string
		for _, p := range parts {
			if v := p.variants[p.at]; v != "" {
				lines = append(lines, v)
			}
		}
		if Fits(lines) {
			return lines
		}
		var next *part
		for _, p := range parts {
			if p.at+1 < len(p.variants) && (next == nil || p.prio >= next.prio) {
				next = p
			}
		}
		if next == nil {
			return lines // cannot shorten further (the go command truncates)
		}
		next.at++
	}
}

// group is the blocking findings of one rule, as summary lines (longest
// first).
type group struct {
	rule  string
	lines []string
}

// groups gathers the blocking (not exempted) findings by rule, in the order
// of the decision.
func (r Refusal) groups() []group {
	var order []string
	by := map[string][]Finding{}
	for _, f := range r.Decision.Findings {
		if f.Action != Block || f.Exemption != 0 {
			continue
		}
		if _, ok := by[f.Rule]; !ok {
			order = append(order, f.Rule)
		}
		by[f.Rule] = append(by[f.Rule], f)
	}
	var out []group
	for _, rule := range order {
		fs := by[rule]
		g := group{rule: rule}
		if rule == RuleVulnerability && len(fs) > 1 {
			g.lines = advisoryLines(fs, r.Module.Path == "golang.org/toolchain")
		} else {
			reason := fs[0].Reason
			if rule == RuleVulnerability {
				g.lines = []string{"- " + rule + ": " + reason, "- " + rule + ": " + advisoryShort(fs[0])}
			} else {
				g.lines = []string{"- " + rule + ": " + reason, "- " + rule + ": " + oneLine(reason, 100), "- " + rule + ": " + oneLine(reason, 50)}
			}
		}
		out = append(out, g)
	}
	return out
}

func advisoryShort(f Finding) string {
	if f.Fixed == "" {
		return f.Advisory + ", no fixed version"
	}
	return f.Advisory + ", fixed in " + f.Fixed
}

// advisoryLines groups several advisories on one line: "4 advisories
// (GO-..., GO-...), highest fixed in v0.39.0", listing fewer IDs in each
// shorter variant. For golang.org/toolchain (goRelease) the fixes are Go
// releases: "go1.25.13".
func advisoryLines(fs []Finding, goRelease bool) []string {
	highest, unfixed := "", 0
	for _, f := range fs {
		switch {
		case f.Fixed == "":
			unfixed++
		case highest == "" || semver.Compare(f.Fixed, highest) > 0:
			highest = f.Fixed
		}
	}
	var tail []string
	if highest != "" {
		if goRelease {
			highest = "go" + strings.TrimPrefix(highest, "v")
		}
		tail = append(tail, "highest fixed in "+highest)
	}
	if unfixed > 0 {
		tail = append(tail, fmt.Sprintf("%d with no fixed version", unfixed))
	}
	suffix := ""
	if len(tail) > 0 {
		suffix = ", " + strings.Join(tail, ", ")
	}
	head := fmt.Sprintf("- %s: %d advisories", RuleVulnerability, len(fs))
	var out []string
	for n := len(fs); n >= 1; n-- {
		if n < len(fs) && n > 8 {
			continue // long lists shrink fast
		}
		ids := make([]string, 0, n+1)
		for _, f := range fs[:n] {
			ids = append(ids, f.Advisory)
		}
		if n < len(fs) {
			ids = append(ids, fmt.Sprintf("%d more", len(fs)-n))
		}
		out = append(out, head+" ("+strings.Join(ids, ", ")+")"+suffix)
	}
	return append(out, head+suffix)
}

// exemptRule is the --rule of an exemption that covers every blocking
// finding of d: the advisory when it is the only one, the rule when all
// share one, else none (every rule).
func exemptRule(d Decision) string {
	rule, advisory, n := "", "", 0
	for _, f := range d.Findings {
		if f.Action != Block || f.Exemption != 0 {
			continue
		}
		n++
		if n == 1 {
			rule, advisory = f.Rule, f.Advisory
			continue
		}
		advisory = ""
		if f.Rule != rule {
			rule = ""
		}
	}
	switch {
	case n == 1 && advisory != "":
		return " --rule " + advisory
	case rule != "":
		return " --rule " + rule
	}
	return ""
}

// advisoryKind is the id prefix ("GO", "MAL") of the first blocking advisory
// of d, "" when none blocks.
func advisoryKind(d Decision) string {
	for _, f := range d.Findings {
		if f.Advisory != "" && f.Action == Block && f.Exemption == 0 {
			kind, _, _ := strings.Cut(f.Advisory, "-")
			return kind
		}
	}
	return ""
}
