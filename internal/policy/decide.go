package policy

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// candidate is a finding before exemptions, with what exemptions match on
// that the finding does not carry.
type candidate struct {
	Finding
	aliases []string // the advisory's aliases, for vulnerability findings
}

// rank orders findings: blocking ones first, then warnings, then exempted ones.
func rank(f Finding) int {
	switch {
	case f.Exemption != 0:
		return 2
	case f.Action == Block:
		return 0
	}
	return 1
}

func (r *rules) moduleFindings(m module.Version) []candidate {
	if r.modulesAction == Off {
		return nil
	}
	var out []candidate
	for _, d := range r.deny {
		if d.match(m) {
			out = append(out, candidate{Finding: Finding{Rule: RuleDeny, Action: r.modulesAction,
				Reason: fmt.Sprintf("matches modules.deny entry %q", d.text)}})
			break
		}
	}
	if len(r.allow) > 0 {
		allowed := false
		for _, a := range r.allow {
			allowed = allowed || a.match(m)
		}
		if !allowed {
			out = append(out, candidate{Finding: Finding{Rule: RuleAllow, Action: r.modulesAction,
				Reason: "not on the modules.allow list (" + listSome(r.allow, 3) + ")"}})
		}
	}
	return out
}

func listSome(rs []moduleRule, n int) string {
	var texts []string
	for i, r := range rs {
		if i == n {
			texts = append(texts, fmt.Sprintf("and %d more", len(rs)-n))
			break
		}
		texts = append(texts, r.text)
	}
	return strings.Join(texts, ", ")
}

func (r *rules) vulnFindings(in Input) []candidate {
	vulns := in.Vulns
	if in.Facts != nil {
		vulns = in.Facts.Affecting()
	}
	var out []candidate
	vulns = linked(vulns)
	for _, v := range vulns {
		if !v.Withdrawn.IsZero() {
			continue
		}
		if store.IsMalware(v.ID, v.Aliases) {
			if r.malware != Off {
				out = append(out, malwareFinding(v, r.malware))
			}
			continue
		}
		if r.ignored(v) {
			continue
		}
		action := r.vulnAction
		note := ""
		if v.ReviewStatus == "UNREVIEWED" {
			action = r.unreviewed
			note = " [unreviewed]"
		}
		if action == Off {
			continue
		}
		fixed := "no fixed version"
		if v.Fixed != "" {
			fixed = "fixed in " + v.Fixed
		} else if r.onlyFixed && action == Block {
			action = Warn
			fixed += " (only_fixed: warn only)"
		}
		id := v.ID
		if len(v.Aliases) > 0 {
			id += " (" + strings.Join(v.Aliases, ", ") + ")"
		}
		summary := oneLine(v.Summary, 120)
		if summary == "" {
			summary = "no summary"
		}
		out = append(out, candidate{
			Finding: Finding{Rule: RuleVulnerability, Action: action, Advisory: v.ID, Fixed: v.Fixed,
				Reason: fmt.Sprintf("%s%s: %s; %s", id, note, summary, fixed)},
			aliases: v.Aliases,
		})
	}
	return out
}

// malwareFinding is the finding of a malicious-code record: what it is, the
// record and its summary, first.
func malwareFinding(v store.Vuln, a Action) candidate {
	id := v.ID
	if len(v.Aliases) > 0 {
		id += " (" + strings.Join(v.Aliases, ", ") + ")"
	}
	summary := oneLine(v.Summary, 120)
	if summary == "" {
		summary = "no summary"
	}
	return candidate{
		Finding: Finding{Rule: RuleMalware, Action: a, Advisory: v.ID,
			Reason: fmt.Sprintf("malicious code: %s: %s", id, summary)},
		aliases: v.Aliases,
	}
}

// linked merges advisories that name each other (by id or a shared alias)
// into one, so one event makes one finding: the malware record when one of
// them is one, else the first; the others' ids become its aliases. Withdrawn
// advisories are left apart (they never count).
func linked(vulns []store.Vuln) []store.Vuln {
	var out []store.Vuln
	names := func(v store.Vuln) []string { return append([]string{v.ID}, v.Aliases...) }
	for _, v := range vulns {
		merged := false
		for i := range out {
			if !v.Withdrawn.IsZero() || !out[i].Withdrawn.IsZero() || !shareName(names(out[i]), names(v)) {
				continue
			}
			keep, other := out[i], v
			if !store.IsMalware(keep.ID, nil) && store.IsMalware(other.ID, nil) {
				keep, other = other, keep
			}
			keep.Aliases = slices.Clone(keep.Aliases)
			for _, n := range names(other) {
				if n != keep.ID && !slices.Contains(keep.Aliases, n) {
					keep.Aliases = append(keep.Aliases, n)
				}
			}
			if keep.Fixed == "" {
				keep.Fixed = other.Fixed
			}
			out[i] = keep
			merged = true
			break
		}
		if !merged {
			out = append(out, v)
		}
	}
	return out
}

