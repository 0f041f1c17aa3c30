package policy

import "golang.org/x/mod/semver"

// Nearest returns the allowed version nearest to version among versions, to
// offer a developer instead of a refused one: the lowest allowed version above
// version (the smallest upgrade), else the highest allowed version below it;
// "" if none is allowed. Versions that are not semantic versions and version
// itself are skipped, and so are pre-releases (pseudo-versions included)
// unless version is one. allowed is called only for candidates, lowest first
// above version and highest first below it, and not again once the answer is
// known.
func Nearest(version string, versions []string, allowed func(v string) bool) string {
	pre := semver.Prerelease(version) != ""
	var above, below []string
	for _, v := range versions {
		if !semver.IsValid(v) || (!pre && semver.Prerelease(v) != "") {
			continue
		}
		switch c := semver.Compare(v, version); {
		case c > 0 || !semver.IsValid(version):
			above = append(above, v)
		case c < 0:
			below = append(below, v)
		}
	}
	semver.Sort(above)
	semver.Sort(below)
	seen := map[string]bool{}
	for _, v := range above {
		if !seen[v] && allowed(v) {
			return v
		}
		seen[v] = true
	}
	for i := len(below) - 1; i >= 0; i-- {
		if v := below[i]; !seen[v] && allowed(v) {
			return v
		}
		seen[below[i]] = true
	}
	return ""
}
