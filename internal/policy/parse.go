package policy

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// parser walks the YAML node tree of a policy file and collects every error
// with the file's name and the line.
type parser struct {
	name string
	errs []error
}

func (ps *parser) errorf(n *yaml.Node, format string, args ...any) {
	ps.errs = append(ps.errs, fmt.Errorf("%s:%d: %s", ps.name, n.Line, fmt.Sprintf(format, args...)))
}

// field is one key a mapping accepts.
type field struct {
	key   string
	parse func(v *yaml.Node)
}

// mapping calls the parse function of each key of n, which must be a mapping
// whose keys are among fields; where names it in errors ("" for the top level).
func (ps *parser) mapping(n *yaml.Node, where string, fields []field) {
	if n.Kind != yaml.MappingNode {
		ps.errorf(n, "%sexpected a mapping with keys %s", in(where), knownKeys(fields))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var f *field
		for j := range fields {
			if fields[j].key == k.Value {
				f = &fields[j]
			}
		}
		switch {
		case k.Kind != yaml.ScalarNode:
			ps.errorf(k, "%sexpected a key (one of %s)", in(where), knownKeys(fields))
		case f == nil:
			ps.errorf(k, "%sunknown key %q (known: %s)", in(where), k.Value, knownKeys(fields))
		case seen[k.Value]:
			ps.errorf(k, "%s: given twice", join(where, k.Value))
		default:
			seen[k.Value] = true
			f.parse(v)
		}
	}
}

func in(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}

func join(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

func knownKeys(fields []field) string {
	var keys []string
	for _, f := range fields {
		keys = append(keys, f.key)
	}
	return strings.Join(keys, ", ")
}

// scalar returns the value of a scalar node, or reports that key wants one
// (what describes the value) and returns false.
func (ps *parser) scalar(v *yaml.Node, key, what string) (string, bool) {
	if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
		ps.errorf(v, "%s: expected %s", key, what)
		return "", false
	}
	return v.Value, true
}

func (ps *parser) action(v *yaml.Node, key string, dst *Action) {
	s, ok := ps.scalar(v, key, "an action: block, warn or off")
	if !ok {
		return
	}
	switch a := Action(s); a {
	case Block, Warn, Off:
		*dst = a
	default:
		ps.errorf(v, "%s: %q is not an action: want block, warn or off", key, s)
	}
}

// unknownAction parses the action for missing data: block or warn. Off is
// refused: missing data is always recorded.
func (ps *parser) unknownAction(v *yaml.Node, key string, dst *Action) {
	s, ok := ps.scalar(v, key, "block or warn")
	if !ok {
		return
	}
	switch a := Action(s); a {
	case Block, Warn:
		*dst = a
	default:
		ps.errorf(v, "%s: %q: want block or warn (missing data is always recorded; off is not allowed)", key, s)
	}
}

func (ps *parser) boolean(v *yaml.Node, key string, dst *bool) {
	s, ok := ps.scalar(v, key, "true or false")
	if !ok {
		return
	}
	switch s {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		ps.errorf(v, "%s: %q: want true or false", key, s)
	}
}

// list returns the scalars of a sequence (a null value is an empty list).
func (ps *parser) list(v *yaml.Node, key, what string) []string {
	if v.ShortTag() == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		ps.errorf(v, "%s: expected a list of %s", key, what)
		return nil
	}
	var out []string
	for _, e := range v.Content {
		if s, ok := ps.scalar(e, key, what); ok {
			out = append(out, s)
		}
	}
	return out
}

// Parse parses a policy file. name is used in errors, which say the file, the
// line and what was expected for any unknown key or bad value; every error in
// the file is reported, joined, in the order of the file. An empty file is
// [Default]. Parse is pure: the returned policy's Source is name, and Loaded
// is left for the caller to set.
func Parse(name string, data []byte) (*Policy, error) {
	p := Default()
	p.Source = name
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil {
			line = extra.Line
		}
		return nil, fmt.Errorf("%s:%d: expected one YAML document", name, line)
	}
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		return p, nil
	}
	ps := &parser{name: name}
	r := &p.rules
	ps.mapping(doc.Content[0], "", []field{
		{"mode", func(v *yaml.Node) {
			if s, ok := ps.scalar(v, "mode", "enforce or audit"); ok {
				if s != Enforce && s != Audit {
					ps.errorf(v, "mode: %q: want enforce or audit", s)
				}
				p.Mode = s
			}
		}},
		{"hide_blocked", func(v *yaml.Node) { ps.boolean(v, "hide_blocked", &p.HideBlocked) }},
		{"vulnerabilities", func(v *yaml.Node) { ps.vulnerabilities(v, r) }},
		{"modules", func(v *yaml.Node) { ps.modules(v, r) }},
		{"retracted", func(v *yaml.Node) { ps.action(v, "retracted", &r.retracted) }},
		{"deprecated", func(v *yaml.Node) { ps.action(v, "deprecated", &r.deprecated) }},
		{"min_age", func(v *yaml.Node) { ps.minAge(v, r) }},
		{"licenses", func(v *yaml.Node) { ps.licenses(v, r) }},
		{"max_zip_size", func(v *yaml.Node) { ps.maxZipSize(v, r) }},
		{"malware", func(v *yaml.Node) { ps.malware(v, r) }},
		{"capabilities", func(v *yaml.Node) { ps.capabilities(v, r) }},
		{"lookalike", func(v *yaml.Node) { ps.lookalike(v, r) }},
		{"clone", func(v *yaml.Node) { ps.clone(v, r) }},
		{"withdrawn", func(v *yaml.Node) { ps.action(v, "withdrawn", &r.withdrawn) }},
		{"origin_changed", func(v *yaml.Node) { ps.action(v, "origin_changed", &r.originChanged) }},
	})
	if len(ps.errs) > 0 {
		return nil, errors.Join(ps.errs...)
	}
	return p, nil
}

