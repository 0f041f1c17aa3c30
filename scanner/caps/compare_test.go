package caps

import (
	"archive/zip"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"golang.org/x/mod/module"
)

// oldZip is Zip as it was before the lexer: the files buffered, then the
// go/parser analysis (oldpass_test.go).
func oldZip(r *zip.Reader, m module.Version) (*Report, error) {
	src := oldMemSource{}
	var binaries []Binary
	var skipped []string
	_, err := forEachFile(r, m, nil, func(name string, size int64, buf []byte) {
		if b := binaryOf(name, buf); b != nil {
			binaries = append(binaries, *b)
		}
		switch path.Ext(name) {
		case ".s", ".syso":
			src[name] = nil
			return
		case ".go":
		default:
			return
		}
		if size > MaxGoFile || int64(len(buf)) < size {
			if !ignoredPath(name) {
				skipped = append(skipped, fmt.Sprintf("%s: %d bytes%s %d", name, size, overLimit, MaxGoFile))
			}
			return
		}
		src[name] = append([]byte(nil), buf...)
	})
	if err != nil {
		return nil, err
	}
	rep, err := oldAnalyze(m.Path, src)
	if err != nil {
		return nil, err
	}
	rep.Skipped = append(skipped, rep.Skipped...)
	rep.Binaries = binaries
	return rep, nil
}

