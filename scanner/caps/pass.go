package caps

import (
	"bytes"
	"go/build/constraint"
	"slices"
	"strings"
)

// File is one file of a module: its path in the module (slash-separated,
// without the module@version/ prefix) and its bytes.
type File struct {
	Name string
	Data []byte
}

// MaxGoFile is the largest Go file the pass reads; a larger one is listed in
// [Report.Skipped]. The pass keeps a summary of each file, not the file, so
// this bounds the time one file can take.
const MaxGoFile = 16 << 20

// overLimit marks a [Report.Skipped] entry of a file over [MaxGoFile].
const overLimit = ", over the pass's limit of"

// Unanalysed returns the entries of skipped (a [Report.Skipped]) that are
// buildable Go the pass did not read: files over [MaxGoFile]. Their code
// compiles, so what it can do is unknown, and padding a file past the limit
// must not hide it. (A file that does not parse does not compile either.)
func Unanalysed(skipped []string) []string {
	var out []string
	for _, s := range skipped {
		if strings.Contains(s, overLimit) {
			out = append(out, s)
		}
	}
	return out
}

// Analyze runs the pass over files of the module modPath: a whole module, or
// a subset of its files (the files a clone adds, say), in which case only
// those files' packages and calls are seen. It never fails: files it cannot
// read as Go are listed in [Report.Skipped].
func Analyze(modPath string, files []File) *Report {
	p := NewPass(modPath)
	p.analyze = true
	for _, f := range files {
		p.File(f.Name, int64(len(f.Data)), f.Data)
	}
	r := p.Report()
	r.Binaries = nil // Analyze reports code only
	return r
}

// site is where code gets a capability directly.
type site struct {
	cap  Capability
	file string
	line int
	via  string
}

// node is a function, method, init function or package-level variable
// initialiser of a package, with what it uses and calls. A package's nodes
// are numbered (their ids index pkgInfo.nodes); a name that is referred to
// may have a node that no file of the package declares (declared unset),
// which the search skips.
type node struct {
	declared   bool
	show       showKind
	name, recv uint32 // name ids (pkgInfo.names): the function's, method's or variable's name, a method's receiver type
	sites      []site
	calls      []int32 // node ids; -g-1 stands for method group g (pkgInfo.methods)
}

// showKind says how a node's name is shown in an initialisation path.
type showKind uint8

const (
	showFunc   showKind = iota // "poll", "init"
	showMethod                 // "(T).m"
	showVar                    // "var x"
)

// shown is how node k is shown in an initialisation path.
func (p *pkgInfo) shown(k int32) string {
	n := &p.nodes[k]
	switch n.show {
	case showMethod:
		return "(" + p.names[n.recv] + ")." + p.names[n.name]
	case showVar:
		return "var " + p.names[n.name]
	}
	return p.names[n.name]
}

type pkgInfo struct {
	path, name string
	main       bool
	nodes      []node
	order      []int32 // declared nodes in declaration order
	roots      []int32 // init functions and variable initialisers
	fileSites  []site  // imports and directives: not in a function
	initSites  []site  // imported packages whose initialisation has capabilities
	initUses   map[Capability]Use
	// names are the pass's names, by id; funcs is the package's
	// functions by name id, for the packages that call them;
	// methods is each method group's nodes (every method of a name), for
	// the calls entries that stand for a group; reached is reach's memo.
	names   []string
	funcs   map[uint32]int32
	methods [][]int32
	reached map[int32][]site

	// The search's state, reused: parent[n] is valid when mark[n] == epoch.
	mark   []uint32
	parent []int32
	queue  []int32
	epoch  uint32
}

// release drops the graph once no package will ask reach of it; its
// initUses stay (nil p does nothing).
func (p *pkgInfo) release() {
	if p == nil {
		return
	}
	p.nodes, p.order, p.roots, p.fileSites, p.initSites = nil, nil, nil, nil, nil
	p.names, p.funcs, p.methods, p.reached = nil, nil, nil, nil
	p.mark, p.parent, p.queue = nil, nil, nil
}

// newNode numbers a node not declared yet.
func (p *pkgInfo) newNode() int32 {
	p.nodes = append(p.nodes, node{})
	return int32(len(p.nodes) - 1)
}

// declare marks node id declared (a name may be declared more than once,
// in files for different systems: their code counts together, under the
// first declaration's name).
func (p *pkgInfo) declare(id int32, show showKind, name, recv uint32) *node {
	n := &p.nodes[id]
	if !n.declared {
		n.declared, n.show, n.name, n.recv = true, show, name, recv
		p.order = append(p.order, id)
	}
	return n
}

// importRef is what an import name of a file refers to.
type importRef struct {
	path string
	in   *pkgInfo // a package of the same module, analysed
}

// importName is the name a package is usually declared with: the last path
// element, without a major version suffix (/v2, gopkg.in's .v3).
func importName(ip string) string {
	els := strings.Split(ip, "/")
	name := els[len(els)-1]
	if len(els) > 1 && len(name) > 1 && name[0] == 'v' && strings.Trim(name[1:], "0123456789") == "" {
		name = els[len(els)-2]
	}
	if i := strings.Index(name, ".v"); i > 0 {
		name = name[:i]
	}
	return name
}

