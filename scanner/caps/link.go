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
	// names are the pass's names (summaries refer to them by number);
	// infos are tables of what they are, for packages to link.
	names []string
	infos []*nameInfos
}

func (p *Pass) link() *Report {
	a := &linker{modPath: p.modPath, files: p.files, dirs: map[string][]string{}, pkgs: map[string]*pkgInfo{}, rep: &Report{},
		uses: map[string][]Use{}, pending: map[string]int{}, names: p.ex.in.names}
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
	if !inModule(a.modPath, ip) {
		return "", false
	}
	return strings.TrimPrefix(ip[len(a.modPath):], "/"), true
}

// pkg analyses the package in directory dir (once), after the packages of
// the module it imports.
func (a *linker) pkg(dir string) *pkgInfo {
	if p, ok := a.pkgs[dir]; ok {
		return p // nil while in progress: an import cycle, which does not build
	}
	a.pkgs[dir] = nil
	deps := a.importsOf(dir)
	p := &pkgInfo{path: a.modPath}
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

	// Top-level names first: calls refer to them in any order. Every node
	// a declaration of any file can give is numbered here, so that nodes
	// do not move while files are linked.
	l := &pkgLink{a: a, p: p, info: a.nameInfos(), methodIDs: map[[2]uint32]int32{}, fileIDs: map[fileLine]int32{}}
	defer func() { a.infos = append(a.infos, l.info) }()
	nodes := 0
	for _, f := range files {
		nodes += f.nodes
	}
	p.nodes = make([]node, 0, nodes)
	p.names = a.names
	p.funcs = map[uint32]int32{}
	for fi, f := range files {
		f.eachDecl(func(d *declSum) {
			switch d.kind {
			case dVar:
				id := l.fileNode(fi, d.line, kVar)
				if d.hasVal {
					l.fileNode(fi, d.line, kVarInit)
				}
				for _, name := range d.names {
					l.name(name).v = id
				}
			case dFunc:
				ni := l.name(d.name)
				if ni.fn < 0 {
					ni.fn = p.newNode()
					p.funcs[d.name] = ni.fn
				}
			case dMethod:
				key := [2]uint32{d.recv, d.name}
				id, ok := l.methodIDs[key]
				if !ok {
					id = p.newNode()
					l.methodIDs[key] = id
				}
				ni := l.name(d.name)
				if ni.m < 0 {
					ni.m = int32(len(p.methods))
					p.methods = append(p.methods, nil)
				}
				p.methods[ni.m] = append(p.methods[ni.m], id)
			case dInit:
				l.fileNode(fi, d.line, kInit)
			}
		})
	}
	for fi, f := range files {
		if f.pkg != p.name {
			continue
		}
		l.file(fi, f, hasAsm)
	}
	p.initUses = p.computeInit()
	a.pkgs[dir] = p
	a.done(dir, p, deps)
	return p
}

// Kinds of nodes named by file and line.
const (
	kInit    = iota // an init function
	kVar            // a variable's value
	kVarInit        // a variable's initialiser
)

type fileLine struct {
	file, line int32
	kind       uint8
}

// nameInfo is what a name is at the top level of the package being linked.
type nameInfo struct {
	fn int32 // its function's node, or -1
	v  int32 // the node of the last variable of that name, or -1
	m  int32 // its method group (p.methods), or -1
	// ep is the package (nameInfos.ep) the entry is for: an entry of
	// another is none.
	ep uint32
}

// nameInfos is a table of nameInfo by name id, reused from package to
// package.
type nameInfos struct {
	ep    uint32
	names []nameInfo
}

// nameInfos returns a table for a package to link (a package being linked
// keeps its own).
func (a *linker) nameInfos() *nameInfos {
	var t *nameInfos
	if n := len(a.infos); n > 0 {
		t, a.infos = a.infos[n-1], a.infos[:n-1]
	} else {
		t = &nameInfos{names: make([]nameInfo, len(a.names))}
	}
	t.ep++
	return t
}

// name is what the name id is in the package.
func (l *pkgLink) name(id uint32) *nameInfo {
	e := &l.info.names[id]
	if e.ep != l.info.ep {
		*e = nameInfo{fn: -1, v: -1, m: -1, ep: l.info.ep}
	}
	return e
}

// pkgLink resolves one package's summaries.
type pkgLink struct {
	a *linker
	p *pkgInfo
	// What each name is in the package.
	info      *nameInfos
	methodIDs map[[2]uint32]int32 // receiver and method name -> node
	fileIDs   map[fileLine]int32  // init functions and variables -> node

	// the file being linked
	f      *fileSum
	refs   []importRef
	byName map[string]importRef
	dots   []importRef
	// via caches what a reference to a name of an imported package gives
	// (the strings that say so are built once per package).
	via map[refKey][]site
}

type refKey struct {
	in     *pkgInfo
	path   string
	sel    uint32
	called bool
}

