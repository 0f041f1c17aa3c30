// The pass as it was before the lexer (scanner/caps/pass.go at 6d52502), kept
// only to compare the two over real zips (compare_test.go).

package caps

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"sort"
	"strconv"
	"strings"
)

type oldMemSource map[string][]byte

func (m oldMemSource) names() []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	return out
}

func (m oldMemSource) read(name string) ([]byte, error) { return m[name], nil }

type oldAnalyzer struct {
	modPath string
	src     oldMemSource
	fset    *token.FileSet
	dirs    map[string][]string    // directory -> its .go, .s and .syso files
	pkgs    map[string]*oldPkgInfo // by directory; nil while being analysed
	rep     *Report
}

func oldAnalyze(modPath string, src oldMemSource) (*Report, error) {
	a := &oldAnalyzer{modPath: modPath, src: src, fset: token.NewFileSet(), dirs: map[string][]string{},
		pkgs: map[string]*oldPkgInfo{}, rep: &Report{}}
	names := src.names()
	sort.Strings(names)
	for _, n := range names {
		if ignoredPath(n) {
			continue
		}
		switch path.Ext(n) {
		case ".go", ".s", ".syso":
			dir := path.Dir(n)
			if dir == "." {
				dir = ""
			}
			a.dirs[dir] = append(a.dirs[dir], n)
		}
	}
	dirs := make([]string, 0, len(a.dirs))
	for d := range a.dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if _, err := a.pkg(d); err != nil {
			return nil, err
		}
	}
	for _, d := range dirs {
		p := a.pkgs[d]
		if p == nil {
			continue
		}
		a.rep.Uses = append(a.rep.Uses, p.uses()...)
	}
	sortUses(a.rep.Uses)
	return a.rep, nil
}

