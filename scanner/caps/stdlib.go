package caps

import (
	"bufio"
	_ "embed"
	"strings"
)

// stdlibData is the capability table of the standard library: "pkg.Func",
// "pkg.Type.Method" or "pkg.init", a space, and capabilities joined by
// commas. It is derived from capslock's analysis (see gen.go).
//
//go:embed stdlib.txt
var stdlibData string

// table is the parsed stdlib.txt.
type table struct {
	funcs   map[string][]Capability // "net/http.Get"
	methods map[string][]Capability // "net/http.Client": the union of its exported methods'
	inits   map[string][]Capability // "net/http/pprof": what importing it runs at initialisation
	// byPkg is funcs and extraFuncs by package, then name.
	byPkg map[string]map[string][]Capability
}

var stdlib = func() *table {
	t := parseTable(stdlibData)
	t.byPkg = map[string]map[string][]Capability{}
	for _, m := range []map[string][]Capability{t.funcs, extraFuncs} {
		for key, cs := range m {
			i := strings.LastIndex(key, ".")
			pkg, name := key[:i], key[i+1:]
			if t.byPkg[pkg] == nil {
				t.byPkg[pkg] = map[string][]Capability{}
			}
			t.byPkg[pkg][name] = union(t.byPkg[pkg][name], cs)
		}
	}
	return t
}()

// packageCaps are packages every exported function of which has these
// capabilities, whatever the table says, as capslock classifies them (its
// interesting.cm "package" lines) or modgate adds (plugin). They apply to
// calls (unsafe.Pointer(p) is a call), so that a constant such as
// unix.SIGTERM is not a system call, and a type unsafe.Pointer in a variable's
// declaration is not unsafe code run at initialisation (the import is the
// package's site).
var packageCaps = map[string][]Capability{
	"os/exec":                  {Exec},
	"golang.org/x/sys/unix":    {SystemCalls},
	"golang.org/x/sys/windows": {SystemCalls},
	"plugin":                   {Plugin},
	"unsafe":                   {UnsafePointer},
}

// extraFuncs are functions outside the standard library with more than their
// package's class: golang.org/x/sys runs programs as package syscall does.
var extraFuncs = map[string][]Capability{
	"golang.org/x/sys/unix.Exec":                   {Exec},
	"golang.org/x/sys/windows.CreateProcess":       {Exec},
	"golang.org/x/sys/windows.CreateProcessAsUser": {Exec},
	"reflect.MakeFunc":                             {ReflectCall},
}

func parseTable(data string) *table {
	t := &table{funcs: map[string][]Capability{}, methods: map[string][]Capability{}, inits: map[string][]Capability{}}
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, list, ok := strings.Cut(line, " ")
		if !ok {
			panic("caps: bad stdlib.txt line " + line) // the embedded file is generated: a bug, caught by every test
		}
		var cs []Capability
		for _, c := range strings.Split(list, ",") {
			cs = append(cs, Capability(c))
		}
		// The package path may hold dots (crypto/tls): split at the last
		// slash first.
		dir, rest := "", name
		if i := strings.LastIndex(name, "/"); i >= 0 {
			dir, rest = name[:i+1], name[i+1:]
		}
		parts := strings.Split(rest, ".")
		switch {
		case len(parts) == 2 && parts[1] == "init":
			t.inits[dir+parts[0]] = cs
		case len(parts) == 2:
			t.funcs[name] = cs
		case len(parts) == 3:
			typ := dir + parts[0] + "." + parts[1]
			t.methods[typ] = union(t.methods[typ], cs)
		}
	}
	return t
}

func union(a, b []Capability) []Capability {
	for _, c := range b {
		found := false
		for _, x := range a {
			found = found || x == c
		}
		if !found {
			a = append(a, c)
		}
	}
	return a
}

// lookupFunc is the capabilities of pkgPath.name, a function (or variable)
// of a package outside the module; called is set when it is called.
func lookupFunc(pkgPath, name string, called bool) []Capability {
	key := pkgPath + "." + name
	cs := union(nil, stdlib.funcs[key])
	cs = union(cs, extraFuncs[key])
	if called {
		cs = union(cs, packageCaps[pkgPath])
	}
	return cs
}

// lookupFuncBytes is lookupFunc without building the key.
func lookupFuncBytes(pkgPath string, name []byte, called bool) []Capability {
	cs := stdlib.byPkg[pkgPath][string(name)]
	if called && packageCaps[pkgPath] != nil {
		cs = union(append([]Capability(nil), cs...), packageCaps[pkgPath])
	}
	return cs
}
