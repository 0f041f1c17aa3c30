// Package caps finds the capabilities a module's code uses, per package, from
// its source, without building or running anything: running programs (EXEC),
// the network, writing files, unsafe memory and go:linkname, cgo, assembly,
// plugins, reflective calls, reading and changing the process's environment
// and system state, raw system calls; and which of them are reached from
// package initialisation (init functions and package-level variable
// initialisers, following calls inside the package and into the module's own
// packages), each with a file and line. Binary and executable files in a
// module zip are reported as well.
//
// The capability names and the classification of the standard library are
// Google's capslock (https://github.com/google/capslock, see [Capability] and
// stdlib.txt, which is derived from capslock's analysis of the standard
// library by gen.go). capslock type-checks the packages and their
// dependencies and builds an SSA call graph: on a module zip at ingest,
// without its dependencies, that is not possible, and it costs seconds and
// hundreds of MiB per package. This pass is syntactic and per module:
//
//   - a call or reference pkg.Func of an imported standard-library package
//     carries the capabilities capslock finds for that function; a value of a
//     standard-library type built in the code (a composite literal, new(T) or
//     a variable of type T) carries those of its exported methods
//     (http.Client{} is NETWORK), since a method call on a variable cannot be
//     resolved without types;
//   - calls inside the package follow functions by name and methods by
//     method name (any receiver, so more edges than the program has); calls
//     into other packages of the same module follow that package's function;
//   - other modules' packages are not followed (their own zips are analysed
//     when they are fetched), except golang.org/x/sys/unix and
//     golang.org/x/sys/windows, which are SYSTEM_CALLS as capslock classifies
//     them;
//   - every file of a package counts whatever its GOOS/GOARCH, but not
//     _test.go files, files under testdata, or files excluded by an
//     "ignore"-style build constraint (//go:build ignore).
//
// So it over-approximates within a module and does not see capabilities that
// arrive through interfaces or callbacks of other modules.
package caps

import (
	"fmt"
	"sort"
	"strings"
)

// Capability is a capability's name, as capslock spells it
// (CAPABILITY_EXEC); modgate adds FILES_WRITE, LINKNAME, ASSEMBLY, PLUGIN and
// REFLECT_CALL where capslock has a broader class.
type Capability string

// The capabilities the pass reports.
const (
	Exec              Capability = "CAPABILITY_EXEC"                // os/exec, syscall.Exec and ForkExec, os.StartProcess
	Network           Capability = "CAPABILITY_NETWORK"             // net, net/http clients and servers, ...
	Files             Capability = "CAPABILITY_FILES"               // reading the file system
	FilesWrite        Capability = "CAPABILITY_FILES_WRITE"         // creating, writing, removing, renaming files (capslock: FILES)
	ReadSystemState   Capability = "CAPABILITY_READ_SYSTEM_STATE"   // environment variables, host name, user, working directory
	ModifySystemState Capability = "CAPABILITY_MODIFY_SYSTEM_STATE" // os.Setenv, os.Chdir, signal handlers, the standard logger
	SystemCalls       Capability = "CAPABILITY_SYSTEM_CALLS"        // package syscall, golang.org/x/sys/unix and windows
	UnsafePointer     Capability = "CAPABILITY_UNSAFE_POINTER"      // package unsafe
	Linkname          Capability = "CAPABILITY_LINKNAME"            // //go:linkname: reaching unexported symbols of other packages
	CGO               Capability = "CAPABILITY_CGO"                 // import "C"
	Assembly          Capability = "CAPABILITY_ASSEMBLY"            // .s files (capslock: ARBITRARY_EXECUTION)
	Plugin            Capability = "CAPABILITY_PLUGIN"              // package plugin: loading code at run time
	ReflectCall       Capability = "CAPABILITY_REFLECT_CALL"        // reflect.Value.Call, CallSlice, reflect.MakeFunc
)

// All is every capability the pass reports, in a stable order.
var All = []Capability{Exec, Network, FilesWrite, Files, ReadSystemState, ModifySystemState, SystemCalls,
	UnsafePointer, Linkname, CGO, Assembly, Plugin, ReflectCall}

// Short is the name without "CAPABILITY_" (EXEC), as policies and messages
// write it.
func (c Capability) Short() string { return strings.TrimPrefix(string(c), "CAPABILITY_") }