// pkg analyses the package in directory dir (once), after the packages of
// the module it imports.
func (a *oldAnalyzer) pkg(dir string) (*oldPkgInfo, error) {
	if p, ok := a.pkgs[dir]; ok {
		return p, nil // nil while in progress: an import cycle, which does not build
	}
	a.pkgs[dir] = nil
	// Each package has its own file set, dropped with its syntax trees once
	// its graph is built (positions become file and line at once): the
	// memory the pass holds is one package's trees, not the module's.
	saved := a.fset
	a.fset = token.NewFileSet()
	defer func() { a.fset = saved }()
	p := &oldPkgInfo{path: a.modPath, nodes: map[string]*oldNode{}, memo: map[string][]site{}}
	if dir != "" {
		p.path = a.modPath + "/" + dir
	}
	type parsed struct {
		name string
		data []byte
		f    *ast.File
	}
	var files []parsed
	hasAsm := false
	for _, n := range a.dirs[dir] {
		switch path.Ext(n) {
		case ".s":
			hasAsm = true
			p.fileSites = append(p.fileSites, site{cap: Assembly, file: n, line: 1, via: path.Base(n)})
			continue
		case ".syso":
			continue // reported as a binary
		}
		data, err := a.src.read(n)
		if err != nil {
			return nil, err
		}
		if len(data) > MaxGoFile {
			a.rep.Skipped = append(a.rep.Skipped, fmt.Sprintf("%s: %d bytes%s %d", n, len(data), overLimit, MaxGoFile))
			continue
		}
		if !buildable(data) {
			continue
		}
		files = append(files, parsed{name: n, data: data})
	}
	// The module's packages this one imports first, before its own trees
	// are built, so that only one package's trees are in memory at a time.
	for _, f := range files {
		imp, err := parser.ParseFile(token.NewFileSet(), f.name, f.data, parser.ImportsOnly|parser.SkipObjectResolution)
		if err != nil {
			continue // reported when parsed whole
		}
		for _, is := range imp.Imports {
			ip, err := strconv.Unquote(is.Path.Value)
			if err != nil || !(ip == a.modPath || strings.HasPrefix(ip, a.modPath+"/")) {
				continue
			}
			if d := strings.TrimPrefix(strings.TrimPrefix(ip, a.modPath), "/"); d != dir {
				if _, ok := a.dirs[d]; ok {
					if _, err := a.pkg(d); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	parsedFiles := files[:0]
	for _, f := range files {
		t, err := parser.ParseFile(a.fset, f.name, f.data, parser.SkipObjectResolution)
		if err != nil {
			a.rep.Skipped = append(a.rep.Skipped, fmt.Sprintf("%s: does not parse: %s", f.name, firstLine(err.Error())))
			continue
		}
		a.rep.Files++
		f.f = t
		parsedFiles = append(parsedFiles, f)
	}
	files = parsedFiles
	if len(files) == 0 && !hasAsm {
		return nil, nil
	}
	// The package name: the one most files declare (a directory may hold a
	// package and "ignore"d generators of package main).
	count := map[string]int{}
	for _, f := range files {
		count[f.f.Name.Name]++
	}
	for n, c := range count {
		if c > count[p.name] || c == count[p.name] && n < p.name {
			p.name = n
		}
	}
	p.main = p.name == "main"

	// Top-level names first: calls refer to them in any order.
	funcs := map[string]bool{}
	methods := map[string][]string{}
	vars := map[string]string{} // package-level variable -> its value's node
	for _, f := range files {
		for _, d := range f.f.Decls {
			if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, s := range gd.Specs {
					vs := s.(*ast.ValueSpec)
					for _, id := range vs.Names {
						vars[id.Name] = fmt.Sprintf("v:%s:%d", f.name, a.line(vs.Pos()))
					}
				}
			}
			if fd, ok := d.(*ast.FuncDecl); ok {
				if fd.Recv == nil {
					if fd.Name.Name != "init" {
						funcs[fd.Name.Name] = true
					}
				} else {
					key := "m:" + oldRecvName(fd) + "." + fd.Name.Name
					methods[fd.Name.Name] = append(methods[fd.Name.Name], key)
				}
			}
		}
	}
	for _, f := range files {
		if f.f.Name.Name != p.name {
			continue
		}
		imports, err := a.imports(p, f.f)
		if err != nil {
			return nil, err
		}
		for _, l := range linknames(f.data) {
			p.fileSites = append(p.fileSites, site{cap: Linkname, file: f.name, line: l, via: "//go:linkname"})
		}
		w := &oldWalker{a: a, p: p, file: f.name, imports: imports, funcs: funcs, methods: methods, vars: vars}
		for key, ref := range imports {
			if strings.HasPrefix(key, dotKey) {
				w.dots = append(w.dots, ref)
			}
		}
		for _, d := range f.f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				key, name := "f:"+d.Name.Name, d.Name.Name
				if d.Recv != nil {
					key, name = "m:"+oldRecvName(d)+"."+d.Name.Name, "("+oldRecvName(d)+")."+d.Name.Name
				} else if d.Name.Name == "init" {
					key = fmt.Sprintf("i:%s:%d", f.name, a.line(d.Pos()))
					p.roots = append(p.roots, key)
				}
				n := p.node(key, name)
				if d.Body == nil && hasAsm {
					n.sites = append(n.sites, site{cap: Assembly, file: f.name, line: a.line(d.Pos()), via: "func " + d.Name.Name + " (assembly)"})
				}
				switch {
				case d.Body != nil && d.Recv == nil && d.Name.Name == "init":
					w.walkInit(n, d.Body)
				case d.Body != nil:
					w.walk(n, d.Body)
				}
			case *ast.GenDecl:
				if d.Tok != token.VAR {
					continue
				}
				for _, s := range d.Specs {
					vs := s.(*ast.ValueSpec)
					// Two nodes: the value, with everything it holds
					// (closures, function values), reached when code
					// uses the variable; and what initialisation runs
					// to compute it, a root.
					key := fmt.Sprintf("v:%s:%d", f.name, a.line(vs.Pos()))
					n := p.node(key, "var "+vs.Names[0].Name)
					if vs.Type != nil {
						w.constructed(n, vs.Type)
					}
					for _, v := range vs.Values {
						w.walk(n, v)
					}
					if len(vs.Values) > 0 {
						ik := "i" + key
						in := p.node(ik, "var "+vs.Names[0].Name)
						for _, v := range vs.Values {
							w.walkInit(in, v)
						}
						p.roots = append(p.roots, ik)
					}
				}
			}
		}
	}
	p.initUses = p.computeInit()
	a.pkgs[dir] = p
	return p, nil
}

func oldRecvName(fd *ast.FuncDecl) string {
	if len(fd.Recv.List) == 0 {
		return "?"
	}
	t := fd.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
		case *ast.IndexExpr:
			t = x.X
		case *ast.IndexListExpr:
			t = x.X
		case *ast.ParenExpr:
			t = x.X
		case *ast.Ident:
			return x.Name
		default:
			return "?"
		}
	}
}

