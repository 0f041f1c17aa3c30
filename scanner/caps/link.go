package caps

import (
	"encoding/binary"
	"fmt"
	"path"
	"sort"
	"strings"
)

// The link: the file summaries of a package, resolved against the
// package's own functions, methods and variables and the module's other
// packages (analysed first, in the order the imports give), into the graph
// of pkgInfo nodes that reach, computeInit and uses search.

type linker struct {
	modPath string
	files   map[string]*fileSum
	dirs    map[string][]string // directory -> its .go, .s and .syso files
	pkgs    map[string]*pkgInfo // by directory; nil while being analysed
	rep     *Report
	// uses is each package's entry in the report, computed as soon as it
	// is linked; pending counts the packages of the module that import a
	// package and are not linked yet: at zero its graph is dropped, so the
	// memory the link holds is the graphs still needed, not the module's.
	uses    map[string][]Use
	pending map[string]int
}

func (p *Pass) link() *Report {
	a := &linker{modPath: p.modPath, files: p.files, dirs: map[string][]string{}, pkgs: map[string]*pkgInfo{}, rep: &Report{},
		uses: map[string][]Use{}, pending: map[string]int{}}
	names := make([]string, 0, len(p.files)+len(p.asm))
	for n := range p.files {
		names = append(names, n)
	}
	for n := range p.asm {
		if !ignoredPath(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		dir := path.Dir(n)
		if dir == "." {
			dir = ""
		}
		a.dirs[dir] = append(a.dirs[dir], n)
	}
	dirs := make([]string, 0, len(a.dirs))
	for d := range a.dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		for _, e := range a.importsOf(d) {
			a.pending[e]++
		}
	}
	for _, d := range dirs {
		a.pkg(d)
	}
	for _, d := range dirs {
		a.rep.Uses = append(a.rep.Uses, a.uses[d]...)
	}
	sortUses(a.rep.Uses)
	return a.rep
}

// importsOf is the module's packages (directories) the files of dir import.
func (a *linker) importsOf(dir string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range a.dirs[dir] {
		f := a.files[n]
		if f == nil {
			continue
		}
		for _, is := range f.imports {
			if d, ok := a.inModule(is.path); ok && d != dir && !seen[d] {
				if _, ok := a.dirs[d]; ok {
					seen[d] = true
					out = append(out, d)
				}
			}
		}
	}
	return out
}

// done records that the package in dir is linked (p, or nil for none):
// its uses are kept, its summaries dropped, and the graphs no package still
// to be linked needs are dropped.
func (a *linker) done(dir string, p *pkgInfo, deps []string) {
	if p != nil {
		a.uses[dir] = p.uses()
	}
	for _, n := range a.dirs[dir] {
		delete(a.files, n)
	}
	for _, e := range deps {
		a.pending[e]--
		if a.pending[e] == 0 {
			a.pkgs[e].release()
		}
	}
	if a.pending[dir] == 0 {
		p.release()
	}
}

func (a *linker) inModule(ip string) (dir string, ok bool) {
	if ip != a.modPath && !strings.HasPrefix(ip, a.modPath+"/") {
		return "", false
	}
	return strings.TrimPrefix(strings.TrimPrefix(ip, a.modPath), "/"), true
}

