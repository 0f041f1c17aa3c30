package policy

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner/caps"
)

// The capability rules' names (see [Policy] and package scanner/caps).
const (
	// RuleCapNew is a version that adds a listed capability (capabilities.new)
	// that the version before it (store.CapabilityFacts.Base) did not have.
	RuleCapNew = "capabilities.new"
	// RuleCapInit is a version that adds a listed capability reached from
	// package initialisation (capabilities.in_init).
	RuleCapInit = "capabilities.in_init"
	// RuleCapBinary is a version that adds a program (ELF, Mach-O, PE, a #!
	// script, a .syso object) outside testdata.
	RuleCapBinary = "capabilities.binaries"
	// RuleCapUnknown is a zip about to be served whose capabilities are not
	// known, or that has a listed capability while the version before it
	// could not be analysed to compare with.
	RuleCapUnknown = "capabilities.unknown"
)

// capRules is the policy's capabilities rule.
type capRules struct {
	newCaps, initCaps []caps.Capability
	action            Action
	binaries          Action
	// unknown decides when the facts are missing; "" means block when the
	// rule blocks, else warn.
	unknown Action
}

// defaultCaps is the capabilities rule without a policy file: block a version
// that newly runs programs, reaches the network or loads plugins from package
// initialisation (what github.com/shopsprint/decimal v1.3.3 did), and warn on
// new programs in the zip. On the hugo build graph (see README) it blocks
// nothing.
func defaultCaps() capRules {
	return capRules{initCaps: []caps.Capability{caps.Exec, caps.Network, caps.Plugin}, action: Block, binaries: Warn}
}

// UsesCapabilities reports whether a decision on a zip needs its capability
// facts (Input.Capabilities).
func (p *Policy) UsesCapabilities() bool {
	if p == nil {
		p = Default()
	}
	c := &p.rules.caps
	return (len(c.newCaps) > 0 || len(c.initCaps) > 0) && c.action != Off || c.binaries != Off && c.binaries != ""
}

func (c *capRules) unknownAction() Action {
	if c.unknown != "" {
		return c.unknown
	}
	if c.action == Block && (len(c.newCaps) > 0 || len(c.initCaps) > 0) || c.binaries == Block {
		return Block
	}
	return Warn
}

// capFindings are the capability findings of a version: from its facts when
// known; when they are not, a capabilities.unknown finding for a zip about to
// be served.
func (r *rules) capFindings(in Input) []candidate {
	c := &r.caps
	if !(&Policy{rules: *r}).UsesCapabilities() {
		return nil
	}
	f := in.Capabilities
	switch {
	case f == nil && !in.Zip:
		return nil
	case f == nil:
		return []candidate{{Finding: Finding{Rule: RuleCapUnknown, Action: c.unknownAction(),
			Reason: "the capability pass has not run on this zip: modgate cannot say what the version adds"}}}
	case f.Failed != "":
		return []candidate{{Finding: Finding{Rule: RuleCapUnknown, Action: c.unknownAction(),
			Reason: "the capability pass failed: " + oneLine(f.Failed, 200)}}}
	}
	if big := caps.Unanalysed(f.Skipped); len(big) > 0 {
		more := ""
		if len(big) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(big)-1)
		}
		return []candidate{{Finding: Finding{Rule: RuleCapUnknown, Action: c.unknownAction(),
			Reason: "not analysed: " + oneLine(big[0], 200) + more + ": what that code can do is unknown"}}}
	}
	var out []candidate
	if c.action != Off {
		var added, inInit []store.CapabilityUse
		for _, u := range f.Added {
			if u.Init && listed(c.initCaps, u.Capability) {
				inInit = append(inInit, u)
			} else if !u.Had && listed(c.newCaps, u.Capability) {
				added = append(added, u)
			}
		}
		if len(inInit) > 0 {
			out = append(out, candidate{Finding: Finding{Rule: RuleCapInit, Action: c.action,
				Reason: describeUses(inInit, true) + "; not in " + f.Base}})
		}
		if len(added) > 0 {
			out = append(out, candidate{Finding: Finding{Rule: RuleCapNew, Action: c.action,
				Reason: describeUses(added, false) + "; not in " + f.Base}})
		}
		// Without a version to compare with, a listed capability the
		// version has cannot be shown old: missing data, unless the version
		// is the module's first.
		if f.Base == "" && f.BaseNote != "" && !strings.HasPrefix(f.BaseNote, FirstVersionNote) {
			var has []store.CapabilityUse
			for _, u := range f.Uses {
				if !u.Main && (listed(c.newCaps, u.Capability) || u.Init && listed(c.initCaps, u.Capability)) {
					has = append(has, u)
				}
			}
			if len(has) > 0 {
				out = append(out, candidate{Finding: Finding{Rule: RuleCapUnknown, Action: c.unknownAction(),
					Reason: describeUses(has, false) + "; cannot tell whether that is new: " + oneLine(f.BaseNote, 160)}})
			}
		}
	}
	if c.binaries != Off && c.binaries != "" && len(f.AddedBinaries) > 0 {
		var names []string
		for i, b := range f.AddedBinaries {
			if i == 3 {
				names = append(names, fmt.Sprintf("and %d more", len(f.AddedBinaries)-3))
				break
			}
			names = append(names, oneLine(b.File, 80)+" ("+b.Kind+")")
		}
		since := ""
		if f.Base != "" {
			since = "; not in " + f.Base
		}
		out = append(out, candidate{Finding: Finding{Rule: RuleCapBinary, Action: c.binaries,
			Reason: "programs in the zip: " + strings.Join(names, ", ") + since}})
	}
	return out
}

