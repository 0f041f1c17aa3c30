package caps_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/scanner/caps"
)

// brief is a use in one line, for comparisons: "pkg CAP file:line via [init: path]".
func brief(u caps.Use) string {
	s := fmt.Sprintf("%s %s %s %s", u.Package, u.Capability.Short(), u.Where(), u.Via)
	if u.Init {
		s += " [init: " + u.InitPath + "]"
	}
	if u.Main {
		s += " [main]"
	}
	return s
}

func briefs(us []caps.Use) []string {
	var out []string
	for _, u := range us {
		out = append(out, brief(u))
	}
	return out
}

func zipReport(t *testing.T, b *testkit.Built) *caps.Report {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b.Zip), int64(len(b.Zip)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := caps.Zip(zr, module.Version{Path: b.Path, Version: b.Version})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The fixture of issue 13: v1.0.1 adds EXEC and NETWORK reached from init,
// v1.0.2 takes them away again.
func TestDecimal(t *testing.T) {
	vs := testkit.Decimal(t)
	r0, r1, r2 := zipReport(t, vs[0]), zipReport(t, vs[1]), zipReport(t, vs[2])
	if len(r0.Uses) != 0 || len(r2.Uses) != 0 {
		t.Errorf("pure arithmetic has capabilities: %q, %q", briefs(r0.Uses), briefs(r2.Uses))
	}
	l := testkit.DecimalLines
	want := []string{
		fmt.Sprintf("example.test/decimal EXEC decimal.go:%d os/exec.CommandContext [init: init → poll]", l.Exec),
		fmt.Sprintf("example.test/decimal NETWORK decimal.go:%d net.LookupTXT [init: init → poll]", l.Network),
	}
	if diff := cmp.Diff(want, briefs(r1.Uses)); diff != "" {
		t.Errorf("v1.0.1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, briefs(caps.Added(r0, r1))); diff != "" {
		t.Errorf("v1.0.1 adds (-want +got):\n%s", diff)
	}
	if got := caps.Added(r1, r2); len(got) != 0 {
		t.Errorf("v1.0.2 adds %q to v1.0.1", briefs(got))
	}
	if got := caps.Added(nil, r1); len(got) != 0 {
		t.Errorf("nothing to compare with, but adds %q", briefs(got))
	}
	if r1.Files != 1 || len(r1.Skipped) != 0 || len(r1.Binaries) != 0 {
		t.Errorf("files %d, skipped %q, binaries %v", r1.Files, r1.Skipped, r1.Binaries)
	}
}

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name: "cgo, unsafe and linkname",
			files: map[string]string{"a.go": `package a

// #include <stdlib.h>
import "C"
import "unsafe"

//go:linkname now runtime.nanotime
func now() int64

func Free(p unsafe.Pointer) { C.free(p) }
`},
			want: []string{
				"m/a UNSAFE_POINTER a.go:5 import \"unsafe\"",
				"m/a LINKNAME a.go:7 //go:linkname",
				"m/a CGO a.go:4 import \"C\"",
			},
		},
		{
			name: "assembly",
			files: map[string]string{
				"a.go":        "package a\n\nfunc add(x, y int) int\n\nvar sum = add(1, 2)\n",
				"add_amd64.s": "TEXT ·add(SB),$0\n",
			},
			want: []string{"m/a ASSEMBLY a.go:3 func add (assembly) [init: var sum → add]"},
		},
		{
			name: "a variable initialiser reaches the network through a method and a closure",
			files: map[string]string{"a.go": `package a

import "net/http"

type fetcher struct{}

func (fetcher) fetch() { http.Get("http://x.example") }

var _ = func() int { fetcher{}.fetch(); return 0 }()
`},
			want: []string{"m/a NETWORK a.go:7 net/http.Get [init: var _ → (fetcher).fetch]"},
		},
		{
			name: "a value of a standard type has its methods' capabilities",
			files: map[string]string{"a.go": `package a

import (
	"net/http"
	"os"
)

func Fetch(u string) { c := &http.Client{}; c.Get(u) }

func Setup() { os.Setenv("A", "b"); os.Remove("x"); os.ReadFile("y") }
`},
			want: []string{
				"m/a NETWORK a.go:8 net/http.Client (its methods)",
				"m/a FILES_WRITE a.go:10 os.Remove",
				"m/a FILES a.go:10 os.ReadFile",
				"m/a MODIFY_SYSTEM_STATE a.go:10 os.Setenv",
			},
		},
		{
			name: "plugins, reflective calls and system calls",
			files: map[string]string{"a.go": `package a

import (
	"plugin"
	"reflect"

	"golang.org/x/sys/unix"
)

const sig = unix.SIGTERM // a constant is no system call

func Load(p string) { plugin.Open(p) }

func Call(f any) { reflect.ValueOf(f).Call(nil) }

func Kill(pid int) { unix.Kill(pid, sig) }
`},
			want: []string{
				"m/a EXEC a.go:12 plugin.Open",
				"m/a SYSTEM_CALLS a.go:16 golang.org/x/sys/unix.Kill",
				"m/a PLUGIN a.go:12 plugin.Open",
				"m/a REFLECT_CALL a.go:14 reflect.Value.Call",
			},
		},
		{
			name: "initialisation reaches another package of the module",
			files: map[string]string{
				"a.go": "package a\n\nimport \"m/internal/run\"\n\nfunc init() { run.Start() }\n",
				"internal/run/run.go": `package run

import "os/exec"

func Start() { exec.Command("true").Run() }
`,
				"b/b.go": "package b\n\nimport _ \"m/c\"\n",
				"c/c.go": "package c\n\nimport \"os\"\n\nvar home = os.Getenv(\"HOME\")\n",
			},
			want: []string{
				"m EXEC a.go:5 m/internal/run.Start (os/exec.Command at internal/run/run.go:5) [init: init]",
				"m/b READ_SYSTEM_STATE b/b.go:3 import m/c (its initialisation: os.Getenv at c/c.go:5) [init: import]",
				"m/c READ_SYSTEM_STATE c/c.go:5 os.Getenv [init: var home]",
				"m/internal/run EXEC internal/run/run.go:5 os/exec.Command",
			},
		},
		{
			name: "functions stored in variables run when called, not at initialisation",
			files: map[string]string{
				"a.go": `package a

import (
	"os/exec"
	"sync"
)

var fix = fixDefault

var once = sync.OnceValue(func() error { return exec.Command("go").Run() })

func fixDefault() { exec.Command("go", "env").Run() }
`,
				"b/b.go": `package b

import "net"

var lookup = resolve

func init() { lookup() }

func resolve() { net.LookupHost("x.example") }
`},
			want: []string{
				"m/a EXEC a.go:10 os/exec.Command",
				"m/a/b NETWORK b/b.go:9 net.LookupHost [init: init → var lookup → resolve]",
			},
		},
		{
			name: "init registers a handler (not run) and hands a function to time.AfterFunc (run)",
			files: map[string]string{"a.go": `package a

import (
	"net/http"
	"os/exec"
	"time"
)

func init() {
	http.HandleFunc("/", serve)
	time.AfterFunc(time.Second, poll)
}

func serve(w http.ResponseWriter, r *http.Request) { http.Get("http://x.example") }

func poll() { exec.Command("sh").Run() }
`},
			want: []string{
				"m/a EXEC a.go:16 os/exec.Command [init: init → poll]",
				"m/a NETWORK a.go:10 net/http.HandleFunc [init: init]", // capslock: HandleFunc is NETWORK
			},
		},
		{
			name:  "importing a package whose initialisation serves HTTP",
			files: map[string]string{"a.go": "package a\n\nimport _ \"net/http/pprof\"\n"},
			want:  []string{"m/a NETWORK a.go:3 import net/http/pprof (its initialisation) [init: import]"},
		},
		{
			name: "tests, testdata, ignored generators and commands",
			files: map[string]string{
				"a.go":             "package a\n",
				"a_test.go":        "package a\n\nimport \"os/exec\"\n\nvar _ = exec.Command(\"x\")\n",
				"testdata/t.go":    "package t\n\nimport \"os/exec\"\n\nvar _ = exec.Command(\"x\")\n",
				"gen.go":           "//go:build ignore\n\npackage main\n\nimport \"os\"\n\nfunc main() { os.Create(\"x\") }\n",
				"linux.go":         "//go:build linux && !cgo\n\npackage a\n\nimport \"os\"\n\nfunc Host() { os.Hostname() }\n",
				"cmd/tool/main.go": "package main\n\nimport \"os/exec\"\n\nfunc main() { exec.Command(\"x\").Run() }\n",
			},
			want: []string{
				"m/a READ_SYSTEM_STATE linux.go:7 os.Hostname",
				"m/a/cmd/tool EXEC cmd/tool/main.go:5 os/exec.Command [main]",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var files []caps.File
			mod := "m/a"
			for n, d := range tc.files {
				files = append(files, caps.File{Name: n, Data: []byte(d)})
				if strings.HasPrefix(n, "internal/") {
					mod = "m"
				}
			}
			r := caps.Analyze(mod, files)
			if diff := cmp.Diff(tc.want, briefs(r.Uses)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// A subset of a module's files (the files a clone adds) is analysed alone.
func TestAnalyzeSubset(t *testing.T) {
	r := caps.Analyze("example.com/clone", []caps.File{{Name: "loader.go", Data: []byte(
		"package decimal\n\nimport \"os/exec\"\n\nfunc init() { exec.Command(\"sh\").Start() }\n")}})
	want := []string{"example.com/clone EXEC loader.go:5 os/exec.Command [init: init]"}
	if diff := cmp.Diff(want, briefs(r.Uses)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestDotImport: a dot import does not hide what the imported package can
// do: os/exec's Command called without its package name, from init, is EXEC
// reached from init; a type of net/http made without its name brings its
// methods.
func TestDotImport(t *testing.T) {
	r := caps.Analyze("example.com/dot", []caps.File{{Name: "loader.go", Data: []byte(
		"package dot\n\nimport (\n\t. \"net/http\"\n\t. \"os/exec\"\n)\n\nfunc init() { Command(\"sh\").Start() }\n\nfunc Get() { c := Client{}; _ = c }\n\nfunc local() { total := 1; _ = total }\n")}})
	want := []string{
		"example.com/dot EXEC loader.go:8 os/exec.Command [init: init]",
		"example.com/dot NETWORK loader.go:10 net/http.Client (its methods)",
	}
	if diff := cmp.Diff(want, briefs(r.Uses)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Names of its own, and a dot-imported name that is not called, are
	// not calls into os/exec.
	r = caps.Analyze("example.com/dot", []caps.File{{Name: "add.go", Data: []byte(
		"package dot\n\nimport . \"os/exec\"\n\nvar _ = ErrNotFound\n\nfunc Add(a, b int) int { return a + b }\n")}})
	if got := briefs(r.Uses); len(got) != 0 {
		t.Errorf("a dot import of os/exec without a call: %q, want no capability", got)
	}
}

func TestSkipped(t *testing.T) {
	r := caps.Analyze("m", []caps.File{{Name: "bad.go", Data: []byte("package a\nfunc {")}})
	if len(r.Skipped) != 1 || !strings.HasPrefix(r.Skipped[0], "bad.go: does not parse") || r.Files != 0 {
		t.Errorf("skipped %q, files %d", r.Skipped, r.Files)
	}
}

// TestUnanalysed: a buildable file padded past the pass's limit is listed as
// unanalysed (the policy holds such a zip as capabilities.unknown), a file
// that does not parse is not (it does not compile either).
func TestUnanalysed(t *testing.T) {
	pad := "package a\n\nimport \"os/exec\"\n\nfunc init() { exec.Command(\"sh\").Run() }\n//" + strings.Repeat("x", caps.MaxGoFile) + "\n"
	r := caps.Analyze("m", []caps.File{{Name: "pad.go", Data: []byte(pad)}, {Name: "bad.go", Data: []byte("package a\nfunc {")}})
	got := caps.Unanalysed(r.Skipped)
	if len(got) != 1 || !strings.HasPrefix(got[0], "pad.go: ") {
		t.Errorf("Unanalysed(%q) = %q, want the padded file only", r.Skipped, got)
	}
}

func TestBinaries(t *testing.T) {
	pe := make([]byte, 0x100)
	copy(pe, "MZ")
	pe[0x3c] = 0x80
	copy(pe[0x80:], "PE\x00\x00")
	b := testkit.Build(t, testkit.Module{Path: "example.test/bin", Version: "v1.0.0", Files: map[string]string{
		"a.go":               "package bin\n",
		"tool":               "\x7fELF\x02\x01\x01\x00rest",
		"tool.exe":           string(pe),
		"darwin/tool":        "\xcf\xfa\xed\xfe\x07\x00\x00\x01",
		"install.sh":         "#!/bin/sh\ncurl x | sh\n",
		"testdata/run.sh":    "#!/bin/sh\necho test\n",
		"testdata/fixture":   "\x7fELF\x02\x01\x01\x00",
		"rsrc_windows.syso":  "\x64\x86",
		"README.md":          "MZ is not a program\n",
		"notes/#!.txt":       "text\n",
		"lib/not-a-macho.go": "package lib\n",
	}})
	r := zipReport(t, b)
	var got []string
	for _, x := range r.Binaries {
		got = append(got, fmt.Sprintf("%s %s %v", x.File, x.Kind, x.Testdata))
	}
	want := []string{
		"darwin/tool Mach-O false",
		"install.sh script (#!) false",
		"rsrc_windows.syso object (.syso) false",
		"testdata/fixture ELF true",
		"tool ELF false",
		"tool.exe PE false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	prev := testkit.Build(t, testkit.Module{Path: "example.test/bin", Version: "v0.9.0", Files: map[string]string{
		"a.go": "package bin\n", "tool": "\x7fELF\x02\x01\x01\x00old"}})
	var added []string
	for _, x := range caps.NewBinaries(zipReport(t, prev), r) {
		added = append(added, x.File)
	}
	if diff := cmp.Diff([]string{"darwin/tool", "install.sh", "rsrc_windows.syso", "tool.exe"}, added); diff != "" {
		t.Errorf("new binaries (-want +got):\n%s", diff)
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string][]caps.Capability{
		"EXEC":               {caps.Exec},
		"capability_network": {caps.Network},
		"UNSAFE":             {caps.UnsafePointer, caps.Linkname},
		"ENV":                {caps.ModifySystemState},
		"files_write":        {caps.FilesWrite},
	} {
		got, err := caps.Parse(in)
		if err != nil || !cmp.Equal(want, got) {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := caps.Parse("TELEPORT"); err == nil {
		t.Error("Parse(TELEPORT) did not fail")
	}
}

var realReports = map[module.Version]*caps.Report{}

// realZip analyses a real module zip (once per test binary): from testdata,
// or from the module cache.
func realZip(t *testing.T, m module.Version) *caps.Report {
	t.Helper()
	if r, ok := realReports[m]; ok {
		return r
	}
	r, err := caps.ZipFile(realZipFile(t, m), m)
	if err != nil {
		t.Fatal(err)
	}
	realReports[m] = r
	return r
}

// realZipFile is the path of a real module zip: in testdata, or in the
// module cache.
func realZipFile(t *testing.T, m module.Version) string {
	t.Helper()
	file := filepath.Join("testdata", strings.ReplaceAll(m.Path, "/", "_")+"@"+m.Version+".zip")
	if _, err := os.Stat(file); err != nil {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			t.Fatalf("go env GOMODCACHE: %v", err)
		}
		esc, _ := module.EscapePath(m.Path)
		file = filepath.Join(strings.TrimSpace(string(out)), "cache", "download", esc, "@v", m.Version+".zip")
		if _, err := os.Stat(file); err != nil {
			t.Skipf("SKIPPED LOUDLY: %s@%s is not in testdata or the module cache (%v); run `go mod download %s@%s` to check it", m.Path, m.Version, err, m.Path, m.Version)
		}
	}
	return file
}

// packageCaps is "package CAP[*]" for every use (* when reached from
// initialisation), in the report's order.
func packageCaps(r *caps.Report, prefix string) []string {
	var out []string
	for _, u := range r.Uses {
		if !strings.HasPrefix(u.Package, prefix) {
			continue
		}
		s := u.Package + " " + u.Capability.Short()
		if u.Init {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}

func TestRealZips(t *testing.T) {
	for _, tc := range []struct {
		mod    module.Version
		prefix string // of the packages compared
		want   []string
	}{
		{
			mod: module.Version{Path: "github.com/mattn/go-pointer", Version: "v0.0.1"},
			want: []string{
				"github.com/mattn/go-pointer UNSAFE_POINTER",
				"github.com/mattn/go-pointer CGO",
			},
		},
		{
			mod: module.Version{Path: "github.com/spf13/cobra", Version: "v1.10.1"},
			want: []string{
				"github.com/spf13/cobra FILES_WRITE",
				"github.com/spf13/cobra READ_SYSTEM_STATE",
				"github.com/spf13/cobra/doc FILES_WRITE",
				"github.com/spf13/cobra/doc READ_SYSTEM_STATE",
			},
		},
		{
			mod:    module.Version{Path: "golang.org/x/sys", Version: "v0.49.0"},
			prefix: "golang.org/x/sys/cpu",
			want: []string{
				"golang.org/x/sys/cpu FILES*",
				"golang.org/x/sys/cpu READ_SYSTEM_STATE*",
				"golang.org/x/sys/cpu SYSTEM_CALLS*",
				"golang.org/x/sys/cpu UNSAFE_POINTER*",
				"golang.org/x/sys/cpu LINKNAME",
				"golang.org/x/sys/cpu ASSEMBLY*",
			},
		},
		{
			mod:    module.Version{Path: "golang.org/x/sys", Version: "v0.49.0"},
			prefix: "golang.org/x/sys/execabs",
			want: []string{
				"golang.org/x/sys/execabs EXEC",
				"golang.org/x/sys/execabs FILES",
				"golang.org/x/sys/execabs UNSAFE_POINTER",
			},
		},
	} {
		t.Run(tc.mod.String()+"/"+tc.prefix, func(t *testing.T) {
			r := realZip(t, tc.mod)
			prefix := tc.prefix
			if prefix == "" {
				prefix = tc.mod.Path
			}
			if diff := cmp.Diff(tc.want, packageCaps(r, prefix)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(r.Skipped) != 0 {
				t.Errorf("skipped %q", r.Skipped)
			}
		})
	}
}

// TestAgainstCapslock compares the pass with what capslock reports for the
// same real packages (testdata/capslock): every capability capslock finds in
// a class the pass tracks is found, and the pass finds nothing capslock
// does not, except the differences listed, each with its reason.
func TestAgainstCapslock(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "capslock", "expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	capslock := map[string]map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || strings.HasPrefix(l, "#") {
			continue
		}
		if capslock[f[0]] == nil {
			capslock[f[0]] = map[string]bool{}
		}
		if f[1] != "-" {
			capslock[f[0]][f[1]] = true
		}
	}
	// The pass's names in capslock's classes.
	class := map[string]string{"FILES_WRITE": "FILES", "LINKNAME": "ARBITRARY_EXECUTION", "ASSEMBLY": "ARBITRARY_EXECUTION",
		"MODIFY_SYSTEM_STATE": "MODIFY_SYSTEM_STATE", "PLUGIN": "EXEC", "REFLECT_CALL": "REFLECT"}
	// capslock calls unsafe.Pointer use ARBITRARY_EXECUTION in a package's
	// own code, UNSAFE_POINTER where it comes through atomics.
	same := func(ours string, theirs map[string]bool) bool {
		c := ours
		if x, ok := class[ours]; ok {
			c = x
		}
		return theirs[c] || ours == "UNSAFE_POINTER" && theirs["ARBITRARY_EXECUTION"]
	}
	tracked := map[string]bool{"EXEC": true, "NETWORK": true, "FILES": true, "READ_SYSTEM_STATE": true, "MODIFY_SYSTEM_STATE": true,
		"SYSTEM_CALLS": true, "UNSAFE_POINTER": true, "CGO": true}
	// Known differences: package capability -> why.
	onlyCapslock := map[string]string{
		"github.com/spf13/cobra NETWORK":        "capslock follows calls through interfaces (fmt, io.Writer) into net",
		"github.com/spf13/cobra UNSAFE_POINTER": "through its dependency github.com/spf13/pflag and the standard library, not cobra's own code",
	}
	onlyOurs := map[string]string{
		"golang.org/x/sys/cpu":  "capslock's map classifies the package as safe",
		"golang.org/x/sys/unix": "capslock's map classifies the whole package as SYSTEM_CALLS and does not look inside",
	}
	mods := map[string]module.Version{
		"github.com/mattn/go-pointer": {Path: "github.com/mattn/go-pointer", Version: "v0.0.1"},
		"github.com/spf13/cobra":      {Path: "github.com/spf13/cobra", Version: "v1.10.1"},
		"golang.org/x/sys/cpu":        {Path: "golang.org/x/sys", Version: "v0.49.0"},
		"golang.org/x/sys/execabs":    {Path: "golang.org/x/sys", Version: "v0.49.0"},
		"golang.org/x/sys/unix":       {Path: "golang.org/x/sys", Version: "v0.49.0"},
	}
	for pkg, theirs := range capslock {
		t.Run(pkg, func(t *testing.T) {
			r := realZip(t, mods[pkg])
			ours := map[string]bool{}
			for _, u := range r.Uses {
				if u.Package == pkg {
					ours[u.Capability.Short()] = true
				}
			}
			for c := range theirs {
				if !tracked[c] {
					continue
				}
				found := false
				for o := range ours {
					found = found || same(o, map[string]bool{c: true})
				}
				if !found && onlyCapslock[pkg+" "+c] == "" {
					t.Errorf("capslock reports %s, the pass does not", c)
				}
			}
			if onlyOurs[pkg] != "" {
				return
			}
			for o := range ours {
				if !same(o, theirs) {
					t.Errorf("the pass reports %s, capslock does not", o)
				}
			}
		})
	}
}
