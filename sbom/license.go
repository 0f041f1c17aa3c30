package sbom

import (
	"sort"
	"strings"

	"github.com/github/go-spdx/v2/spdxexp/spdxlicenses"
)

// UnidentifiedLicense is the license reference that stands, inside an
// expression, for a license file modgate found but could not identify
// (licensecheck's NOASSERTION): SPDX allows NOASSERTION only as a whole
// value, never inside an expression, and leaving the file out would claim
// less than the module's files say.
const UnidentifiedLicense = "LicenseRef-modgate-unidentified"

// licenseRef is a license an expression names that the SPDX License List
// does not have: its LicenseRef- id and what modgate's detector called it.
// SPDX documents declare each (hasExtractedLicensingInfos).
type licenseRef struct {
	id       string // "LicenseRef-GooglePatentClause"
	detected string // "GooglePatentClause"; "" for UnidentifiedLicense
}

// license turns the detected license into an SPDX license expression for
// licenseDeclared/licenseConcluded ("" means NOASSERTION), the text of the
// license comment, and the license references the expression names.
//
// s is an SPDX license expression, or ids of licenses found in separate
// files (all in force), comma-separated or joined with AND. Ids on the SPDX
// License List are written as the list spells them; other ids become
// LicenseRef-<id> (licensecheck's GooglePatentClause, the additional patent
// grant of the Go project's PATENTS files, becomes
// LicenseRef-GooglePatentClause); a NOASSERTION part (a license file modgate
// could not identify) becomes [UnidentifiedLicense]. s alone NOASSERTION, or
// anything that is not a license expression, is NOASSERTION, with the text
// kept only in the comment, so a hostile license string can never break the
// license fields.
func license(s string, files []string) (expr, note string, refs []licenseRef) {
	raw := line(s)
	if raw == "" || raw == noAssertion {
		return "", "", nil
	}
	expr = raw
	if strings.Contains(raw, ",") {
		parts := strings.Split(raw, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if len(parts) > 1 {
			expr = "(" + strings.Join(parts, ") AND (") + ")"
		}
	}
	var fs []string
	for _, f := range files {
		if f = line(f); f != "" {
			fs = append(fs, f)
		}
	}
	sort.Strings(fs)
	from := ""
	if len(fs) > 0 {
		from = " from " + strings.Join(fs, ", ")
	}
	if !validExpression(expr) {
		return "", "modgate detected a license that is not an SPDX license expression" + from + ": " + text(s), nil
	}
	expr, refs, ok := listIDs(simplifyParens(expr))
	if !ok {
		return "", "modgate detected a license that is not an SPDX license expression" + from + ": " + text(s), nil
	}
	if onlyUnidentified(expr) {
		// Nothing identified at all: say so with the value SPDX has for it.
		return "", "modgate found license files" + from + " but could not identify their license (automatic detection).", nil
	}
	note = "Detected by modgate" + from + " (automatic detection, not a legal review)."
	for _, r := range refs {
		if r.detected == "" {
			note += " " + r.id + ": a license file modgate could not identify."
		} else {
			note += " " + r.id + ": " + r.detected + " as modgate's detector names it; not on the SPDX License List."
		}
	}
	return expr, note, refs
}

// listIDs rewrites the ids of a valid expression: ids on the SPDX License
// List (and exceptions after WITH) as the list spells them, NOASSERTION as
// [UnidentifiedLicense], any other id as LicenseRef-<id>. It returns the
// references the result names, sorted, and false for an exception that is
// not on the list (SPDX 2.3 has no reference for exceptions).
func listIDs(expr string) (string, []licenseRef, bool) {
	toks := tokenize(expr)
	seen := map[string]bool{}
	var refs []licenseRef
	addRef := func(r licenseRef) {
		if !seen[r.id] {
			seen[r.id] = true
			refs = append(refs, r)
		}
	}
	for i, t := range toks {
		switch {
		case t == "(" || t == ")" || t == "AND" || t == "OR" || t == "WITH":
			continue
		case i > 0 && toks[i-1] == "WITH":
			ok, canon := spdxlicenses.IsException(t)
			if !ok {
				return "", nil, false
			}
			toks[i] = canon
			continue
		case strings.HasPrefix(t, "DocumentRef-"):
			continue // a license of another document: declared there
		case strings.HasPrefix(t, "LicenseRef-"):
			addRef(licenseRef{id: t, detected: strings.TrimPrefix(t, "LicenseRef-")})
			continue
		case t == noAssertion:
			toks[i] = UnidentifiedLicense
			addRef(licenseRef{id: UnidentifiedLicense})
			continue
		}
		base, plus := strings.CutSuffix(t, "+")
		if ok, canon := spdxlicenses.IsActiveLicense(base); ok {
			toks[i] = canon + suffix(plus)
			continue
		}
		if ok, canon := spdxlicenses.IsDeprecatedLicense(base); ok {
			toks[i] = canon + suffix(plus)
			continue
		}
		toks[i] = "LicenseRef-" + base
		addRef(licenseRef{id: toks[i], detected: base})
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].id < refs[j].id })
	return join(toks), refs, true
}