func (a *oldAnalyzer) line(pos token.Pos) int { return a.fset.Position(pos).Line }

// imports reads a file's imports: the sites of the imports themselves
// (import "C", a blank import of unsafe, a package whose initialisation has
// capabilities) and the names by which the file refers to them.
func (a *oldAnalyzer) imports(p *oldPkgInfo, f *ast.File) (map[string]oldImportRef, error) {
	file := a.fset.Position(f.Package).Filename
	out := map[string]oldImportRef{}
	for _, is := range f.Imports {
		ip, err := strconv.Unquote(is.Path.Value)
		if err != nil {
			continue
		}
		line := a.line(is.Pos())
		ref := oldImportRef{path: ip}
		name := importName(ip)
		switch {
		case ip == "C":
			p.fileSites = append(p.fileSites, site{cap: CGO, file: file, line: line, via: `import "C"`})
		case ip == "unsafe":
			p.fileSites = append(p.fileSites, site{cap: UnsafePointer, file: file, line: line, via: `import "unsafe"`})
		case ip == a.modPath || strings.HasPrefix(ip, a.modPath+"/"):
			dir := strings.TrimPrefix(strings.TrimPrefix(ip, a.modPath), "/")
			if _, ok := a.dirs[dir]; ok {
				in, err := a.pkg(dir)
				if err != nil {
					return nil, err
				}
				if in != nil {
					ref.in = in
					name = in.name
					for _, c := range All {
						if u, ok := in.initUses[c]; ok {
							p.initSites = append(p.initSites, site{cap: c, file: file, line: line,
								via: fmt.Sprintf("import %s (its initialisation: %s at %s)", ip, u.Via, u.Where())})
						}
					}
				}
			}
		}
		for _, c := range stdlib.inits[ip] {
			p.initSites = append(p.initSites, site{cap: c, file: file, line: line, via: "import " + ip + " (its initialisation)"})
		}
		if is.Name != nil {
			name = is.Name.Name
		}
		switch name {
		case "_":
		case ".":
			// Its names are used bare: kept under a key no package name
			// can be (see walker.dotRefs), so that a dot import does not
			// hide what the package can do.
			out[dotKey+ip] = ref
		default:
			out[name] = ref
		}
	}
	return out, nil
}

// walker collects the sites and calls of one file's declarations.
type oldWalker struct {
	a       *oldAnalyzer
	p       *oldPkgInfo
	file    string
	imports map[string]oldImportRef
	dots    []oldImportRef // the dot imports, whose names are used bare
	funcs   map[string]bool
	methods map[string][]string
	vars    map[string]string
}

func (w *oldWalker) add(n *oldNode, c Capability, pos token.Pos, via string) {
	n.sites = append(n.sites, site{cap: c, file: w.file, line: w.a.line(pos), via: via})
}

// ref handles pkg.Name of an imported package; called is set when it is
// called.
func (w *oldWalker) ref(n *oldNode, x *ast.Ident, sel *ast.Ident, called bool) bool {
	ref, ok := w.imports[x.Name]
	if !ok {
		return false
	}
	w.refTo(n, ref, sel, called)
	return true
}