// pkg analyses the package in directory dir (once), after the packages of
// the module it imports.
func (a *linker) pkg(dir string) *pkgInfo {
	if p, ok := a.pkgs[dir]; ok {
		return p // nil while in progress: an import cycle, which does not build
	}
	a.pkgs[dir] = nil
	deps := a.importsOf(dir)
	p := &pkgInfo{path: a.modPath, nodes: map[string]*node{}, memo: map[string][]site{}}
	if dir != "" {
		p.path = a.modPath + "/" + dir
	}
	var files []*fileSum
	hasAsm := false
	for _, n := range a.dirs[dir] {
		switch path.Ext(n) {
		case ".s":
			hasAsm = true
			p.fileSites = append(p.fileSites, site{cap: Assembly, file: n, line: 1, via: path.Base(n)})
			continue
		case ".syso":
			continue
		}
		f := a.files[n]
		if f.overLimit > 0 {
			a.rep.Skipped = append(a.rep.Skipped, fmt.Sprintf("%s: %d bytes%s %d", n, f.overLimit, overLimit, MaxGoFile))
			continue
		}
		if !f.buildable {
			continue
		}
		files = append(files, f)
	}
	// The module's packages this one imports first.
	for _, f := range files {
		for _, is := range f.imports {
			if d, ok := a.inModule(is.path); ok && d != dir {
				if _, ok := a.dirs[d]; ok {
					a.pkg(d)
				}
			}
		}
	}
	parsed := files[:0]
	for _, f := range files {
		switch f.fail {
		case "":
			a.rep.Files++
			parsed = append(parsed, f)
		case "deep":
			a.rep.Skipped = append(a.rep.Skipped, fmt.Sprintf("%s: nesting%s %d", f.name, overLimit, maxDepth))
		default:
			a.rep.Skipped = append(a.rep.Skipped, fmt.Sprintf("%s: does not parse: %s", f.name, f.fail))
		}
	}
	files = parsed
	if len(files) == 0 && !hasAsm {
		a.done(dir, nil, deps)
		return nil
	}
	count := map[string]int{}
	for _, f := range files {
		count[f.pkg]++
	}
	for n, c := range count {
		if c > count[p.name] || c == count[p.name] && n < p.name {
			p.name = n
		}
	}
	p.main = p.name == "main"

	// Top-level names first: calls refer to them in any order.
	l := &pkgLink{a: a, p: p, funcs: map[string]string{}, methods: map[string][]string{}, vars: map[string]string{}, groups: map[string]string{}}
	p.methods = l.methods
	for _, f := range files {
		f.eachDecl(func(d *declSum) {
			switch d.kind {
			case dVar:
				key := fmt.Sprintf("v:%s:%d", f.name, d.line)
				for _, id := range d.names {
					l.vars[f.nameAt(id)] = key
				}
			case dFunc:
				l.funcs[f.nameAt(d.name)] = "f:" + f.nameAt(d.name)
			case dMethod:
				name := f.nameAt(d.name)
				l.methods[name] = append(l.methods[name], "m:"+f.nameAt(d.recv)+"."+name)
			}
		})
	}
	for _, f := range files {
		if f.pkg != p.name {
			continue
		}
		l.file(f, hasAsm)
	}
	p.initUses = p.computeInit()
	a.pkgs[dir] = p
	a.done(dir, p, deps)
	return p
}

// pkgLink resolves one package's summaries.
type pkgLink struct {
	a       *linker
	p       *pkgInfo
	funcs   map[string]string   // name -> node key
	methods map[string][]string // name -> node keys
	vars    map[string]string   // name -> node key
	groups  map[string]string   // method name -> its group's key in calls ("M:name")

	// the file being linked
	f      *fileSum
	refs   []importRef
	byName map[string]importRef
	dots   []importRef
}

func (l *pkgLink) file(f *fileSum, hasAsm bool) {
	p := l.p
	l.f = f
	l.imports(f)
	for _, ln := range f.linknames {
		p.fileSites = append(p.fileSites, site{cap: Linkname, file: f.name, line: ln, via: "//go:linkname"})
	}
	f.eachDecl(func(d *declSum) {
		switch d.kind {
		case dFunc, dMethod, dInit:
			dname := f.nameAt(d.name)
			key, name := "f:"+dname, dname
			switch d.kind {
			case dMethod:
				recv := f.nameAt(d.recv)
				key, name = "m:"+recv+"."+dname, "("+recv+")."+dname
			case dInit:
				key = fmt.Sprintf("i:%s:%d", f.name, d.line)
				p.roots = append(p.roots, key)
			}
			n := p.node(key, name)
			if d.noBody && hasAsm {
				n.sites = append(n.sites, site{cap: Assembly, file: f.name, line: int(d.line), via: "func " + dname + " (assembly)"})
			}
			if !d.noBody {
				l.replay(n, d.ev)
			}
		case dVar:
			key := fmt.Sprintf("v:%s:%d", f.name, d.line)
			n := p.node(key, "var "+f.nameAt(d.name))
			l.replay(n, d.ev)
			if d.hasVal {
				ik := "i" + key
				in := p.node(ik, "var "+f.nameAt(d.name))
				l.replay(in, d.iev)
				p.roots = append(p.roots, ik)
			}
		}
	})
}

