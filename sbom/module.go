package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// Module is what modgate knows about one module version. Only Path and
// Version are required; every other zero value means "unknown" and renders
// as NOASSERTION or is left out.
type Module struct {
	Path    string
	Version string

	// Time is the version's publication time (SPDX releaseDate, CycloneDX
	// property modgate:published): see [PublishTime]. Never the time modgate
	// first saw the version. Zero: unknown, and left out.
	Time time.Time
	// TimeSource says where Time came from, as modgate's store names it
	// ("module-index", "upstream-last-modified", "checksum-database",
	// "info-time"): stated beside it (an SPDX package comment line, the
	// CycloneDX property modgate:published.source). Empty: not stated.
	TimeSource string

	// SHA256 and SHA512 are lower-case hex digests of the module zip's bytes;
	// empty: not known (for example, only the go.mod was fetched).
	SHA256 string
	SHA512 string

	// H1 and ModH1 are the go.sum hashes ("h1:...") of the zip and of go.mod.
	H1    string
	ModH1 string

	// DownloadLocation is the absolute http(s) URL of the zip on the proxy;
	// empty: NOASSERTION.
	DownloadLocation string

	// License is the detected license: an SPDX license expression
	// ("MIT", "Apache-2.0 OR MIT") or a comma-separated list of ids found in
	// separate license files, which are all in force and so are joined with
	// AND. Ids the SPDX License List lacks become LicenseRef-<id> and a
	// NOASSERTION part becomes [UnidentifiedLicense] (see the package
	// documentation). Empty or NOASSERTION: not detected (NOASSERTION).
	License string
	// LicenseFiles names the files the license was detected in ("LICENSE").
	LicenseFiles []string
	// Copyright is the copyright text found; empty: NOASSERTION.
	Copyright string

	// Supplier overrides the derived supplier: "Organization: Name",
	// "Person: Name" or "NOASSERTION"; a bare name is an organization.
	// Empty: derived from the module path by [Supplier].
	Supplier string

	// Requires are the requirements in the version's go.mod.
	Requires []module.Version

	// Vulns are the vulnerabilities known to affect this version.
	Vulns []Vuln

	// Status is what modgate did with the version, for project and window
	// SBOMs: one of the Status constants; empty: not shown.
	Status string
}

// The statuses of a version in project and window SBOMs, from the audit
// log. Only the zip counts as served: the go command reads the .info and
// .mod of many versions it never builds.
const (
	// StatusServed: modgate served the version's zip (at least once in
	// the SBOM's scope, even if it refuses it now).
	StatusServed = "served"
	// StatusBlocked: modgate refused the version's zip (403) and never
	// served it.
	StatusBlocked = "blocked"
	// StatusMetadataOnly: modgate served only the version's .info or .mod
	// (minimal version selection read its go.mod); no zip was asked for.
	StatusMetadataOnly = "metadata only"
	// StatusNotFetched: modgate has no record of serving any file of the
	// version (a project SBOM's module fetched elsewhere, or before the
	// audit log's retention).
	StatusNotFetched = "not fetched"
)

// Vuln is one known vulnerability of a module version.
type Vuln struct {
	ID      string   // "GO-2024-0001"; required
	Aliases []string // "CVE-2024-1234", "GHSA-xxxx-xxxx-xxxx"
	Summary string
	// URL is the advisory; empty or not an absolute http(s) URL: the ID's
	// page in its database (https://pkg.go.dev/vuln/<ID> for GO- ids, GitHub
	// advisories for GHSA-, NVD for CVE-, else https://osv.dev/vulnerability/<ID>).
	URL   string
	Fixed string // the first fixed version; empty: no fix known
}

