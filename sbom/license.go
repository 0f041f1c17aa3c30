package sbom

import (
	"sort"
	"strings"
)

// license turns the detected license into an SPDX license expression for
// licenseDeclared/licenseConcluded ("" means NOASSERTION) and the text of
// the license comment.
//
// s is an SPDX license expression, or comma-separated ids of licenses found
// in separate files (all in force: joined with AND). Anything that is not a
// syntactically valid expression is kept only in the comment, so a hostile
// license string can never break the license fields. Ids are not checked
// against the SPDX license list; modgate's detector emits list ids or
// LicenseRef- ids.
func license(s string, files []string) (expr, note string) {
	raw := line(s)
	if raw == "" || raw == "NOASSERTION" {
		return "", ""
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
		return "", "modgate detected a license that is not an SPDX license expression" + from + ": " + text(s)
	}
	expr = simplifyParens(expr)
	return expr, "Detected by modgate" + from + " (automatic detection, not a legal review)."
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
	var b strings.Builder
	for i, t := range out {
		if i > 0 && t != ")" && out[i-1] != "(" {
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