// dotRefs handles a bare name that may come from a dot-imported package.
// Only exported names can come from another package; called is set when
// the name is called (a package's own class, such as os/exec's EXEC, then
// applies whatever the function).
func (w *oldWalker) dotRefs(n *oldNode, id *ast.Ident, called bool) {
	if len(w.dots) == 0 || !id.IsExported() {
		return
	}
	for _, ref := range w.dots {
		w.refTo(n, ref, id, called)
	}
}

// refTo handles the name sel of the imported package ref.
func (w *oldWalker) refTo(n *oldNode, ref oldImportRef, sel *ast.Ident, called bool) {
	if ref.in != nil {
		for _, s := range ref.in.reach("f:" + sel.Name) {
			w.add(n, s.cap, sel.Pos(), fmt.Sprintf("%s.%s (%s at %s:%d)", ref.path, sel.Name, s.via, s.file, s.line))
		}
		return
	}
	if ref.path == "C" {
		w.add(n, CGO, sel.Pos(), "C."+sel.Name)
		return
	}
	for _, c := range lookupFunc(ref.path, sel.Name, called) {
		w.add(n, c, sel.Pos(), ref.path+"."+sel.Name)
	}
}

// constructed handles a value of type t made in the code: a standard type's
// methods can then be called on it.
func (w *oldWalker) constructed(n *oldNode, t ast.Expr) {
	if u, ok := t.(*ast.UnaryExpr); ok {
		t = u.X
	}
	if id, ok := t.(*ast.Ident); ok { // a type of a dot-imported package
		for _, ref := range w.dots {
			if ref.in == nil {
				for _, c := range stdlib.methods[ref.path+"."+id.Name] {
					w.add(n, c, id.Pos(), ref.path+"."+id.Name+" (its methods)")
				}
			}
		}
		return
	}
	se, ok := t.(*ast.SelectorExpr)
	if !ok {
		return
	}
	x, ok := se.X.(*ast.Ident)
	if !ok {
		return
	}
	ref, ok := w.imports[x.Name]
	if !ok || ref.in != nil {
		return
	}
	for _, c := range stdlib.methods[ref.path+"."+se.Sel.Name] {
		w.add(n, c, se.Pos(), ref.path+"."+se.Sel.Name+" (its methods)")
	}
}

func (w *oldWalker) walk(n *oldNode, root ast.Node) {
	ast.Inspect(root, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.CallExpr:
			if id, ok := ast.Unparen(x.Fun).(*ast.Ident); ok {
				w.dotRefs(n, id, true)
			}
			if se, ok := x.Fun.(*ast.SelectorExpr); ok {
				if id, ok := se.X.(*ast.Ident); ok && w.ref(n, id, se.Sel, true) {
					for _, arg := range x.Args {
						w.walk(n, arg)
					}
					return false
				}
				if (se.Sel.Name == "Call" || se.Sel.Name == "CallSlice") && w.importsPath("reflect") {
					w.add(n, ReflectCall, se.Sel.Pos(), "reflect.Value."+se.Sel.Name)
				}
			}
			if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "new" && len(x.Args) == 1 {
				w.constructed(n, x.Args[0])
			}
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && w.ref(n, id, x.Sel, false) {
				return false
			}
			for _, key := range w.methods[x.Sel.Name] {
				n.calls = append(n.calls, key)
			}
			w.walk(n, x.X)
			return false
		case *ast.CompositeLit:
			if x.Type != nil {
				w.constructed(n, x.Type)
			}
		case *ast.ValueSpec:
			if x.Type != nil {
				w.constructed(n, x.Type)
			}
		case *ast.Ident:
			w.dotRefs(n, x, false)
			if w.funcs[x.Name] {
				n.calls = append(n.calls, "f:"+x.Name)
			}
			if k, ok := w.vars[x.Name]; ok {
				n.calls = append(n.calls, k) // a function or closure it holds may be called
			}
		}
		return true
	})
}