// fixtureZips lists the module zips under a module cache's download
// directory.
func fixtureZips(t testing.TB, root string) map[string]module.Version {
	out := map[string]module.Version{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".zip") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		dir, file := path.Split(filepath.ToSlash(rel))
		mp, err := module.UnescapePath(strings.TrimSuffix(dir, "/@v/"))
		if err != nil {
			return nil
		}
		v, err := module.UnescapeVersion(strings.TrimSuffix(file, ".zip"))
		if err != nil {
			return nil
		}
		out[p] = module.Version{Path: mp, Version: v}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompareOld runs the pass and the go/parser pass it replaced over every
// zip of a module cache (MODGATE_CAPS_COMPARE=$B/modcache/cache/download)
// and fails on a loss: a capability of a package, or its use from
// initialisation, that the old pass found and this one does not. Other
// differences are logged. Skipped without the variable.
func TestCompareOld(t *testing.T) {
	root := os.Getenv("MODGATE_CAPS_COMPARE")
	if root == "" {
		t.Skip("MODGATE_CAPS_COMPARE not set")
	}
	zips := fixtureZips(t, root)
	var paths []string
	for p := range zips {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	same, differ := 0, 0
	for _, p := range paths {
		m := zips[p]
		zr, err := zip.OpenReader(p)
		if err != nil {
			t.Fatal(err)
		}
		old, err := oldZip(&zr.Reader, m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Zip(&zr.Reader, m)
		if err != nil {
			t.Fatal(err)
		}
		zr.Close()
		if reflect.DeepEqual(old, got) {
			same++
			continue
		}
		differ++
		t.Logf("%s: differs", m)
		for _, l := range compareReports(old, got) {
			if strings.HasPrefix(l, "LOSS") {
				t.Errorf("%s: %s", m, l)
			} else {
				t.Logf("  %s", l)
			}
		}
	}
	t.Logf("%d zips: %d identical reports, %d differ", len(paths), same, differ)
}

// compareReports describes how got differs from old, a line each; a line
// starting with LOSS is a capability (or an init use) old has and got has
// not.
func compareReports(old, got *Report) []string {
	var out []string
	key := func(u Use) string { return u.Package + " " + u.Capability.Short() }
	gm := map[string]Use{}
	for _, u := range got.Uses {
		gm[key(u)] = u
	}
	om := map[string]Use{}
	for _, u := range old.Uses {
		om[key(u)] = u
		g, ok := gm[key(u)]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("LOSS %s: old %s %s", key(u), u.Where(), u.Via))
		case u.Init && !g.Init:
			out = append(out, fmt.Sprintf("LOSS init %s: old %s %s [%s], new %s %s", key(u), u.Where(), u.Via, u.InitPath, g.Where(), g.Via))
		case u != g:
			out = append(out, fmt.Sprintf("other %s: old %s %s init=%v [%s], new %s %s init=%v [%s]", key(u), u.Where(), u.Via, u.Init, u.InitPath, g.Where(), g.Via, g.Init, g.InitPath))
		}
	}
	for _, u := range got.Uses {
		if _, ok := om[key(u)]; !ok {
			out = append(out, fmt.Sprintf("adds %s: %s %s init=%v [%s]", key(u), u.Where(), u.Via, u.Init, u.InitPath))
		}
	}
	if old.Files != got.Files {
		out = append(out, fmt.Sprintf("files: old %d, new %d", old.Files, got.Files))
	}
	if !reflect.DeepEqual(old.Skipped, got.Skipped) {
		out = append(out, fmt.Sprintf("skipped: old %q, new %q", old.Skipped, got.Skipped))
	}
	if !reflect.DeepEqual(old.Binaries, got.Binaries) {
		out = append(out, fmt.Sprintf("binaries: old %v, new %v", old.Binaries, got.Binaries))
	}
	return out
}

// TestCompareTestdata holds the pass to the go/parser pass it replaced on
// the real zips of testdata, and on modgate's own dependencies
// golang.org/x/sys and x/mod when the module cache has them (go.mod's
// versions): the same reports, field for field.
func TestCompareTestdata(t *testing.T) {
	cases := []struct{ file, path, version string }{
		{"testdata/github.com_spf13_cobra@v1.10.1.zip", "github.com/spf13/cobra", "v1.10.1"},
		{"testdata/github.com_mattn_go-pointer@v0.0.1.zip", "github.com/mattn/go-pointer", "v0.0.1"},
	}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		for _, m := range []module.Version{{Path: "golang.org/x/sys", Version: "v0.49.0"}, {Path: "golang.org/x/mod", Version: "v0.42.0"}} {
			file := filepath.Join(strings.TrimSpace(string(out)), "cache", "download", m.Path, "@v", m.Version+".zip")
			if _, err := os.Stat(file); err != nil {
				t.Logf("SKIPPED LOUDLY: %s not in the module cache (%v)", m, err)
				continue
			}
			cases = append(cases, struct{ file, path, version string }{file, m.Path, m.Version})
		}
	}
	for _, c := range cases {
		m := module.Version{Path: c.path, Version: c.version}
		zr, err := zip.OpenReader(c.file)
		if err != nil {
			t.Fatal(err)
		}
		old, err := oldZip(&zr.Reader, m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Zip(&zr.Reader, m)
		if err != nil {
			t.Fatal(err)
		}
		zr.Close()
		if !reflect.DeepEqual(old, got) {
			t.Errorf("%s: the report differs from the go/parser pass's:\n%s", m, strings.Join(compareReports(old, got), "\n"))
		}
		if len(got.Uses) == 0 && m.Path == "github.com/spf13/cobra" {
			t.Errorf("%s: no uses: the comparison compares nothing", m)
		}
	}
}

// orderSrc is a module whose reports depend on the order in which the walker
// meets calls and sites (breadth-first search takes the first), and on the
// rules for what initialisation runs.
var orderSrc = map[string]string{
	"a.go": `package a

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"sync"
	"time"
	"unsafe"

	"example.com/m/b"
)

var once sync.Once

type T struct{ c *http.Client }

func (t *T) Dial() *T { net.Dial("tcp", "x"); return t }
func (t *T) Lookup() *T { net.LookupHost("x"); return t }
func (t *T) Run()  { exec.Command("sh").Run() }
func (t *T) Env() string { return os.Getenv("HOME") }

func init() {
	_ = unsafe.Slice(unsafe.StringData("x"), 1)
	t := &T{}
	t.Run()
	t.Lookup().Dial()
	(func() { os.Setenv("A", "b") })()
	once.Do(func() { t.Dial() })
	time.AfterFunc(time.Second, func() { os.Remove("x") })
	go t.Env()
	b.Start(t.Env(), os.Getpid())
	reflect.ValueOf(t).MethodByName("Run").Call(nil)
}

var stored = func() { exec.Command("stored").Run() }

var ran = func() int { os.Hostname(); return 1 }()

var (
	h1, h2 = http.Client{}, net.Dialer{}
	c http.Client
)

func Use() {
	if x := (T{}); x.c == nil {
		for _, v := range []struct{ c *http.Client }{{&http.Client{}}} {
			_ = v
		}
	}
	var d net.Dialer
	_ = d
	p := new(http.Transport)
	_ = p
	f := func() *T { return &T{} }
	f().Env()
	(*T).Run(nil)
	stored()
}

func _() {}

var _ = Use
`,
	"b/b.go": `package b

import (
	"os"
	"syscall"
)

func Start(s string, pid int) { syscall.Kill(pid, 0); os.Getwd() }

func init() { helper() }

func helper() { os.Chdir("/") }
`,
	"c/c.go": `package c

import (
	. "os/exec"
	. "net/http"
	x "example.com/m/b"
)

func init() {
	Command("sh").Start()
	(x.Start)("", 1)
}

func G() { c := Client{}; _ = c; LookPath("go") }
`,
	"d/d_linux.go": `package d

import "os"

type F[K comparable, V any] struct{}

func (f *F[K, V]) Close() { os.Remove("a") }

func init() { var f F[int, int]; f.Close() }
`,
	"d/d_windows.go": `package d

import "os/exec"

func (f *F[K, V]) Close() { exec.Command("cmd").Run() }
`,
}

// TestCompareOrder holds the pass to the go/parser pass on orderSrc: the
// same report, field for field.
func TestCompareOrder(t *testing.T) {
	src := oldMemSource{}
	var files []File
	for n, s := range orderSrc {
		src[n] = []byte(s)
		files = append(files, File{Name: n, Data: []byte(s)})
	}
	old, err := oldAnalyze("example.com/m", src)
	if err != nil {
		t.Fatal(err)
	}
	got := Analyze("example.com/m", files)
	if old.Files != len(orderSrc) || len(old.Skipped) != 0 {
		t.Fatalf("the old pass read %d files, skipped %q", old.Files, old.Skipped)
	}
	if !reflect.DeepEqual(old, got) {
		t.Errorf("the report differs from the go/parser pass's:\n%s", strings.Join(compareReports(old, got), "\n"))
	}
}