// reach is the capabilities reachable from the package's function name (id),
// the first site of each in breadth-first order, for the packages that call
// it.
func (p *pkgInfo) reach(name uint32) []site {
	id, ok := p.funcs[name]
	if !ok || !p.nodes[id].declared {
		return nil
	}
	if s, ok := p.reached[id]; ok {
		return s
	}
	var out []site
	var seen uint64 // by capRank
	p.bfs([]int32{id}, func(_ int32, s site) bool {
		if r := uint64(1) << capRank(s.cap); seen&r == 0 {
			seen |= r
			out = append(out, s)
		}
		return len(out) == len(All) // nothing more to find
	})
	if p.reached == nil {
		p.reached = map[int32][]site{}
	}
	p.reached[id] = out
	return out
}

// bfs visits every site reachable from roots, nearest first, until visit
// returns true; during a visit, p.chain(n) is the path to node n.
func (p *pkgInfo) bfs(roots []int32, visit func(n int32, s site) bool) {
	if len(p.mark) < len(p.nodes) {
		p.mark = make([]uint32, len(p.nodes))
		p.parent = make([]int32, len(p.nodes))
		p.epoch = 0
	}
	p.epoch++
	ep := p.epoch
	queue := p.queue[:0]
	for _, r := range roots {
		if p.nodes[r].declared && p.mark[r] != ep {
			p.mark[r], p.parent[r] = ep, -1
			queue = append(queue, r)
		}
	}
	for q := 0; q < len(queue); q++ {
		k := queue[q]
		n := &p.nodes[k]
		for _, s := range n.sites {
			if visit(k, s) {
				p.queue = queue
				return
			}
		}
		for _, c := range n.calls {
			if c < 0 {
				for _, c := range p.methods[-c-1] {
					if p.nodes[c].declared && p.mark[c] != ep {
						p.mark[c], p.parent[c] = ep, k
						queue = append(queue, c)
					}
				}
				continue
			}
			if p.nodes[c].declared && p.mark[c] != ep {
				p.mark[c], p.parent[c] = ep, k
				queue = append(queue, c)
			}
		}
	}
	p.queue = queue
}

// chain is the names of the nodes from a root of the search under way to
// node k, joined by arrows.
func (p *pkgInfo) chain(k int32) string {
	var names []string
	for c := k; c >= 0; c = p.parent[c] {
		names = append(names, p.shown(c))
	}
	slices.Reverse(names)
	return strings.Join(names, " → ")
}

// computeInit finds what package initialisation reaches: from init
// functions and variable initialisers, and the initialisation of imported
// packages.
func (p *pkgInfo) computeInit() map[Capability]Use {
	out := map[Capability]Use{}
	p.bfs(p.roots, func(k int32, s site) bool {
		if _, ok := out[s.cap]; !ok {
			out[s.cap] = Use{Package: p.path, Capability: s.cap, File: s.file, Line: s.line, Via: s.via,
				Init: true, InitPath: p.chain(k), Main: p.main}
		}
		return false
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
func (p *pkgInfo) uses() []Use {
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

// buildable reports whether a Go file's build constraint can hold for some
// GOOS, GOARCH and tags other than "ignore" (the convention for generators
// and examples kept beside a package, which no build compiles).
func buildable(data []byte) bool {
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		t := strings.TrimSpace(string(line))
		if t == "" || strings.HasPrefix(t, "//") && !constraint.IsGoBuild(t) {
			continue
		}
		if !constraint.IsGoBuild(t) {
			return true // the header ended (package clause, a block comment)
		}
		expr, err := constraint.Parse(t)
		if err != nil {
			return true
		}
		return satisfiable(expr)
	}
	return true
}

// satisfiable reports whether expr holds for some assignment of its tags with
// "ignore" false.
func satisfiable(expr constraint.Expr) bool {
	var tags []string
	expr.Eval(func(tag string) bool {
		if tag != "ignore" {
			tags = append(tags, tag)
		}
		return false
	})
	if len(tags) > 12 {
		return true
	}
	for bits := 0; bits < 1<<len(tags); bits++ {
		if expr.Eval(func(tag string) bool {
			for i, t := range tags {
				if t == tag {
					return bits&(1<<i) != 0
				}
			}
			return false
		}) {
			return true
		}
	}
	return false
}

// linknames returns the lines of //go:linkname directives.
func linknames(data []byte) []int {
	var out []int
	if !bytes.Contains(data, []byte("//go:linkname")) {
		return nil
	}
	for i, line := range bytes.Split(data, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("//go:linkname ")) {
			out = append(out, i+1)
		}
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// ignoredPath reports whether the go command ignores the file for builds:
// under testdata, or a directory or file whose name starts with "_" or ".".
func ignoredPath(name string) bool {
	for _, el := range strings.Split(name, "/") {
		if el == "testdata" || strings.HasPrefix(el, "_") || strings.HasPrefix(el, ".") {
			return true
		}
	}
	return strings.HasSuffix(name, "_test.go")
}