// Project is a build list (a project's go.mod and go.sum, or everything a
// client fetched in a time window) rendered as one document.
type Project struct {
	// Name names the document and its root package, e.g. the main module
	// path or "client ci-bot, March 2025"; required.
	Name string
	// Version of the root, optional.
	Version string
	// Requires are the root's direct requirements. Nil: every module in
	// Modules is a direct dependency of the root (a window SBOM).
	Requires []module.Version
	// Note, if set, is written on the root (its package comment in SPDX,
	// the property modgate:note in CycloneDX): what the document leaves out.
	Note string
	// Modules are the versions in the build list, each with its own
	// requirements. A requirement edge points to the version of that path
	// present in Modules (the exact one, else the highest, as minimal version
	// selection would choose); a path absent from Modules becomes a package
	// with only its name, version and purl.
	Modules []Module
}

// Options are the generation settings. Created and Namespace are required so
// that output never depends on the environment.
type Options struct {
	// Created is the document creation time (injected clock); it is written
	// in UTC with second precision.
	Created time.Time
	// Namespace is the absolute http(s) URL under which document namespaces
	// are minted, e.g. "https://modgate.example.com/sbom".
	Namespace string
	// ToolVersion is modgate's version, written as creator "Tool: modgate-<v>";
	// empty: "devel".
	ToolVersion string
	// Organization, if set, is also named as a creator (SPDX) and author
	// (CycloneDX) of the document.
	Organization string
}

// component is one normalized package of a graph.
type component struct {
	mod       module.Version
	name      string // module path, or the project name for a project root
	purl      string // empty for a project root
	spdxID    string // without the "SPDXRef-" prefix
	bomRef    string
	supplier  supplier
	sha256    string
	sha512    string
	h1, modH1 string
	download  string // "" means NOASSERTION
	license   string // valid expression, or "" for NOASSERTION
	licNote   string
	licRefs   []licenseRef // the LicenseRef- ids license names
	copyright string
	published time.Time
	pubSource string
	status    string
	note      string // a project root's Project.Note
	vulns     []vuln
	deps      []*component
	stub      bool // only name/version/purl known
	root      bool
}

type vuln struct {
	id, summary, url, fixed string
	aliases                 []string
}

type supplier struct {
	typ  string // "Organization", "Person" or "" for NOASSERTION
	name string
}

// graph is the normalized form both renderers work from.
type graph struct {
	root  *component
	comps []*component // every component but root, sorted by path then version
	opts  Options
}

var (
	hexRE = regexp.MustCompile(`^[0-9a-f]+$`)
	h1RE  = regexp.MustCompile(`^h1:[A-Za-z0-9+/]{43}=$`)
)

func checkOptions(o Options) error {
	if o.Created.IsZero() {
		return errors.New("sbom: Options.Created is zero")
	}
	if !httpURL(o.Namespace) || strings.ContainsAny(o.Namespace, "?#") {
		return fmt.Errorf("sbom: Options.Namespace %q is not an absolute http(s) URL without query or fragment", o.Namespace)
	}
	return nil
}