// walkInit collects what initialisation runs in a variable's initialiser or
// an init function: calls (go and defer included), the bodies of function
// literals called there, and functions handed to time.AfterFunc or a Do
// method; not functions or closures it only stores or registers (var f =
// fixDefault, startRemote = startRemotePosix, sync.OnceValues(func() ...),
// http.HandleFunc("/", h)), which run when something calls them later (a
// variable's value node is reached through its uses). A function handed to
// any other function at initialisation is not followed: a limit of the
// syntactic pass, which would otherwise take every registration for a call.
func (w *oldWalker) walkInit(n *oldNode, root ast.Node) {
	w.walkInitCalled(n, root, map[ast.Node]bool{})
}

// walkInitCalled is walkInit with the expressions known to be called.
func (w *oldWalker) walkInitCalled(n *oldNode, root ast.Node, called map[ast.Node]bool) {
	ast.Inspect(root, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.CallExpr:
			fun := ast.Unparen(x.Fun)
			called[fun] = true
			// Functions handed to what runs them: time.AfterFunc, and
			// Do methods (sync.Once).
			if se, ok := fun.(*ast.SelectorExpr); ok && (se.Sel.Name == "Do" || se.Sel.Name == "AfterFunc") {
				for _, arg := range x.Args {
					called[ast.Unparen(arg)] = true
				}
			}
			if se, ok := fun.(*ast.SelectorExpr); ok {
				if id, ok := se.X.(*ast.Ident); ok && w.ref(n, id, se.Sel, true) {
					for _, arg := range x.Args {
						w.walkInitCalled(n, arg, called)
					}
					return false
				}
				if (se.Sel.Name == "Call" || se.Sel.Name == "CallSlice") && w.importsPath("reflect") {
					w.add(n, ReflectCall, se.Sel.Pos(), "reflect.Value."+se.Sel.Name)
				}
			}
		case *ast.FuncLit:
			if called[x] {
				w.walk(n, x.Body) // run now: as an init function
			}
			return false
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok {
				if _, imported := w.imports[id.Name]; imported {
					if called[x] {
						w.ref(n, id, x.Sel, true)
					}
					return false
				}
			}
			if called[x] {
				n.calls = append(n.calls, w.methods[x.Sel.Name]...)
			}
			w.walkInitCalled(n, x.X, called)
			return false
		case *ast.Ident:
			if called[x] {
				w.dotRefs(n, x, true)
			}
			if called[x] && w.funcs[x.Name] {
				n.calls = append(n.calls, "f:"+x.Name)
			}
			if k, ok := w.vars[x.Name]; ok && called[x] {
				n.calls = append(n.calls, k)
			}
		}
		return true
	})
}

func (w *oldWalker) importsPath(ip string) bool {
	for _, r := range w.imports {
		if r.path == ip {
			return true
		}
	}
	return false
}

// dotKey prefixes the key of a dot import in a walker's imports.
const dotKey = "."

// The graph as it was at bc0b43a (string keys), for the old pass.

// oldNode is a function, method, init function or package-level variable
// initialiser of a package, with what it uses and calls.
type oldNode struct {
	name  string // as shown: "init", "poll", "(T).m", "var x"
	sites []site
	calls []string // oldNode keys
}

// oldMethodGroup prefixes an entry of node.calls that stands for every method
// of a name (oldPkgInfo.methods).
const oldMethodGroup = "M:"

type oldPkgInfo struct {
	path, name string
	main       bool
	nodes      map[string]*oldNode
	order      []string // oldNode keys in declaration order
	roots      []string // init functions and variable initialisers
	fileSites  []site   // imports and directives: not in a function
	initSites  []site   // imported packages whose initialisation has capabilities
	initUses   map[Capability]Use
	memo       map[string][]site   // oldNode key -> reachable capabilities (first site each)
	methods    map[string][]string // method name -> oldNode keys, for oldMethodGroup entries
}