// Parse reads a capability name as a policy writes it: EXEC or
// CAPABILITY_EXEC, in any case. UNSAFE names both UNSAFE_POINTER and
// LINKNAME; ENV and OS name MODIFY_SYSTEM_STATE (changing the environment or
// the process's state).
func Parse(name string) ([]Capability, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "CAPABILITY_")
	switch n {
	case "UNSAFE":
		return []Capability{UnsafePointer, Linkname}, nil
	case "ENV", "OS":
		return []Capability{ModifySystemState}, nil
	}
	for _, c := range All {
		if c.Short() == n {
			return []Capability{c}, nil
		}
	}
	var names []string
	for _, c := range All {
		names = append(names, c.Short())
	}
	return nil, fmt.Errorf("unknown capability %q (want one of %s, UNSAFE, ENV)", name, strings.Join(names, ", "))
}

// Use is one capability of one package: where the package's code gets it.
type Use struct {
	// Package is the package's import path.
	Package    string
	Capability Capability
	// File is the file's path in the module (slash-separated, no
	// module@version/ prefix) and Line its line, of the call, reference,
	// import or directive that gives the capability.
	File string
	Line int
	// Via says what gives it: "os/exec.Command", `import "C"`,
	// "//go:linkname", "asm_amd64.s", "example.com/m/internal/x.Run".
	Via string
	// Init is set when package initialisation reaches the use; InitPath is
	// then the chain of functions from it ("init → poll").
	Init     bool
	InitPath string
	// Main is set for a command's package (package main), which no other
	// package imports.
	Main bool
}

// Where is "file:line".
func (u Use) Where() string { return fmt.Sprintf("%s:%d", u.File, u.Line) }

// Binary is a file in a module zip that is a program rather than source.
type Binary struct {
	File string
	// Kind is "ELF", "Mach-O", "PE", "script (#!)" or "object (.syso)".
	Kind string
	// Testdata is set for a file under a testdata directory (never built).
	Testdata bool
}

// Report is what the pass found in a module's files.
type Report struct {
	// Uses has at most one entry per package and capability: one reached
	// from initialisation if any, else the first in file and line order.
	// Sorted by package, then capability in the order of [All].
	Uses     []Use
	Binaries []Binary
	// Files is how many Go files were analysed.
	Files int
	// Skipped are the Go files not analysed, with why ("a.go: does not
	// parse: ..."): their capabilities are unknown.
	Skipped []string
}

// Has reports whether any package that is not a command has c (reached from
// initialisation when init is set).
func (r *Report) Has(c Capability, init bool) bool {
	for _, u := range r.Uses {
		if u.Capability == c && !u.Main && (!init || u.Init) {
			return true
		}
	}
	return false
}

// Added returns what next adds to base, the previous version of the module:
// each use of a capability no library package of base had (Init then tells
// whether the new use is reached from initialisation), and each use reached
// from initialisation of a capability base had but never reached from
// initialisation (Init set). Commands (package main) are left out: no build
// that imports the module runs them. A nil base adds nothing (nothing to
// compare with).
func Added(base, next *Report) []Use {
	if base == nil || next == nil {
		return nil
	}
	var out []Use
	for _, u := range next.Uses {
		if u.Main {
			continue
		}
		switch {
		case !base.Has(u.Capability, false):
			out = append(out, u)
		case u.Init && !base.Has(u.Capability, true):
			out = append(out, u)
		}
	}
	return out
}

// NewBinaries returns the binaries of next (outside testdata) whose path base
// did not have.
func NewBinaries(base, next *Report) []Binary {
	if base == nil || next == nil {
		return nil
	}
	had := map[string]bool{}
	for _, b := range base.Binaries {
		had[b.File] = true
	}
	var out []Binary
	for _, b := range next.Binaries {
		if !b.Testdata && !had[b.File] {
			out = append(out, b)
		}
	}
	return out
}

func capRank(c Capability) int {
	for i, a := range All {
		if a == c {
			return i
		}
	}
	return len(All)
}

func sortUses(us []Use) {
	sort.SliceStable(us, func(i, j int) bool {
		if us[i].Package != us[j].Package {
			return us[i].Package < us[j].Package
		}
		return capRank(us[i].Capability) < capRank(us[j].Capability)
	})
}
