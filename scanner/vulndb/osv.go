// Package vulndb reads the Go vulnerability database (https://go.dev/security/vuln/database)
// in its documented "v1" layout and matches module versions against its OSV
// entries the way govulncheck does.
//
// The layout, served over https:// or read from a file:// directory:
//
//	index/db.json       {"modified": T}: the database version
//	index/modules.json  every module path with the ids (and modified times) of its entries
//	index/vulns.json    every entry id with its modified time and aliases
//	ID/<id>.json        one OSV entry (schema 1.3.1)
//
// Over http(s) each endpoint is fetched as <endpoint>.json.gz and gunzipped here;
// from a file:// directory the .json files are read. [Client] does only that;
// keeping a copy up to date is the caller's business.
//
// Matching ([Entry.Affects]) follows the rules govulncheck applies at module
// level: an entry affects path@version when some affected block names path
// exactly and its SEMVER ranges, read as half-open intervals [introduced, fixed)
// in golang.org/x/mod/semver order, contain the version. Versions are module
// versions with the "v" prefix; for the pseudo-modules "stdlib" and "toolchain"
// use [GoSemver] to turn a Go release ("go1.21rc2") into one ("v1.21.0-rc.2").
package vulndb

import (
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/semver"
)

// The pseudo-module paths of the database: the standard library and the go
// command with the compiler tools.
const (
	Stdlib    = "stdlib"
	Toolchain = "toolchain"
)

// Review statuses of an entry (database_specific.review_status). An absent
// status means reviewed.
const (
	Reviewed   = "REVIEWED"
	Unreviewed = "UNREVIEWED"
)

// Entry is the subset of an OSV entry that matching and reporting need.
type Entry struct {
	SchemaVersion    string            `json:"schema_version,omitempty"`
	ID               string            `json:"id"`
	Modified         time.Time         `json:"modified"`
	Published        time.Time         `json:"published,omitempty"`
	Withdrawn        *time.Time        `json:"withdrawn,omitempty"`
	Aliases          []string          `json:"aliases,omitempty"`
	Summary          string            `json:"summary,omitempty"`
	Details          string            `json:"details,omitempty"`
	Affected         []Affected        `json:"affected"`
	DatabaseSpecific *DatabaseSpecific `json:"database_specific,omitempty"`
}

// Affected is one affected block: a module and its vulnerable version ranges
// and, in OSV records from other sources, an explicit list of versions.
type Affected struct {
	Package           Package           `json:"package"`
	Ranges            []Range           `json:"ranges,omitempty"`
	Versions          []string          `json:"versions,omitempty"`
	EcosystemSpecific EcosystemSpecific `json:"ecosystem_specific"`
}

// Package names a module ("stdlib" and "toolchain" included).
type Package struct {
	Name      string `json:"name"`
	Ecosystem string `json:"ecosystem"`
}

// Range is a version range; types SEMVER and ECOSYSTEM (for the Go ecosystem,
// Go module versions: semver) are matched, GIT is not.
type Range struct {
	Type   string  `json:"type"`
	Events []Event `json:"events"`
}

// Event is exactly one of Introduced and Fixed: a version without the "v"
// prefix, or "0" for Introduced from the first version.
type Event struct {
	Introduced string `json:"introduced,omitempty"`
	Fixed      string `json:"fixed,omitempty"`
}

// EcosystemSpecific lists the vulnerable packages and symbols.
type EcosystemSpecific struct {
	Imports []Import `json:"imports,omitempty"`
}

// Import is a vulnerable package, optionally restricted to platforms and symbols.
type Import struct {
	Path    string   `json:"path"`
	GOOS    []string `json:"goos,omitempty"`
	GOARCH  []string `json:"goarch,omitempty"`
	Symbols []string `json:"symbols,omitempty"`
}

// DatabaseSpecific holds the Go database's own fields.
type DatabaseSpecific struct {
	URL          string `json:"url,omitempty"`
	ReviewStatus string `json:"review_status,omitempty"`
}

// ReviewStatus returns the entry's review status, [Reviewed] when absent.
func (e *Entry) ReviewStatus() string {
	if e.DatabaseSpecific == nil || e.DatabaseSpecific.ReviewStatus == "" {
		return Reviewed
	}
	return e.DatabaseSpecific.ReviewStatus
}