func (p *oldPkgInfo) node(key, name string) *oldNode {
	n := p.nodes[key]
	if n == nil {
		n = &oldNode{name: name}
		p.nodes[key] = n
		p.order = append(p.order, key)
	}
	return n
}

// oldImportRef is what an import name of a file refers to.
type oldImportRef struct {
	path string
	in   *oldPkgInfo // a package of the same module, analysed
}

// reach is the capabilities reachable from the oldNode key (a function of the
// package), the first site of each in breadth-first order, for the packages
// that call it.
func (p *oldPkgInfo) reach(key string) []site {
	if s, ok := p.memo[key]; ok {
		return s
	}
	var out []site
	seen := map[Capability]bool{}
	p.bfs([]string{key}, func(_ string, s site, _ []string) {
		if !seen[s.cap] {
			seen[s.cap] = true
			out = append(out, s)
		}
	})
	p.memo[key] = out
	return out
}

// bfs visits every site reachable from roots, nearest first, with the chain
// of oldNode names that leads to it.
func (p *oldPkgInfo) bfs(roots []string, visit func(key string, s site, chain []string)) {
	parent := map[string]string{}
	var queue []string
	for _, r := range roots {
		if _, ok := p.nodes[r]; ok {
			if _, seen := parent[r]; !seen {
				parent[r] = ""
				queue = append(queue, r)
			}
		}
	}
	for len(queue) > 0 {
		k := queue[0]
		queue = queue[1:]
		n := p.nodes[k]
		if len(n.sites) > 0 {
			var chain []string
			for c := k; c != ""; c = parent[c] {
				chain = append(chain, p.nodes[c].name)
			}
			for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
				chain[i], chain[j] = chain[j], chain[i]
			}
			for _, s := range n.sites {
				visit(k, s, chain)
			}
		}
		for _, c := range n.calls {
			if name, ok := strings.CutPrefix(c, oldMethodGroup); ok {
				for _, c := range p.methods[name] {
					if _, ok := p.nodes[c]; !ok {
						continue
					}
					if _, seen := parent[c]; !seen {
						parent[c] = k
						queue = append(queue, c)
					}
				}
				continue
			}
			if _, ok := p.nodes[c]; !ok {
				continue
			}
			if _, seen := parent[c]; !seen {
				parent[c] = k
				queue = append(queue, c)
			}
		}
	}
}

// computeInit finds what package initialisation reaches: from init
// functions and variable initialisers, and the initialisation of imported
// packages.
func (p *oldPkgInfo) computeInit() map[Capability]Use {
	out := map[Capability]Use{}
	p.bfs(p.roots, func(_ string, s site, chain []string) {
		if _, ok := out[s.cap]; !ok {
			out[s.cap] = Use{Package: p.path, Capability: s.cap, File: s.file, Line: s.line, Via: s.via,
				Init: true, InitPath: strings.Join(chain, " → "), Main: p.main}
		}
	})
	for _, s := range p.initSites {
		if _, ok := out[s.cap]; !ok {
			out[s.cap] = Use{Package: p.path, Capability: s.cap, File: s.file, Line: s.line, Via: s.via,
				Init: true, InitPath: "import", Main: p.main}
		}
	}
	return out
}

// uses is the package's entry in the report: per capability, its use from
// initialisation, else its first site.
func (p *oldPkgInfo) uses() []Use {
	first := map[Capability]site{}
	consider := func(s site) {
		f, ok := first[s.cap]
		if !ok || s.file < f.file || s.file == f.file && s.line < f.line {
			first[s.cap] = s
		}
	}
	for _, k := range p.order {
		for _, s := range p.nodes[k].sites {
			consider(s)
		}
	}
	for _, s := range p.fileSites {
		consider(s)
	}
	var out []Use
	for _, c := range All {
		if u, ok := p.initUses[c]; ok {
			out = append(out, u)
			continue
		}
		if s, ok := first[c]; ok {
			out = append(out, Use{Package: p.path, Capability: c, File: s.file, Line: s.line, Via: s.via, Main: p.main})
		}
	}
	return out
}