// onlyUnidentified reports whether expr names no license but
// [UnidentifiedLicense].
func onlyUnidentified(expr string) bool {
	for _, t := range tokenize(expr) {
		if t != "(" && t != ")" && t != "AND" && t != "OR" && t != UnidentifiedLicense {
			return false
		}
	}
	return true
}

func suffix(plus bool) string {
	if plus {
		return "+"
	}
	return ""
}

// simplifyParens drops the parentheses license() added around single ids.
func simplifyParens(expr string) string {
	toks := tokenize(expr)
	var out []string
	for i := 0; i < len(toks); i++ {
		if toks[i] == "(" && i+2 < len(toks) && toks[i+2] == ")" && isID(toks[i+1]) {
			out = append(out, toks[i+1])
			i += 2
			continue
		}
		out = append(out, toks[i])
	}
	return join(out)
}

// join writes tokens as an expression: spaces between them, none inside
// parentheses.
func join(toks []string) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && t != ")" && toks[i-1] != "(" {
			b.WriteByte(' ')
		}
		b.WriteString(t)
	}
	return b.String()
}

func tokenize(s string) []string {
	var toks []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch r {
		case '(', ')':
			flush()
			toks = append(toks, string(r))
		case ' ', '\t':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return toks
}

// isID reports whether t is a license id, "id+", "LicenseRef-x" or
// "DocumentRef-x:LicenseRef-y" (SPDX 2.3 annex D: idstring = 1*(ALPHA /
// DIGIT / "-" / ".")).
func isID(t string) bool {
	if t == "AND" || t == "OR" || t == "WITH" {
		return false
	}
	if doc, ref, ok := strings.Cut(t, ":"); ok {
		return strings.HasPrefix(doc, "DocumentRef-") && idstring(doc) &&
			strings.HasPrefix(ref, "LicenseRef-") && idstring(ref)
	}
	return idstring(strings.TrimSuffix(t, "+"))
}

func idstring(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validExpression reports whether s is an SPDX license expression:
//
//	compound = simple [WITH exception] / compound (AND / OR) compound / "(" compound ")"
func validExpression(s string) bool {
	toks := tokenize(s)
	p := exprParser{toks: toks}
	return p.compound() && p.pos == len(toks)
}

type exprParser struct {
	toks []string
	pos  int
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *exprParser) compound() bool {
	if !p.term() {
		return false
	}
	for p.peek() == "AND" || p.peek() == "OR" {
		p.pos++
		if !p.term() {
			return false
		}
	}
	return true
}

func (p *exprParser) term() bool {
	switch t := p.peek(); {
	case t == "(":
		p.pos++
		if !p.compound() || p.peek() != ")" {
			return false
		}
		p.pos++
		return true
	case isID(t):
		p.pos++
		if p.peek() == "WITH" {
			p.pos++
			if e := p.peek(); !idstring(e) || e == "AND" || e == "OR" || e == "WITH" {
				return false
			}
			p.pos++
		}
		return true
	}
	return false
}