// IsWithdrawn reports whether the entry was withdrawn at or before now. A
// withdrawn entry is kept for history and never counts as affecting anything.
func (e *Entry) IsWithdrawn(now time.Time) bool {
	return e.Withdrawn != nil && !e.Withdrawn.After(now)
}

// Modules returns the distinct module paths the entry's affected blocks name,
// in order of first appearance.
func (e *Entry) Modules() []string {
	var mods []string
	for _, a := range e.Affected {
		if !slices.Contains(mods, a.Package.Name) {
			mods = append(mods, a.Package.Name)
		}
	}
	return mods
}

// Affects reports whether the entry's ranges for module path contain version
// (a module version with the "v" prefix, e.g. "v1.2.3", a pseudo-version or a
// "+incompatible" version; for stdlib and toolchain the output of [GoSemver]).
// Withdrawal is not considered here (see [Entry.IsWithdrawn]). An empty, invalid
// or "(devel)" version is never affected: validate versions before relying on a
// "no".
func (e *Entry) Affects(path, version string) bool {
	if !semver.IsValid(version) {
		return false
	}
	for _, a := range e.Affected {
		if a.goModule() && SamePath(a.Package.Name, path) && a.affects(version) {
			return true
		}
	}
	return false
}

// PathKeys returns the keys ([PathKey]) of the module paths of the entry's
// Go blocks, each once: [Entry.Affects] and [Entry.FixedIn] are false and ""
// for a path whose key is not among them, so a caller matching many paths
// against many entries can look the entries of a path up by its key.
func (e *Entry) PathKeys() []string {
	var keys []string
	for _, a := range e.Affected {
		if k := PathKey(a.Package.Name); a.goModule() && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// goModule reports whether the block is about a Go module: ecosystem "Go" (or
// none, as in hand-written Go database entries).
func (a *Affected) goModule() bool {
	return a.Package.Ecosystem == "" || a.Package.Ecosystem == "Go"
}

// affects is OSV's rule for one block: version is affected when it is in
// Versions or in a range; a block with neither affects every version.
func (a *Affected) affects(version string) bool {
	if len(a.Versions) == 0 {
		return affectsSemver(a.Ranges, version)
	}
	for _, v := range a.Versions {
		if !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		if semver.Compare(v, version) == 0 && semver.IsValid(v) {
			return true
		}
	}
	for _, r := range a.Ranges {
		if matchedRange(r.Type) && containsSemver(r.Events, version) {
			return true
		}
	}
	return false
}

// caseInsensitiveHosts are code hosts whose repository paths are not case
// sensitive: github.com/Evil/X and github.com/evil/x are the same code.
var caseInsensitiveHosts = []string{"github.com/", "gitlab.com/", "bitbucket.org/"}

// SamePath reports whether module paths a and b name the same module: equal,
// or equal but for case on a host whose paths are case-insensitive.
func SamePath(a, b string) bool {
	return a == b || PathKey(a) == PathKey(b)
}

// PathKey is the key under which a module path is matched: the path
// lower-cased on hosts whose paths are case-insensitive (see [SamePath]), else
// the path as is.
func PathKey(path string) string {
	if CaseInsensitive(path) {
		return strings.ToLower(path)
	}
	return path
}

// CaseInsensitive reports whether path is on a host whose paths are
// case-insensitive (github.com, gitlab.com, bitbucket.org).
func CaseInsensitive(path string) bool {
	for _, h := range caseInsensitiveHosts {
		if len(path) >= len(h) && strings.EqualFold(path[:len(h)], h) {
			return true
		}
	}
	return false
}

func matchedRange(typ string) bool { return typ == "SEMVER" || typ == "ECOSYSTEM" }

// FixedIn returns the version (with the "v" prefix) that fixes the entry for
// path@version: the lowest fixed event above version, among the blocks for
// path, that is not itself inside any of the module's ranges (so a fix that a
// later introduced event re-opens is skipped). It returns "" when there is none.
func (e *Entry) FixedIn(path, version string) string {
	var ranges []Range
	for _, a := range e.Affected {
		if a.goModule() && SamePath(a.Package.Name, path) && len(a.Versions) == 0 {
			ranges = append(ranges, a.Ranges...)
		}
	}
	best := ""
	for _, r := range ranges {
		if !matchedRange(r.Type) {
			continue
		}
		for _, ev := range r.Events {
			if ev.Fixed == "" {
				continue
			}
			f := "v" + ev.Fixed
			if semver.Compare(f, version) <= 0 || affectsSemver(ranges, f) {
				continue
			}
			if best == "" || semver.Compare(f, best) < 0 {
				best = f
			}
		}
	}
	return best
}

// affectsSemver is govulncheck's rule: no ranges, or no SEMVER (or ECOSYSTEM)
// range, means every version; otherwise some such range must contain v.
func affectsSemver(ranges []Range, v string) bool {
	present := false
	for _, r := range ranges {
		if !matchedRange(r.Type) {
			continue
		}
		present = true
		if containsSemver(r.Events, v) {
			return true
		}
	}
	return !present
}

// containsSemver walks the events in ascending order ("0" first): v is
// affected from an introduced event up to, not including, the next fixed one.
func containsSemver(events []Event, v string) bool {
	if len(events) == 0 {
		return true
	}
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(a, b Event) int {
		av, bv := eventVersion(a), eventVersion(b)
		switch {
		case av == "0" && bv == "0":
			return 0
		case av == "0":
			return -1
		case bv == "0":
			return 1
		}
		return semver.Compare("v"+av, "v"+bv)
	})
	affected := false
	for _, ev := range sorted {
		if !affected && ev.Introduced != "" {
			affected = ev.Introduced == "0" || semver.Compare(v, "v"+ev.Introduced) >= 0
		} else if affected && ev.Fixed != "" {
			affected = semver.Compare(v, "v"+ev.Fixed) < 0
		}
	}
	return affected
}

func eventVersion(e Event) string {
	if e.Introduced != "" {
		return e.Introduced
	}
	return e.Fixed
}

// GoSemver turns a Go release name into the semver form the database uses for
// stdlib and toolchain, with the "v" prefix: "go1.21.3" → "v1.21.3", "go1.21" →
// "v1.21.0", "go1.21rc2" → "v1.21.0-rc.2", "go1.21beta1" → "v1.21.0-beta.1",
// "go1.9" → "v1.9.0". It returns "" for anything else.
func GoSemver(goVersion string) string {
	v, ok := strings.CutPrefix(goVersion, "go")
	if !ok || v == "" {
		return ""
	}
	pre := ""
	for _, tag := range []string{"rc", "beta", "alpha"} {
		if i := strings.Index(v, tag); i > 0 {
			num := v[i+len(tag):]
			if num == "" || strings.Trim(num, "0123456789") != "" {
				return ""
			}
			pre = "-" + tag + "." + num
			v = v[:i]
			break
		}
	}
	parts := strings.Split(v, ".")
	switch len(parts) {
	case 2:
		parts = append(parts, "0")
	case 3:
	default:
		return ""
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" || (len(p) > 1 && p[0] == '0') {
			return ""
		}
	}
	sv := "v" + strings.Join(parts, ".") + pre
	if !semver.IsValid(sv) {
		return ""
	}
	return sv
}

// ToolchainModule is the module path under which the go command downloads
// toolchains through GOPROXY.
const ToolchainModule = "golang.org/toolchain"

// ToolchainGo returns the Go release of a golang.org/toolchain module version
// ("v0.0.1-go1.21.3.linux-amd64" → "go1.21.3"), or "" if version is not one.
func ToolchainGo(version string) string {
	rest, ok := strings.CutPrefix(version, "v0.0.1-")
	if !ok {
		return ""
	}
	// The release is followed by ".GOOS-GOARCH"; a release itself has at most
	// two dots, so cut at the last dot before the platform.
	i := strings.LastIndex(rest, ".")
	if i < 0 || !strings.Contains(rest[i+1:], "-") {
		return ""
	}
	goV := rest[:i]
	if GoSemver(goV) == "" {
		return ""
	}
	return goV
}