// imports reads a file's imports: the sites of the imports themselves
// (import "C", a blank import of unsafe, a package whose initialisation has
// capabilities) and the names by which the file refers to them.
func (l *pkgLink) imports(f *fileSum) {
	p, a := l.p, l.a
	l.refs = make([]importRef, len(f.imports))
	l.byName = map[string]importRef{}
	l.dots = l.dots[:0]
	for i, is := range f.imports {
		ip, line := is.path, int(is.line)
		ref := importRef{path: ip}
		name := importName(ip)
		dir, inMod := a.inModule(ip)
		switch {
		case ip == "C":
			p.fileSites = append(p.fileSites, site{cap: CGO, file: f.name, line: line, via: `import "C"`})
		case ip == "unsafe":
			p.fileSites = append(p.fileSites, site{cap: UnsafePointer, file: f.name, line: line, via: `import "unsafe"`})
		case inMod:
			if _, ok := a.dirs[dir]; ok {
				if in := a.pkg(dir); in != nil {
					ref.in = in
					name = in.name
					for _, c := range All {
						if u, ok := in.initUses[c]; ok {
							p.initSites = append(p.initSites, site{cap: c, file: f.name, line: line,
								via: fmt.Sprintf("import %s (its initialisation: %s at %s)", ip, u.Via, u.Where())})
						}
					}
				}
			}
		}
		for _, c := range stdlib.inits[ip] {
			p.initSites = append(p.initSites, site{cap: c, file: f.name, line: line, via: "import " + ip + " (its initialisation)"})
		}
		if is.name != "" {
			name = is.name
		}
		l.refs[i] = ref
		switch name {
		case "_":
		case ".":
			l.dots = append(l.dots, ref)
		default:
			l.byName[name] = ref
		}
	}
}

func (l *pkgLink) add(n *node, c Capability, line int, via string) {
	n.sites = append(n.sites, site{cap: c, file: l.f.name, line: line, via: via})
}

// refTo handles the name sel of the imported package ref.
func (l *pkgLink) refTo(n *node, ref importRef, sel string, line int, called bool) {
	if ref.in != nil {
		for _, s := range ref.in.reach("f:" + sel) {
			l.add(n, s.cap, line, fmt.Sprintf("%s.%s (%s at %s:%d)", ref.path, sel, s.via, s.file, s.line))
		}
		return
	}
	if ref.path == "C" {
		l.add(n, CGO, line, "C."+sel)
		return
	}
	for _, c := range lookupFunc(ref.path, sel, called) {
		l.add(n, c, line, ref.path+"."+sel)
	}
}

func (l *pkgLink) dotRefs(n *node, name string, line int, called bool) {
	if len(l.dots) == 0 || !isExported(name) {
		return
	}
	for _, ref := range l.dots {
		l.refTo(n, ref, name, line, called)
	}
}

func (l *pkgLink) nameCalls(n *node, name string) {
	if k, ok := l.funcs[name]; ok {
		n.calls = append(n.calls, k)
	}
	if k, ok := l.vars[name]; ok {
		n.calls = append(n.calls, k) // a function or closure it holds may be called
	}
}

// methodCalls adds an edge to every method named name, as one entry that
// bfs expands (a method name common in generated code, such as String,
// would otherwise put thousands of keys in every node that selects it).
func (l *pkgLink) methodCalls(n *node, name string) {
	if len(l.methods[name]) == 0 {
		return
	}
	k, ok := l.groups[name]
	if !ok {
		k = methodGroup + name
		l.groups[name] = k
	}
	n.calls = append(n.calls, k)
}

// replay turns a declaration's events into its node's sites and calls.
func (l *pkgLink) replay(n *node, ev []byte) {
	f := l.f
	var w [5]uint32
	for len(ev) > 0 {
		v, k := binary.Uvarint(ev)
		ev = ev[k:]
		kind, pl := uint32(v&7), uint32(v>>3)
		for j := 1; j < evLen(kind<<28); j++ {
			v, k := binary.Uvarint(ev)
			ev = ev[k:]
			w[j] = uint32(v)
		}
		switch kind {
		case evName:
			l.nameCalls(n, f.nameAt(pl))
		case evMethod:
			l.methodCalls(n, f.nameAt(pl))
		case evSite:
			s := f.sites[pl]
			l.add(n, s.cap, int(s.line), s.via)
		case evMRef:
			ref := l.refs[pl&(1<<24-1)]
			l.refTo(n, ref, f.nameAt(w[1]), int(w[2]), pl>>24 != 0)
		case evDot:
			l.dotRefs(n, f.nameAt(w[1]), int(w[2]), pl != 0)
		case evQSel:
			x, sel := f.nameAt(w[1]), f.nameAt(w[2])
			xline, selLine := int(w[3]), int(w[4])
			called := pl&qCalled != 0
			if ref, ok := l.byName[x]; ok {
				if pl&qInit == 0 || called {
					l.refTo(n, ref, sel, selLine, called)
				}
				break
			}
			if pl&qReflect != 0 {
				l.add(n, ReflectCall, selLine, "reflect.Value."+sel)
			}
			if pl&qInit == 0 || called {
				l.methodCalls(n, sel)
			}
			if pl&qInit == 0 {
				l.dotRefs(n, x, xline, false)
				l.nameCalls(n, x)
			}
		}
	}
}