// fileNode is the node of the init function or variable at line of file fi.
func (l *pkgLink) fileNode(fi int, line int32, kind uint8) int32 {
	k := fileLine{file: int32(fi), line: line, kind: kind}
	id, ok := l.fileIDs[k]
	if !ok {
		id = l.p.newNode()
		l.fileIDs[k] = id
	}
	return id
}

func (l *pkgLink) file(fi int, f *fileSum, hasAsm bool) {
	p := l.p
	l.f = f
	l.imports(f)
	for _, ln := range f.linknames {
		p.fileSites = append(p.fileSites, site{cap: Linkname, file: f.name, line: ln, via: "//go:linkname"})
	}
	f.eachDecl(func(d *declSum) {
		switch d.kind {
		case dFunc, dMethod, dInit:
			dname, name := p.names[d.name], d.name
			var n *node
			switch d.kind {
			case dFunc:
				n = p.declare(l.name(name).fn, showFunc, name, 0)
			case dMethod:
				n = p.declare(l.methodIDs[[2]uint32{d.recv, name}], showMethod, name, d.recv)
			case dInit:
				id := l.fileNode(fi, d.line, kInit)
				p.roots = append(p.roots, id)
				n = p.declare(id, showFunc, name, 0)
			}
			if d.noBody && hasAsm {
				n.sites = append(n.sites, site{cap: Assembly, file: f.name, line: int(d.line), via: "func " + dname + " (assembly)"})
			}
			if !d.noBody {
				l.replay(n, d.ev)
			}
		case dVar:
			name := d.name
			n := p.declare(l.fileNode(fi, d.line, kVar), showVar, name, 0)
			l.replay(n, d.ev)
			if d.hasVal {
				id := l.fileNode(fi, d.line, kVarInit)
				in := p.declare(id, showVar, name, 0)
				l.replay(in, d.iev)
				p.roots = append(p.roots, id)
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
func (l *pkgLink) refTo(n *node, ref importRef, sel uint32, line int, called bool) {
	if ref.in == nil && ref.path == "C" {
		l.add(n, CGO, line, "C."+l.p.names[sel])
		return
	}
	k := refKey{in: ref.in, path: ref.path, sel: sel, called: called && ref.in == nil}
	ss, ok := l.via[k]
	if !ok {
		ss = l.refSites(ref, sel, called)
		if l.via == nil {
			l.via = map[refKey][]site{}
		}
		l.via[k] = ss
	}
	for _, s := range ss {
		l.add(n, s.cap, line, s.via)
	}
}

// refSites is what the name sel of the imported package ref gives (cap and
// via only).
func (l *pkgLink) refSites(ref importRef, id uint32, called bool) []site {
	var out []site
	sel := l.p.names[id]
	if ref.in != nil {
		for _, s := range ref.in.reach(id) {
			out = append(out, site{cap: s.cap, via: fmt.Sprintf("%s.%s (%s at %s:%d)", ref.path, sel, s.via, s.file, s.line)})
		}
		return out
	}
	for _, c := range lookupFunc(ref.path, sel, called) {
		out = append(out, site{cap: c, via: ref.path + "." + sel})
	}
	return out
}

func (l *pkgLink) dotRefs(n *node, name uint32, line int, called bool) {
	if len(l.dots) == 0 || !isExported(l.p.names[name]) {
		return
	}
	for _, ref := range l.dots {
		l.refTo(n, ref, name, line, called)
	}
}

// nameCalls adds the edges a reference to the package's name id gives.
func (l *pkgLink) nameCalls(n *node, id uint32) {
	ni := l.name(id)
	if ni.fn >= 0 {
		n.calls = append(n.calls, ni.fn)
	}
	if ni.v >= 0 {
		n.calls = append(n.calls, ni.v) // a function or closure it holds may be called
	}
}

// methodCalls adds an edge to every method named id, as one entry that bfs
// expands (a method name common in generated code, such as String, would
// otherwise put thousands of nodes in every node that selects it).
func (l *pkgLink) methodCalls(n *node, id uint32) {
	if m := l.name(id).m; m >= 0 {
		n.calls = append(n.calls, -m-1)
	}
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
			l.nameCalls(n, pl)
		case evMethod:
			l.methodCalls(n, pl)
		case evSite:
			s := f.sites[pl]
			l.add(n, s.cap, int(s.line), s.via)
		case evMRef:
			ref := l.refs[pl&(1<<24-1)]
			l.refTo(n, ref, w[1], int(w[2]), pl>>24 != 0)
		case evDot:
			l.dotRefs(n, w[1], int(w[2]), pl != 0)
		case evQSel:
			x, sel := w[1], w[2]
			xline, selLine := int(w[3]), int(w[4])
			called := pl&qCalled != 0
			if ref, ok := l.byName[l.p.names[x]]; ok {
				if pl&qInit == 0 || called {
					l.refTo(n, ref, sel, selLine, called)
				}
				break
			}
			if pl&qReflect != 0 {
				l.add(n, ReflectCall, selLine, "reflect.Value."+l.p.names[sel])
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
