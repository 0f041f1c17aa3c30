package policy

import (
	"fmt"
	"strings"

	"github.com/modgate/modgate/scanner/caps"
)

// Summary describes the policy in a few lines, for logs and status pages:
// where it came from, the mode, and each rule that is not off with its action.
func (p *Policy) Summary() string {
	if p == nil {
		p = Default()
	}
	r := &p.rules
	var b strings.Builder
	src := p.Source
	if src == "" {
		src = "default policy (no file)"
	}
	hide := ""
	if p.HideBlocked {
		hide = ", hide_blocked"
	}
	fmt.Fprintf(&b, "%s: mode %s%s\n", src, p.Mode, hide)

	vul := fmt.Sprintf("vulnerabilities: %s (unreviewed: %s", r.vulnAction, r.unreviewed)
	if r.onlyFixed {
		vul += ", only_fixed"
	}
	if len(r.ignore) > 0 {
		vul += ", ignore " + strings.Join(r.ignore, " ")
	}
	vul += ")"
	if a := r.vulnUnknownAction(); a != Off {
		vul += ", missing data: " + string(a)
	}
	b.WriteString(vul + "\n")
	if r.malware == Off {
		b.WriteString("malware: off\n")
	} else {
		fmt.Fprintf(&b, "malware: %s, unknown: %s\n", r.malware, r.malwareUnknownAction())
	}

	switch {
	case r.modulesAction == Off || len(r.deny)+len(r.allow) == 0:
		b.WriteString("modules: off\n")
	default:
		var parts []string
		if len(r.deny) > 0 {
			parts = append(parts, fmt.Sprintf("deny %d", len(r.deny)))
		}
		if len(r.allow) > 0 {
			parts = append(parts, fmt.Sprintf("allow only %d", len(r.allow)))
		}
		fmt.Fprintf(&b, "modules: %s (%s)\n", strings.Join(parts, ", "), r.modulesAction)
	}
	fmt.Fprintf(&b, "retracted: %s, deprecated: %s, withdrawn: %s, origin_changed: %s\n", r.retracted, r.deprecated, r.withdrawn, r.originChanged)
	fmt.Fprintf(&b, "lookalike: %s, clone: %s (with new capabilities: %s, unknown: %s)\n",
		r.resemblance.lookalike, r.resemblance.clone, r.resemblance.cloneCaps, r.resemblance.cloneUnknownAction())

	if r.minAge == 0 || r.minAgeAction == Off {
		b.WriteString("min_age: off\n")
	} else {
		except := ""
		if len(r.minAgeExcept) > 0 {
			except = fmt.Sprintf(", %d exceptions", len(r.minAgeExcept))
		}
		fixes := "hold"
		if r.minAgeFixes {
			fixes = "allow"
		}
		fmt.Fprintf(&b, "min_age: %s (%s%s), unknown: %s, fixes: %s\n", fmtDuration(r.minAge), r.minAgeAction, except, r.minAgeUnknownAction(), fixes)
	}

	lic := "licenses: deny none"
	if len(r.licenseDeny) > 0 && r.licenseAction != Off {
		lic = fmt.Sprintf("licenses: deny %s (%s)", strings.Join(r.licenseDeny, " "), r.licenseAction)
	}
	fmt.Fprintf(&b, "%s, unknown: %s", lic, r.licenseUnknown)
	if a := r.licenseUnscannedAction(); a != Off {
		fmt.Fprintf(&b, ", unscanned: %s", a)
	}
	b.WriteString("\n")

	if r.maxZipSize == 0 || r.maxZipAction == Off {
		b.WriteString("max_zip_size: off")
	} else {
		fmt.Fprintf(&b, "max_zip_size: %s (%s, unknown: %s)", formatSize(r.maxZipSize), r.maxZipAction, r.maxZipUnknownAction())
	}
	c := &r.caps
	short := func(cs []caps.Capability) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.Short())
		}
		if len(s) == 0 {
			return "none"
		}
		return strings.Join(s, " ")
	}
	if !p.UsesCapabilities() {
		b.WriteString("\ncapabilities: off")
	} else {
		fmt.Fprintf(&b, "\ncapabilities: new %s, in_init %s (%s), binaries: %s, unknown: %s",
			short(c.newCaps), short(c.initCaps), c.action, c.binaries, c.unknownAction())
	}
	return b.String()
}
