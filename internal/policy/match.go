package policy

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// A pathPattern is one module path pattern in GOPRIVATE syntax: a glob
// ([path.Match]) matched against a prefix of a module path's elements, so
// "github.com/evil/*" matches "github.com/evil/x" and "github.com/evil/x/v2",
// and "example.com/old" matches "example.com/old" and "example.com/old/sub"
// ([module.MatchPrefixPatterns]).
type pathPattern string

func (p pathPattern) match(modPath string) bool {
	return module.MatchPrefixPatterns(string(p), modPath)
}

// checkPattern reports whether p is a usable path pattern: not empty, one
// pattern (no commas or spaces), and a valid glob in every element.
func checkPattern(p string) error {
	switch {
	case p == "":
		return errors.New("empty module path pattern")
	case strings.ContainsAny(p, ", \t\n@"):
		return fmt.Errorf("module path pattern %q: want one pattern without commas, spaces or @", p)
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//"):
		return fmt.Errorf("module path pattern %q: empty path element", p)
	}
	for _, elem := range strings.Split(p, "/") {
		if _, err := path.Match(elem, ""); err != nil {
			return fmt.Errorf("module path pattern %q: bad glob %q", p, elem)
		}
	}
	if !isGlob(p) {
		if err := module.CheckImportPath(p); err != nil {
			return fmt.Errorf("module path pattern %q: %v", p, err)
		}
	}
	return nil
}

func isGlob(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// A constraint selects versions: nil selects every version; otherwise every
// comparison must hold.
type constraint []comparison

type comparison struct {
	op      string // "<", "<=", ">", ">=", "="
	version string // canonical semantic version
}

// parseConstraint parses "" (every version), an exact version ("v1.2.3",
// "=v1.2.3") or comparisons joined by commas ("<v1.4.0", ">=v1.2.0,<v1.3.0").
func parseConstraint(s string) (constraint, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var c constraint
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		op := "="
		for _, o := range []string{"<=", ">=", "<", ">", "="} {
			if rest, ok := strings.CutPrefix(part, o); ok {
				op, part = o, strings.TrimSpace(rest)
				break
			}
		}
		if !semver.IsValid(part) {
			return nil, fmt.Errorf("version constraint %q: %q is not a semantic version (want v1.2.3, <v1.4.0, >=v1.2.0,<v1.3.0, ...)", s, part)
		}
		c = append(c, comparison{op: op, version: part})
	}
	return c, nil
}

// match reports whether version v satisfies every comparison. A version
// that is not a semantic version satisfies only the empty constraint.
func (c constraint) match(v string) bool {
	if len(c) == 0 {
		return true
	}
	if !semver.IsValid(v) {
		return false
	}
	for _, cmp := range c {
		n := semver.Compare(v, cmp.version)
		var ok bool
		switch cmp.op {
		case "<":
			ok = n < 0
		case "<=":
			ok = n <= 0
		case ">":
			ok = n > 0
		case ">=":
			ok = n >= 0
		default:
			ok = n == 0
		}
		if !ok {
			return false
		}
	}
	return true
}

// A moduleRule is one entry of modules.deny or modules.allow: a path pattern
// and an optional version constraint ("example.com/old@<v1.4.0").
type moduleRule struct {
	text    string // as written
	pattern pathPattern
	vers    constraint
}

func parseModuleRule(s string) (moduleRule, error) {
	p, v, _ := strings.Cut(s, "@")
	if err := checkPattern(p); err != nil {
		return moduleRule{}, err
	}
	c, err := parseConstraint(v)
	if err != nil {
		return moduleRule{}, err
	}
	if strings.Contains(s, "@") && c == nil {
		return moduleRule{}, fmt.Errorf("%q: empty version constraint after @", s)
	}
	return moduleRule{text: s, pattern: pathPattern(p), vers: c}, nil
}

func (r moduleRule) match(m module.Version) bool {
	return r.pattern.match(m.Path) && r.vers.match(m.Version)
}

// matchExemptionModule matches an exemption's Module: an exact module path,
// or, when it holds a glob character, a pattern in GOPRIVATE syntax. An exact
// path does not match the modules below it ("example.com/m" is not
// "example.com/m/v2"), so an exemption never reaches further than written.
func matchExemptionModule(pattern, modPath string) bool {
	if !isGlob(pattern) {
		return pattern == modPath
	}
	return module.MatchPrefixPatterns(pattern, modPath)
}
