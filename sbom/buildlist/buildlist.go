// Package buildlist reads a Go project's build list, the modules its build
// fetches, from its go.mod and go.sum, or from the output of `go list -m all`
// or a list of module@version lines. It runs no go command and does no I/O:
// callers pass the bytes. Project SBOMs and `modgate check` read their input
// with it.
package buildlist

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// Parse reads a project's build list from its go.mod (nil if not
// given) and a list (nil if not given) in any of these line forms, which may
// be mixed:
//
//	path@version                   a list of module versions
//	path                           the main module (first line of `go list -m all`)
//	path version                   a module (`go list -m all`)
//	path version => path2 version2 a replaced module: path2@version2 is built
//	path version => ./dir          a module replaced by a directory: skipped
//	path version h1:...            a go.sum line: the module's zip is needed
//	path version/go.mod h1:...     a go.sum line of a go.mod only: skipped
//
// Empty lines and lines starting with "#" or "//" are ignored.
//
// The build list is every require of the go.mod (replacements applied; since
// Go 1.17 a go.mod lists every module that provides a package to the build)
// and every module of the list, keeping the highest version of each path as
// minimal version selection does. The most exact input is the output of
// `go list -m all` in the project. Name is the go.mod's module path, else the
// main module line of the list; Direct are the go.mod's requires not marked
// "// indirect", or nil without a go.mod.
func Parse(gomod, list []byte) (*List, error) {
	if len(bytes.TrimSpace(gomod)) == 0 && len(bytes.TrimSpace(list)) == 0 {
		return nil, errors.New("empty project: give a go.mod, a go.sum or a list of module@version lines")
	}
	bl := &List{}
	var all []module.Version
	if len(gomod) > 0 {
		f, err := modfile.Parse("go.mod", gomod, nil)
		if err != nil {
			return nil, err
		}
		if f.Module == nil {
			return nil, errors.New("go.mod: no module directive")
		}
		bl.Name = f.Module.Mod.Path
		bl.Direct = []module.Version{}
		for _, r := range f.Require {
			m, ok := replaced(f, r.Mod)
			if !ok {
				continue
			}
			if err := module.Check(m.Path, m.Version); err != nil {
				return nil, fmt.Errorf("go.mod:%d: %w", r.Syntax.Start.Line, err)
			}
			all = append(all, m)
			if !r.Indirect {
				bl.Direct = append(bl.Direct, m)
			}
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(list))
	sc.Buffer(nil, 64<<10)
	for n := 1; sc.Scan(); n++ {
		m, main, err := parseListLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if main != "" && bl.Name == "" {
			bl.Name = main
		}
		if m.Path != "" {
			all = append(all, m)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	bl.Modules = keepHighest(all)
	return bl, nil
}

// List is a project's build list.
type List struct {
	// Name is the main module's path; empty: not known.
	Name string
	// Direct are the main module's direct requirements; nil: not known, and
	// every module is shown as a direct dependency.
	Direct []module.Version
	// Modules is the build list: one version per path, sorted.
	Modules []module.Version
}

// keepHighest returns mods with only the highest version of each path, as
// minimal version selection would choose, sorted.
func keepHighest(mods []module.Version) []module.Version {
	best := map[string]string{}
	for _, m := range mods {
		if v, ok := best[m.Path]; !ok || semver.Compare(m.Version, v) > 0 {
			best[m.Path] = m.Version
		}
	}
	out := make([]module.Version, 0, len(best))
	for p, v := range best {
		out = append(out, module.Version{Path: p, Version: v})
	}
	module.Sort(out)
	return out
}

// replaced applies the go.mod's replacements to m; ok is false for a
// module replaced by a directory (not fetched through a proxy).
func replaced(f *modfile.File, m module.Version) (_ module.Version, ok bool) {
	var match *modfile.Replace
	for _, r := range f.Replace {
		if r.Old.Path == m.Path && (r.Old.Version == m.Version || r.Old.Version == "" && match == nil) {
			match = r
		}
	}
	if match == nil {
		return m, true
	}
	if match.New.Version == "" {
		return module.Version{}, false
	}
	return match.New, true
}

// parseListLine parses one line of a build list (see [Parse]). It
// returns a module, or the name of the main module, or neither.
func parseListLine(line string) (m module.Version, main string, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "//") {
		return module.Version{}, "", nil
	}
	f := strings.Fields(line)
	if i := indexOf(f, "=>"); i >= 0 {
		switch len(f) - i - 1 {
		case 1: // a directory
			return module.Version{}, "", nil
		case 2:
			f = f[i+1:]
		default:
			return module.Version{}, "", errors.New("malformed replacement: want \"path version => path version\"")
		}
	}
	switch {
	case len(f) == 1 && strings.Contains(f[0], "@"):
		path, version, _ := strings.Cut(f[0], "@")
		m = module.Version{Path: path, Version: version}
	case len(f) == 1:
		if err := module.CheckPath(f[0]); err != nil {
			return module.Version{}, "", err
		}
		return module.Version{}, f[0], nil
	case len(f) == 2:
		m = module.Version{Path: f[0], Version: f[1]}
	case len(f) == 3 && strings.HasPrefix(f[2], "h1:"):
		if strings.HasSuffix(f[1], "/go.mod") {
			return module.Version{}, "", nil
		}
		m = module.Version{Path: f[0], Version: f[1]}
	default:
		return module.Version{}, "", errors.New("want path@version, \"path version\" or a go.sum line")
	}
	if err := module.Check(m.Path, m.Version); err != nil {
		return module.Version{}, "", err
	}
	if c := module.CanonicalVersion(m.Version); c != m.Version {
		return module.Version{}, "", fmt.Errorf("%s@%s: version is not canonical (%s)", m.Path, m.Version, c)
	}
	return m, "", nil
}

func indexOf(f []string, s string) int {
	for i, x := range f {
		if x == s {
			return i
		}
	}
	return -1
}