// malware parses "malware: block" or "malware: {action: block, unknown: warn}".
func (ps *parser) malware(v *yaml.Node, r *rules) {
	if v.Kind == yaml.ScalarNode {
		ps.action(v, "malware", &r.malware)
		return
	}
	ps.mapping(v, "malware", []field{
		{"action", func(v *yaml.Node) { ps.action(v, "malware.action", &r.malware) }},
		{"unknown", func(v *yaml.Node) { ps.unknownAction(v, "malware.unknown", &r.malwareUnknown) }},
	})
}

func (ps *parser) vulnerabilities(v *yaml.Node, r *rules) {
	unreviewedSet := false
	if v.Kind == yaml.ScalarNode {
		// The short form: "vulnerabilities: block".
		ps.action(v, "vulnerabilities", &r.vulnAction)
	} else {
		ps.mapping(v, "vulnerabilities", []field{
			{"action", func(v *yaml.Node) { ps.action(v, "vulnerabilities.action", &r.vulnAction) }},
			{"only_fixed", func(v *yaml.Node) { ps.boolean(v, "vulnerabilities.only_fixed", &r.onlyFixed) }},
			{"unreviewed", func(v *yaml.Node) {
				unreviewedSet = true
				ps.action(v, "vulnerabilities.unreviewed", &r.unreviewed)
			}},
			{"ignore", func(v *yaml.Node) {
				for _, id := range ps.list(v, "vulnerabilities.ignore", "advisory IDs or aliases (GO-..., CVE-..., GHSA-...)") {
					r.ignore = append(r.ignore, id)
				}
			}},
			{"unknown", func(v *yaml.Node) { ps.unknownAction(v, "vulnerabilities.unknown", &r.vulnUnknown) }},
		})
	}
	if !unreviewedSet {
		r.unreviewed = r.vulnAction
	}
}

func (ps *parser) modules(v *yaml.Node, r *rules) {
	entries := func(key string, dst *[]moduleRule) func(v *yaml.Node) {
		return func(v *yaml.Node) {
			what := `module path patterns with an optional @version constraint ("github.com/evil/*", "example.com/old@<v1.4.0")`
			if v.ShortTag() == "!!null" {
				return
			}
			if v.Kind != yaml.SequenceNode {
				ps.errorf(v, "%s: expected a list of %s", key, what)
				return
			}
			for _, e := range v.Content {
				s, ok := ps.scalar(e, key, what)
				if !ok {
					continue
				}
				mr, err := parseModuleRule(s)
				if err != nil {
					ps.errorf(e, "%s: %v", key, err)
					continue
				}
				*dst = append(*dst, mr)
			}
		}
	}
	ps.mapping(v, "modules", []field{
		{"deny", entries("modules.deny", &r.deny)},
		{"allow", entries("modules.allow", &r.allow)},
		{"action", func(v *yaml.Node) { ps.action(v, "modules.action", &r.modulesAction) }},
	})
}