// NeedsCapabilityBase reports whether a decision on the version with facts f
// depends on what the version before it had: f has a capability the policy
// lists (reached from initialisation, for in_init), or a program outside
// testdata while binaries is on. Without, no earlier version needs fetching
// to compare with.
func (p *Policy) NeedsCapabilityBase(f *store.CapabilityFacts) bool {
	if p == nil {
		p = Default()
	}
	c := &p.rules.caps
	if f == nil || f.Failed != "" {
		return false
	}
	if c.action != Off {
		for _, u := range f.Uses {
			if !u.Main && (listed(c.newCaps, u.Capability) || u.Init && listed(c.initCaps, u.Capability)) {
				return true
			}
		}
	}
	if c.binaries != Off && c.binaries != "" {
		for _, b := range f.Binaries {
			if !b.Testdata {
				return true
			}
		}
	}
	return false
}

// FirstVersionNote starts the BaseNote of a version that has no lower
// version to compare with.
const FirstVersionNote = "no earlier version"

func listed(list []caps.Capability, name string) bool {
	for _, c := range list {
		if string(c) == name {
			return true
		}
	}
	return false
}

// describeUses renders uses for a developer: "EXEC at decimal.go:20,
// NETWORK at decimal.go:16 in example.test/decimal, run from init (init →
// poll)".
func describeUses(us []store.CapabilityUse, init bool) string {
	var parts []string
	samePkg := true
	for _, u := range us {
		samePkg = samePkg && u.Package == us[0].Package
	}
	for i, u := range us {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("and %d more", len(us)-4))
			break
		}
		s := fmt.Sprintf("%s at %s:%d", caps.Capability(u.Capability).Short(), oneLine(u.File, 80), u.Line)
		if !samePkg {
			s += " in " + oneLine(u.Package, 80)
		}
		parts = append(parts, s)
	}
	out := strings.Join(parts, ", ")
	if samePkg {
		out += " in " + oneLine(us[0].Package, 100)
	}
	if init {
		out += ", run from init"
		if us[0].InitPath != "" && us[0].InitPath != "init" {
			out += " (" + oneLine(us[0].InitPath, 60) + ")"
		}
	}
	return out
}

// CapabilityReport converts stored facts to the pass's report, for
// [caps.Added] and [caps.NewBinaries].
func CapabilityReport(f *store.CapabilityFacts) *caps.Report {
	if f == nil || f.Failed != "" {
		return nil
	}
	r := &caps.Report{Files: f.Files, Skipped: f.Skipped}
	for _, u := range f.Uses {
		r.Uses = append(r.Uses, caps.Use{Package: u.Package, Capability: caps.Capability(u.Capability), File: u.File,
			Line: u.Line, Via: u.Via, Init: u.Init, InitPath: u.InitPath, Main: u.Main})
	}
	for _, b := range f.Binaries {
		r.Binaries = append(r.Binaries, caps.Binary{File: b.File, Kind: b.Kind, Testdata: b.Testdata})
	}
	return r
}

// CapabilityUses converts the pass's uses to stored ones.
func CapabilityUses(us []caps.Use) []store.CapabilityUse {
	var out []store.CapabilityUse
	for _, u := range us {
		out = append(out, store.CapabilityUse{Package: u.Package, Capability: string(u.Capability), File: u.File,
			Line: u.Line, Via: u.Via, Init: u.Init, InitPath: u.InitPath, Main: u.Main})
	}
	return out
}

// CapabilityBinaries converts the pass's binaries to stored ones.
func CapabilityBinaries(bs []caps.Binary) []store.BinaryFile {
	var out []store.BinaryFile
	for _, b := range bs {
		out = append(out, store.BinaryFile{File: b.File, Kind: b.Kind, Testdata: b.Testdata})
	}
	return out
}

// CompareCapabilities fills next's Added and AddedBinaries against base (the
// previous version's facts) and sets next.Base.
func CompareCapabilities(base, next *store.CapabilityFacts) {
	b, n := CapabilityReport(base), CapabilityReport(next)
	if b == nil || n == nil {
		return
	}
	next.Base, next.BaseNote = base.Module.Version, ""
	next.Added = CapabilityUses(caps.Added(b, n))
	for i, u := range next.Added {
		next.Added[i].Had = b.Has(caps.Capability(u.Capability), false)
	}
	next.AddedBinaries = CapabilityBinaries(caps.NewBinaries(b, n))
}

// parseCapabilities parses capabilities: {new: [...], in_init: [...],
// action: block, binaries: warn, unknown: block}.
func (ps *parser) capabilities(v *yaml.Node, r *rules) {
	list := func(key string, dst *[]caps.Capability) func(v *yaml.Node) {
		return func(v *yaml.Node) {
			*dst = nil
			for _, name := range ps.list(v, key, "capability names (EXEC, NETWORK, FILES_WRITE, UNSAFE, CGO, ASSEMBLY, PLUGIN, REFLECT_CALL, ENV, ...)") {
				cs, err := caps.Parse(name)
				if err != nil {
					ps.errorf(v, "%s: %v", key, err)
					continue
				}
				for _, c := range cs {
					if !listed(*dst, string(c)) {
						*dst = append(*dst, c)
					}
				}
			}
		}
	}
	ps.mapping(v, "capabilities", []field{
		{"new", list("capabilities.new", &r.caps.newCaps)},
		{"in_init", list("capabilities.in_init", &r.caps.initCaps)},
		{"action", func(v *yaml.Node) { ps.action(v, "capabilities.action", &r.caps.action) }},
		{"binaries", func(v *yaml.Node) { ps.action(v, "capabilities.binaries", &r.caps.binaries) }},
		{"unknown", func(v *yaml.Node) { ps.unknownAction(v, "capabilities.unknown", &r.caps.unknown) }},
	})
}