// httpURL reports whether s is an absolute http or https URL with a host and
// no space or control character.
func httpURL(s string) bool {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r > 0x7e }) >= 0 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// newComponent validates m and returns its normalized component.
func newComponent(m Module) (*component, error) {
	mv := module.Version{Path: m.Path, Version: m.Version}
	if err := checkModule(mv); err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) error {
		return &module.ModuleError{Path: m.Path, Version: m.Version, Err: fmt.Errorf(format, args...)}
	}
	if m.SHA256 != "" && (len(m.SHA256) != 64 || !hexRE.MatchString(m.SHA256)) {
		return nil, fail("SHA256 %q is not 64 lower-case hex digits", m.SHA256)
	}
	if m.SHA512 != "" && (len(m.SHA512) != 128 || !hexRE.MatchString(m.SHA512)) {
		return nil, fail("SHA512 %q is not 128 lower-case hex digits", m.SHA512)
	}
	if m.H1 != "" && !h1RE.MatchString(m.H1) {
		return nil, fail("H1 %q is not an h1: hash", m.H1)
	}
	if m.ModH1 != "" && !h1RE.MatchString(m.ModH1) {
		return nil, fail("ModH1 %q is not an h1: hash", m.ModH1)
	}
	c := componentOf(mv)
	c.sha256, c.sha512, c.h1, c.modH1 = m.SHA256, m.SHA512, m.H1, m.ModH1
	c.stub = false
	if httpURL(m.DownloadLocation) {
		c.download = m.DownloadLocation
	}
	if m.Supplier != "" {
		c.supplier = parseSupplier(m.Supplier)
	}
	c.license, c.licNote, c.licRefs = license(m.License, m.LicenseFiles)
	c.copyright = text(m.Copyright)
	if !m.Time.IsZero() {
		c.published = m.Time.UTC().Truncate(time.Second)
		c.pubSource = line(m.TimeSource)
	}
	c.status = line(m.Status)
	seen := map[string]bool{}
	for _, v := range m.Vulns {
		id := line(v.ID)
		if id == "" {
			return nil, fail("vulnerability without an ID")
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		nv := vuln{id: id, summary: text(v.Summary), fixed: line(v.Fixed)}
		for _, a := range v.Aliases {
			if a = line(a); a != "" && a != id {
				nv.aliases = append(nv.aliases, a)
			}
		}
		sort.Strings(nv.aliases)
		nv.url = v.URL
		if !httpURL(nv.url) {
			nv.url = advisoryURL(id)
		}
		c.vulns = append(c.vulns, nv)
	}
	sort.Slice(c.vulns, func(i, j int) bool { return c.vulns[i].id < c.vulns[j].id })
	return c, nil
}

// checkModule is [module.Check] with every failure a *module.ModuleError.
func checkModule(m module.Version) error {
	err := module.Check(m.Path, m.Version)
	var merr *module.ModuleError
	if err != nil && !errors.As(err, &merr) {
		err = &module.ModuleError{Path: m.Path, Version: m.Version, Err: err}
	}
	return err
}

// componentOf returns a stub component of a requirement: only what the path
// and version say.
func componentOf(mv module.Version) *component {
	return &component{
		mod:      mv,
		name:     mv.Path,
		purl:     PURL(mv),
		spdxID:   elementID("Package", mv.Path+"@"+mv.Version),
		bomRef:   PURL(mv),
		supplier: deriveSupplier(mv.Path),
		stub:     true,
	}
}

// advisoryURL is the default advisory page of a vulnerability id.
func advisoryURL(id string) string {
	switch {
	case strings.HasPrefix(id, "GO-"):
		return "https://pkg.go.dev/vuln/" + url.PathEscape(id)
	case strings.HasPrefix(id, "GHSA-"):
		return "https://github.com/advisories/" + url.PathEscape(id)
	case strings.HasPrefix(id, "CVE-"):
		return "https://nvd.nist.gov/vuln/detail/" + url.PathEscape(id)
	}
	return "https://osv.dev/vulnerability/" + url.PathEscape(id)
}

