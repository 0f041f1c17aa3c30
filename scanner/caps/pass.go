package caps

import (
	"bytes"
	"go/build/constraint"
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
// initialiser of a package, with what it uses and calls.
type node struct {
	name  string // as shown: "init", "poll", "(T).m", "var x"
	sites []site
	calls []string // node keys
}

// methodGroup prefixes an entry of node.calls that stands for every method
// of a name (pkgInfo.methods).
const methodGroup = "M:"

type pkgInfo struct {
	path, name string
	main       bool
	nodes      map[string]*node
	order      []string // node keys in declaration order
	roots      []string // init functions and variable initialisers
	fileSites  []site   // imports and directives: not in a function
	initSites  []site   // imported packages whose initialisation has capabilities
	initUses   map[Capability]Use
	memo       map[string][]site   // node key -> reachable capabilities (first site each)
	methods    map[string][]string // method name -> node keys, for methodGroup entries
}

// release drops the graph once no package will ask reach of it; its
// initUses stay (nil p does nothing).
func (p *pkgInfo) release() {
	if p == nil {
		return
	}
	p.nodes, p.order, p.roots, p.fileSites, p.initSites, p.memo, p.methods = nil, nil, nil, nil, nil, nil, nil
}

func (p *pkgInfo) node(key, name string) *node {
	n := p.nodes[key]
	if n == nil {
		n = &node{name: name}
		p.nodes[key] = n
		p.order = append(p.order, key)
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

// reach is the capabilities reachable from the node key (a function of the
// package), the first site of each in breadth-first order, for the packages
// that call it.
func (p *pkgInfo) reach(key string) []site {
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
// of node names that leads to it.
func (p *pkgInfo) bfs(roots []string, visit func(key string, s site, chain []string)) {
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
			if name, ok := strings.CutPrefix(c, methodGroup); ok {
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
func (p *pkgInfo) computeInit() map[Capability]Use {
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
