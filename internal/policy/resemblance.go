package policy

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/modgate/modgate/internal/store"
)

// The resemblance rules (scanner.Resemblance): a path that resembles a
// known one, a zip that copies another module's stored version.
const (
	// RuleLookalike is a module path that resembles a path this
	// organisation fetched or a widely used public module (one edit,
	// transposed or doubled letters, a go affix, a case-only or vanity
	// twin).
	RuleLookalike = "lookalike"
	// RuleClone is a zip whose files are at least 90% identical to a stored
	// version of another module; RuleCloneCaps one whose added or changed
	// files add capabilities the original does not use; RuleCloneUnknown
	// one whose added or changed files could not be analysed.
	RuleClone        = "clone"
	RuleCloneCaps    = "clone.with_new_capabilities"
	RuleCloneUnknown = "clone.unknown"
)

// NeverExpires is the expiry of an exemption granted for good (`modgate
// exempt add --expires never`, for the look-alike rule only: a path, once
// reviewed, stays what it is).
var NeverExpires = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// resemblanceRules are the look-alike and clone rules of a policy.
type resemblanceRules struct {
	lookalike Action // default warn
	clone     Action // a clone that adds no capability; default warn
	cloneCaps Action // a clone whose added or changed files add capabilities; default block
	// cloneUnknown is for a clone whose added or changed files could not
	// be analysed; "" means as cloneCaps.
	cloneUnknown Action
}

func defaultResemblance() resemblanceRules {
	return resemblanceRules{lookalike: Warn, clone: Warn, cloneCaps: Block}
}

func (o resemblanceRules) cloneUnknownAction() Action {
	if o.cloneUnknown != "" {
		return o.cloneUnknown
	}
	if o.cloneCaps == Off {
		return Warn
	}
	return o.cloneCaps
}

// lookalike parses "lookalike: block | warn | off".
func (ps *parser) lookalike(v *yaml.Node, r *rules) {
	ps.action(v, "lookalike", &r.resemblance.lookalike)
}

// clone parses "clone: warn" (the action of every clone finding but those
// that add capabilities) or "clone: {action: warn, with_new_capabilities:
// block, unknown: block}".
func (ps *parser) clone(v *yaml.Node, r *rules) {
	if v.Kind == yaml.ScalarNode {
		ps.action(v, "clone", &r.resemblance.clone)
		return
	}
	ps.mapping(v, "clone", []field{
		{"action", func(v *yaml.Node) { ps.action(v, "clone.action", &r.resemblance.clone) }},
		{"with_new_capabilities", func(v *yaml.Node) {
			ps.action(v, "clone.with_new_capabilities", &r.resemblance.cloneCaps)
		}},
		{"unknown", func(v *yaml.Node) { ps.unknownAction(v, "clone.unknown", &r.resemblance.cloneUnknown) }},
	})
}

// findings are the look-alike finding of in's path and the clone finding of
// its zip.
func (o resemblanceRules) findings(in Input) []candidate {
	var out []candidate
	if c := in.Lookalike; c != nil && c.Resembles != "" && o.lookalike != Off {
		out = append(out, candidate{Finding: Finding{Rule: RuleLookalike, Action: o.lookalike, Reason: LookalikeReason(c)}})
	}
	c := in.Clone
	if c == nil || c.Original.Path == "" {
		return out
	}
	reason := CloneReason(c)
	newFiles := len(c.Added) + len(c.Changed)
	switch {
	case newFiles > 0 && !c.CapabilitiesKnown:
		if a := o.cloneUnknownAction(); a != Off {
			out = append(out, candidate{Finding: Finding{Rule: RuleCloneUnknown, Action: a,
				Reason: reason + "; the capabilities of its added and changed files were not analysed"}})
		}
	case len(c.Capabilities) > 0 && o.cloneCaps != Off:
		out = append(out, candidate{Finding: Finding{Rule: RuleCloneCaps, Action: o.cloneCaps, Reason: reason}})
	case o.clone != Off:
		out = append(out, candidate{Finding: Finding{Rule: RuleClone, Action: o.clone, Reason: reason}})
	}
	return out
}

// LookalikeReason says what a path resembles: "1 edit from
// github.com/shopspring/decimal (shopsprint for shopspring), fetched here
// (40 versions)".
func LookalikeReason(c *store.PathCheck) string {
	s := oneLine(c.How, 200)
	switch {
	case c.Uses > 0 && c.Listed:
		s += fmt.Sprintf(", a widely used module fetched here (%s)", plural(c.Uses, "version"))
	case c.Uses > 0:
		s += fmt.Sprintf(", fetched here (%s)", plural(c.Uses, "version"))
	case c.Listed:
		s += ", a widely used public module"
	}
	if c.Others > 0 {
		s += fmt.Sprintf("; and %s", plural(c.Others, "more known path"))
	}
	return s
}

// CloneReason says which capabilities a version's copy brings, what it
// copies and what it adds: "adds EXEC in loader.go:12; copies
// github.com/shopspring/decimal@v1.3.1 (92% of its files identical); added:
// loader.go".
func CloneReason(c *store.Clone) string {
	orig := oneLine(c.Original.Path, 120) + "@" + oneLine(c.Original.Version, 40)
	if c.ModuleLineOnly {
		return "a fork of " + orig + ": identical but for its go.mod module line"
	}
	// What the copy adds goes first: a refusal shortens the end.
	s := ""
	if len(c.Capabilities) > 0 {
		s = "adds " + fileList(c.Capabilities) + "; "
	}
	s += fmt.Sprintf("copies %s (%d%% of its files identical)", orig, c.Similarity/10)
	if len(c.Added) > 0 {
		s += "; added: " + fileList(c.Added)
	}
	if len(c.Changed) > 0 {
		s += "; changed: " + fileList(c.Changed)
	}
	return s
}

// fileList shows up to 3 entries of l, one line each: "a.go, b.go and 4
// more".
func fileList(l []string) string {
	var parts []string
	for i, f := range l {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more", len(l)-3))
			break
		}
		parts = append(parts, oneLine(f, 80))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