func shareName(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// ignored reports whether vulnerabilities.ignore names v by ID or alias.
func (r *rules) ignored(v store.Vuln) bool {
	for _, id := range r.ignore {
		if strings.EqualFold(id, v.ID) {
			return true
		}
		for _, a := range v.Aliases {
			if strings.EqualFold(id, a) {
				return true
			}
		}
	}
	return false
}

// noAssertion is what the scanner records for a license file it did not
// recognise (SPDX's NOASSERTION, scanner.Unknown).
const noAssertion = "NOASSERTION"

func (r *rules) factFindings(m module.Version, f *store.Facts, now time.Time) []candidate {
	var out []candidate
	add := func(rule string, a Action, reason string) {
		if a != Off {
			out = append(out, candidate{Finding: Finding{Rule: rule, Action: a, Reason: reason}})
		}
	}
	if f.Retracted {
		reason := "retracted by the module's authors"
		if s := oneLine(f.Rationale, 120); s != "" {
			reason += ": " + s
		}
		add(RuleRetracted, r.retracted, reason)
	}
	if f.Deprecated {
		reason := "the module is deprecated"
		if s := oneLine(f.Deprecation, 120); s != "" {
			reason += ": " + s
		}
		add(RuleDeprecated, r.deprecated, reason)
	}
	if r.minAge > 0 && r.minAgeAction != Off && !f.Published.IsZero() && store.PublishedTrusted(f.PublishedSource) && !r.minAgeExcepted(m.Path) {
		if age := now.Sub(f.Published); age < r.minAge {
			until := f.Published.Add(r.minAge).UTC()
			src := ""
			if f.PublishedSource != "" {
				src = ", " + f.PublishedSource
			}
			reason := fmt.Sprintf("published %s ago (%s%s), younger than min_age %s: allowed from %s",
				fmtDuration(max(age, 0)), f.Published.UTC().Format(time.RFC3339), src, fmtDuration(r.minAge), until.Format(time.RFC3339))
			if f.PublishedSource == store.PublishedSumDB {
				// An upper bound: the record was in a tree head first seen then.
				reason = fmt.Sprintf("published %s at the latest (%s ago, checksum database), not known to be older than min_age %s: allowed from %s",
					f.Published.UTC().Format(time.RFC3339), fmtDuration(max(age, 0)), fmtDuration(r.minAge), until.Format(time.RFC3339))
			}
			out = append(out, candidate{Finding: Finding{Rule: RuleMinAge, Action: r.minAgeAction, Until: until, Reason: reason}})
		}
	}
	if u := f.Upstream; u.Withdrawn() {
		add(RuleWithdrawn, r.withdrawn, fmt.Sprintf("withdrawn upstream: %s answers %d %s since %s, after serving it (a takedown)",
			oneLine(u.Source, 80), u.WithdrawnStatus, http.StatusText(u.WithdrawnStatus), u.WithdrawnAt.UTC().Format(time.DateOnly)))
	}
	if u := f.Upstream; u.OriginChanged() {
		ref := ""
		if u.Moved.Ref != "" {
			ref = " (" + oneLine(u.Moved.Ref, 60) + ")"
		}
		add(RuleOriginChanged, r.originChanged, fmt.Sprintf("origin changed: %s%s now points to %s; modgate first saw %s",
			oneLine(m.Version, 40), ref, oneLine(u.Moved.Hash, 64), orNone(oneLine(u.Origin.Hash, 64))))
	}
	if f.LicensesKnown {
		var denied, known []string
		for _, l := range f.Licenses {
			if l != noAssertion {
				known = append(known, l)
			}
			for _, d := range r.licenseDeny {
				if strings.EqualFold(l, d) {
					denied = append(denied, l)
					break
				}
			}
		}
		if len(denied) > 0 {
			add(RuleLicense, r.licenseAction, fmt.Sprintf("license %s is on licenses.deny (found: %s)",
				strings.Join(denied, ", "), strings.Join(f.Licenses, ", ")))
		}
		if len(known) == 0 {
			reason := "no license file found in the module zip"
			if len(f.Licenses) > 0 {
				reason = "license not recognised (no SPDX license identified in the license files)"
			}
			add(RuleLicenseUnknwn, r.licenseUnknown, reason)
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "no Origin"
	}
	return s
}

func (r *rules) minAgeExcepted(path string) bool {
	for _, p := range r.minAgeExcept {
		if p.match(path) {
			return true
		}
	}
	return false
}

// exemptionFor returns the ID of the first exemption (in the order given)
// that waives c for m at now, 0 if none does.
func exemptionFor(m module.Version, c candidate, exs []store.Exemption, now time.Time) int64 {
	for _, e := range exs {
		if !e.ExpiresAt.After(now) || !matchExemptionModule(e.Module, m.Path) || !ruleMatches(e.Rule, c) {
			continue
		}
		vers, err := parseConstraint(e.Versions)
		if err != nil || !vers.match(m.Version) {
			continue // a malformed stored range waives nothing
		}
		return e.ID
	}
	return 0
}

// ruleMatches reports whether an exemption's Rule covers c: "" covers every
// rule; a rule name its rule ("licenses" and "modules" cover the rules of the
// group); an advisory ID or alias the vulnerability finding of that advisory.
func ruleMatches(rule string, c candidate) bool {
	switch {
	case rule == "" || rule == c.Rule:
		return true
	case strings.HasPrefix(c.Rule, rule+"."):
		return true
	case c.Rule != RuleVulnerability && c.Rule != RuleMalware:
		return false
	case strings.EqualFold(rule, c.Advisory):
		return true
	}
	for _, a := range c.aliases {
		if strings.EqualFold(rule, a) {
			return true
		}
	}
	return false
}

// oneLine makes s (hostile: from upstream go.mod files and advisories) one
// line of printable text of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	}), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

// fmtDuration renders d to the minute without zero units: "72h", "5h30m".
func fmtDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	s := d.Round(time.Minute).String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