func (ps *parser) minAge(v *yaml.Node, r *rules) {
	const what = "a duration (72h, 3d) or a mapping {age: 72h, action: block, except: [patterns], unknown: block, fixes: allow}"
	age := func(v *yaml.Node, key string) {
		s, ok := ps.scalar(v, key, what)
		if !ok {
			return
		}
		d, err := parseDuration(s)
		if err != nil {
			ps.errorf(v, "%s: %v", key, err)
			return
		}
		r.minAge = d
	}
	if v.Kind == yaml.ScalarNode {
		age(v, "min_age")
		return
	}
	if v.Kind != yaml.MappingNode {
		ps.errorf(v, "min_age: expected %s", what)
		return
	}
	ps.mapping(v, "min_age", []field{
		{"age", func(v *yaml.Node) { age(v, "min_age.age") }},
		{"action", func(v *yaml.Node) { ps.action(v, "min_age.action", &r.minAgeAction) }},
		{"except", func(v *yaml.Node) { r.minAgeExcept = ps.patterns(v, "min_age.except") }},
		{"unknown", func(v *yaml.Node) { ps.unknownAction(v, "min_age.unknown", &r.minAgeUnknown) }},
		{"fixes", func(v *yaml.Node) {
			if s, ok := ps.scalar(v, "min_age.fixes", "allow or hold"); ok {
				switch s {
				case "allow", "hold":
					r.minAgeFixes = s == "allow"
				default:
					ps.errorf(v, "min_age.fixes: %q: want allow or hold", s)
				}
			}
		}},
	})
}

func (ps *parser) patterns(v *yaml.Node, key string) []pathPattern {
	if v.ShortTag() == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		ps.errorf(v, `%s: expected a list of module path patterns ("golang.org/toolchain", "corp.example.com/*")`, key)
		return nil
	}
	var out []pathPattern
	for _, e := range v.Content {
		s, ok := ps.scalar(e, key, "a module path pattern")
		if !ok {
			continue
		}
		if err := checkPattern(s); err != nil {
			ps.errorf(e, "%s: %v", key, err)
			continue
		}
		out = append(out, pathPattern(s))
	}
	return out
}

func (ps *parser) licenses(v *yaml.Node, r *rules) {
	ps.mapping(v, "licenses", []field{
		{"deny", func(v *yaml.Node) {
			r.licenseDeny = ps.list(v, "licenses.deny", "SPDX license IDs (AGPL-3.0-only, SSPL-1.0, ...)")
		}},
		{"action", func(v *yaml.Node) { ps.action(v, "licenses.action", &r.licenseAction) }},
		{"unknown", func(v *yaml.Node) { ps.action(v, "licenses.unknown", &r.licenseUnknown) }},
		{"unscanned", func(v *yaml.Node) { ps.unknownAction(v, "licenses.unscanned", &r.licenseUnscanned) }},
	})
}

func (ps *parser) maxZipSize(v *yaml.Node, r *rules) {
	const what = "a size (200MB, 1GiB, 500000000) or a mapping {size: 200MB, action: block, unknown: block}"
	size := func(v *yaml.Node, key string) {
		s, ok := ps.scalar(v, key, what)
		if !ok {
			return
		}
		n, err := parseSize(s)
		if err != nil {
			ps.errorf(v, "%s: %v", key, err)
			return
		}
		r.maxZipSize = n
	}
	if v.Kind == yaml.ScalarNode {
		size(v, "max_zip_size")
		return
	}
	if v.Kind != yaml.MappingNode {
		ps.errorf(v, "max_zip_size: expected %s", what)
		return
	}
	ps.mapping(v, "max_zip_size", []field{
		{"size", func(v *yaml.Node) { size(v, "max_zip_size.size") }},
		{"action", func(v *yaml.Node) { ps.action(v, "max_zip_size.action", &r.maxZipAction) }},
		{"unknown", func(v *yaml.Node) { ps.unknownAction(v, "max_zip_size.unknown", &r.maxZipUnknown) }},
	})
}

// parseDuration parses a Go duration ("72h", "90m") or whole days ("3d");
// "0" is zero. Negative durations are refused.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q: want a duration such as 72h, 90m or 3d", s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, bad
		}
		return time.Duration(v) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, bad
	}
	return d, nil
}

// sizeUnits are the units of sizes: decimal (kB, MB, GB, TB: powers of 1000)
// and binary (KiB, MiB, GiB, TiB: powers of 1024), case-insensitive.
var sizeUnits = []struct {
	name string
	mult float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1},
}

// parseSize parses a size in bytes: "200MB", "1.5GiB", "500000000", "0".
func parseSize(s string) (int64, error) {
	bad := fmt.Errorf("%q: want a size such as 200MB, 1GiB or a number of bytes", s)
	num, mult := strings.TrimSpace(s), 1.0
	lower := strings.ToLower(num)
	for _, u := range sizeUnits {
		if strings.HasSuffix(lower, u.name) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.name)]), u.mult
			break
		}
	}
	if mult == 1 {
		if n, err := strconv.ParseInt(num, 10, 64); err == nil && n >= 0 {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f*mult >= math.MaxInt64 {
		return 0, bad
	}
	return int64(f * mult), nil
}

// formatSize renders n bytes for a developer: "262144000 bytes (262.1 MB)".
func formatSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