// elementID returns an SPDX element id (without "SPDXRef-"): a readable form
// of key plus a short hash of it, since the readable form folds characters.
func elementID(kind, key string) string {
	var b strings.Builder
	for _, r := range key {
		if r < utf8.RuneSelf && (r == '.' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
		if b.Len() >= 80 {
			break
		}
	}
	sum := sha256.Sum256([]byte(key))
	return kind + "-" + b.String() + "-" + hex.EncodeToString(sum[:4])
}

// line makes s a safe single-line value: valid UTF-8, no control or line
// separator characters (each becomes a space), no surrounding space.
func line(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// entity makes s a safe name of a person or organization: a [line] without
// '"' and '\' (they become ' and /). tools-golang reads supplier and creator
// fields without JSON unescaping, so those two characters would not survive
// its reader.
func entity(s string) string {
	return strings.NewReplacer(`"`, "'", `\`, "/").Replace(line(s))
}

// text makes s safe free text: valid UTF-8, "\n" line ends, no control
// characters but newline and tab, no surrounding space.
func text(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r' || r == '\u2028' || r == '\u2029':
			return '\n'
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// moduleGraph is the graph of a single-version SBOM.
func moduleGraph(m Module, opts Options) (*graph, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	root, err := newComponent(m)
	if err != nil {
		return nil, err
	}
	root.root = true
	g := &graph{root: root, opts: opts}
	reqs, err := checkRequires(root.mod, m.Requires)
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		c := componentOf(r)
		root.deps = append(root.deps, c)
		g.comps = append(g.comps, c)
	}
	return g, nil
}

// checkRequires validates and sorts a requirement list, dropping duplicates.
func checkRequires(of module.Version, reqs []module.Version) ([]module.Version, error) {
	out := make([]module.Version, 0, len(reqs))
	seen := map[module.Version]bool{}
	for _, r := range reqs {
		if err := checkModule(r); err != nil {
			return nil, &module.ModuleError{Path: of.Path, Version: of.Version, Err: fmt.Errorf("requirement: %w", err)}
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	module.Sort(out)
	return out, nil
}

// projectGraph is the graph of a project or window SBOM.
func projectGraph(p Project, opts Options) (*graph, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	name := line(p.Name)
	if name == "" {
		return nil, errors.New("sbom: project without a name")
	}
	root := &component{
		note:     text(p.Note),
		name:     name,
		mod:      module.Version{Path: name, Version: line(p.Version)},
		spdxID:   elementID("Project", name),
		bomRef:   "project:" + name,
		supplier: parseSupplier(opts.Organization),
		root:     true,
		stub:     true,
	}
	g := &graph{root: root, opts: opts}
	byMod := map[module.Version]*component{}
	byPath := map[string][]*component{}
	for _, m := range p.Modules {
		c, err := newComponent(m)
		if err != nil {
			return nil, err
		}
		if byMod[c.mod] != nil {
			return nil, &module.ModuleError{Path: m.Path, Version: m.Version, Err: errors.New("listed twice in the project")}
		}
		byMod[c.mod] = c
		byPath[c.mod.Path] = append(byPath[c.mod.Path], c)
		g.comps = append(g.comps, c)
	}
	// resolve finds the component a requirement selects, adding a stub for a
	// path that is not in the build list.
	resolve := func(r module.Version) *component {
		if c := byMod[r]; c != nil {
			return c
		}
		if cs := byPath[r.Path]; len(cs) > 0 {
			best := cs[0]
			for _, c := range cs[1:] {
				if semver.Compare(c.mod.Version, best.mod.Version) > 0 {
					best = c
				}
			}
			return best
		}
		c := componentOf(r)
		byMod[r] = c
		byPath[r.Path] = append(byPath[r.Path], c)
		g.comps = append(g.comps, c)
		return c
	}
	// Resolve requirements in input order of the (sorted) modules, so stubs
	// are deterministic.
	sortComponents(g.comps)
	for _, m := range sortedModules(p.Modules) {
		c := byMod[module.Version{Path: m.Path, Version: m.Version}]
		reqs, err := checkRequires(c.mod, m.Requires)
		if err != nil {
			return nil, err
		}
		for _, r := range reqs {
			if d := resolve(r); d != c {
				c.deps = appendUnique(c.deps, d)
			}
		}
	}
	if p.Requires == nil {
		for _, c := range g.comps {
			if !c.stub {
				root.deps = append(root.deps, c)
			}
		}
	} else {
		reqs, err := checkRequires(module.Version{Path: name}, p.Requires)
		if err != nil {
			return nil, err
		}
		for _, r := range reqs {
			root.deps = appendUnique(root.deps, resolve(r))
		}
	}
	sortComponents(g.comps)
	return g, nil
}

func appendUnique(list []*component, c *component) []*component {
	for _, x := range list {
		if x == c {
			return list
		}
	}
	return append(list, c)
}

func sortedModules(ms []Module) []Module {
	out := append([]Module(nil), ms...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return semver.Compare(out[i].Version, out[j].Version) < 0
	})
	return out
}

func sortComponents(cs []*component) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].mod.Path != cs[j].mod.Path {
			return cs[i].mod.Path < cs[j].mod.Path
		}
		return semver.Compare(cs[i].mod.Version, cs[j].mod.Version) < 0
	})
}
