//go:build linux

package caps

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"runtime"
	"runtime/metrics"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/module"
)

// memFile is a module zip's file, inflated, as a verifying reader hands it
// to a pass.
type memFile struct {
	name string
	size int64
	data []byte
}

// oldPass is the go/parser pass over files handed one at a time, as Pass
// was at 6d52502: the files buffered, analysed at the end.
type oldPass struct {
	modPath  string
	src      oldMemSource
	binaries []Binary
	skipped  []string
}

func (p *oldPass) File(name string, size int64, data []byte) {
	if b := binaryOf(name, data); b != nil {
		p.binaries = append(p.binaries, *b)
	}
	switch path.Ext(name) {
	case ".s", ".syso":
		p.src[name] = nil
		return
	case ".go":
	default:
		return
	}
	if size > MaxGoFile || int64(len(data)) < size {
		if !ignoredPath(name) {
			p.skipped = append(p.skipped, fmt.Sprintf("%s: %d bytes%s %d", name, size, overLimit, MaxGoFile))
		}
		return
	}
	p.src[name] = append([]byte(nil), data...)
}

func (p *oldPass) Report() *Report {
	r, _ := oldAnalyze(p.modPath, p.src)
	r.Skipped = append(p.skipped, r.Skipped...)
	r.Binaries = p.binaries
	return r
}

type filePass interface {
	File(name string, size int64, data []byte)
	Report() *Report
}

func newFilePass(impl, modPath string) filePass {
	if impl == "old" {
		return &oldPass{modPath: modPath, src: oldMemSource{}}
	}
	return NewPass(modPath)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// heapPeak samples the live heap every millisecond until stop is called.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// TestMeasure measures the pass, old (go/parser) and new, over the zips of a
// module cache (MODGATE_CAPS_MEASURE=$B/modcache/cache/download, or a file
// listing zips) in one run: CPU seconds of the pass alone (the same loop that
// only inflates the files is subtracted), bytes allocated, and the peak of
// the live heap. MODGATE_CAPS_MEASURE_IMPL=old or new runs one of them only
// (for /usr/bin/time -v's peak RSS). Skipped without the variable.
func TestMeasure(t *testing.T) {
	root := os.Getenv("MODGATE_CAPS_MEASURE")
	if root == "" {
		t.Skip("MODGATE_CAPS_MEASURE not set")
	}
	var zips map[string]module.Version
	if st, err := os.Stat(root); err == nil && !st.IsDir() {
		data, _ := os.ReadFile(root)
		zips = map[string]module.Version{}
		for _, l := range strings.Fields(string(data)) {
			for p, m := range fixtureZips(t, strings.SplitN(l, "/cache/download/", 2)[0]+"/cache/download") {
				if p == l {
					zips[p] = m
				}
			}
		}
	} else {
		zips = fixtureZips(t, root)
	}
	var paths []string
	for p := range zips {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	impls := []string{"inflate", "old", "new"}
	if i := os.Getenv("MODGATE_CAPS_MEASURE_IMPL"); i != "" {
		impls = []string{"inflate", i}
	}
	var buf []byte
	var goBytes int64
	for _, impl := range impls {
		runtime.GC()
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		stop := heapPeak()
		c0 := cpuSeconds()
		var maxOne float64
		var maxMod module.Version
		for _, p := range paths {
			m := zips[p]
			zr, err := zip.OpenReader(p)
			if err != nil {
				t.Fatal(err)
			}
			z0 := cpuSeconds()
			var fp filePass
			if impl != "inflate" {
				fp = newFilePass(impl, m.Path)
			}
			buf, err = forEachFile(&zr.Reader, m, buf, func(name string, size int64, data []byte) {
				if fp != nil {
					fp.File(name, size, data)
				} else if path.Ext(name) == ".go" {
					goBytes += int64(len(data))
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if fp != nil {
				fp.Report()
			}
			if d := cpuSeconds() - z0; d > maxOne {
				maxOne, maxMod = d, m
			}
			zr.Close()
		}
		cpu := cpuSeconds() - c0
		peak := stop()
		runtime.ReadMemStats(&ms1)
		t.Logf("%-7s %d zips: CPU %.2f s (incl. inflate), allocated %.0f MiB, peak live heap %.1f MiB; slowest %s %.2f s",
			impl, len(paths), cpu, float64(ms1.TotalAlloc-ms0.TotalAlloc)/(1<<20), float64(peak)/(1<<20), maxMod, maxOne)
	}
	t.Logf(".go bytes handed: %d MiB", goBytes>>20)
}

// BenchmarkPass runs the pass, old and new, over a real module zip
// (testdata's cobra) held in memory.
func BenchmarkPass(b *testing.B) {
	data, err := os.ReadFile("testdata/github.com_spf13_cobra@v1.10.1.zip")
	if err != nil {
		b.Fatal(err)
	}
	m := module.Version{Path: "github.com/spf13/cobra", Version: "v1.10.1"}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	var files []memFile
	var total int64
	if _, err := forEachFile(zr, m, nil, func(name string, size int64, d []byte) {
		files = append(files, memFile{name: name, size: size, data: append([]byte(nil), d...)})
		total += int64(len(d))
	}); err != nil {
		b.Fatal(err)
	}
	for _, impl := range []string{"old", "new"} {
		b.Run(impl, func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			c0 := cpuSeconds()
			for b.Loop() {
				p := newFilePass(impl, m.Path)
				for _, f := range files {
					p.File(f.name, f.size, f.data)
				}
				if r := p.Report(); r.Files == 0 {
					b.Fatal("no files")
				}
			}
			b.ReportMetric((cpuSeconds()-c0)/float64(b.N)*1e3, "cpu-ms/op")
		})
	}
}

// TestHeld: a pass holds summaries, far smaller than the source it was given.
func TestHeld(t *testing.T) {
	zr, err := zip.OpenReader("testdata/github.com_spf13_cobra@v1.10.1.zip")
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	m := module.Version{Path: "github.com/spf13/cobra", Version: "v1.10.1"}
	p := NewPass(m.Path)
	var src int64
	if _, err := forEachFile(&zr.Reader, m, nil, func(name string, size int64, data []byte) {
		if path.Ext(name) == ".go" && !ignoredPath(name) {
			src += size
		}
		p.File(name, size, data)
	}); err != nil {
		t.Fatal(err)
	}
	if p.Held() <= 0 || p.Held() > src/3 {
		t.Errorf("the pass holds %d bytes for %d bytes of Go", p.Held(), src)
	}
	t.Logf("%d bytes held for %d bytes of library Go", p.Held(), src)
}

// fixtureSample is every nth zip (in path order) of the module cache named by
// the variable env, inflated into memory as a pass is given its files; nil
// (and the benchmark skipped) without the variable.
func fixtureSample(b *testing.B, env string, every int) (mods []module.Version, files [][]memFile, goBytes int64) {
	root := os.Getenv(env)
	if root == "" {
		b.Skip(env + " not set")
	}
	zips := fixtureZips(b, root)
	var paths []string
	for p := range zips {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf []byte
	for i, p := range paths {
		if i%every != 0 {
			continue
		}
		m := zips[p]
		zr, err := zip.OpenReader(p)
		if err != nil {
			b.Fatal(err)
		}
		var fs []memFile
		buf, err = forEachFile(&zr.Reader, m, buf, func(name string, size int64, d []byte) {
			fs = append(fs, memFile{name: name, size: size, data: append([]byte(nil), d...)})
			if path.Ext(name) == ".go" {
				goBytes += int64(len(d))
			}
		})
		zr.Close()
		if err != nil {
			b.Fatal(err)
		}
		mods = append(mods, m)
		files = append(files, fs)
	}
	return mods, files, goBytes
}

// BenchmarkPassFixture runs the pass over every 16th zip of a module cache
// (MODGATE_CAPS_BENCH=$B/modcache/cache/download; 54 of the hugo graph's 862
// zips), inflated into memory first, so that only the pass is measured:
//
//	MODGATE_CAPS_BENCH=/tmp/perfpath-bench/B/modcache/cache/download \
//	  go test ./scanner/caps -run '^$' -bench PassFixture -benchmem -benchtime 3x
func BenchmarkPassFixture(b *testing.B) {
	mods, files, goBytes := fixtureSample(b, "MODGATE_CAPS_BENCH", 16)
	b.Logf("%d zips, %d MiB of .go", len(mods), goBytes>>20)
	b.SetBytes(goBytes)
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuSeconds()
	for b.Loop() {
		for i, m := range mods {
			p := NewPass(m.Path)
			for _, f := range files[i] {
				p.File(f.name, f.size, f.data)
			}
			p.Report()
		}
	}
	b.ReportMetric((cpuSeconds()-c0)/float64(b.N), "cpu-s/op")
}

// TestDump writes the report of every zip of a module cache
// (MODGATE_CAPS_DUMP=$B/modcache/cache/download) as a JSON line to the file
// MODGATE_CAPS_DUMP_OUT, so that two builds of the pass can be compared
// byte for byte. Skipped without the variables.
func TestDump(t *testing.T) {
	root, out := os.Getenv("MODGATE_CAPS_DUMP"), os.Getenv("MODGATE_CAPS_DUMP_OUT")
	if root == "" || out == "" {
		t.Skip("MODGATE_CAPS_DUMP and MODGATE_CAPS_DUMP_OUT not set")
	}
	zips := fixtureZips(t, root)
	var paths []string
	for p := range zips {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, p := range paths {
		m := zips[p]
		zr, err := zip.OpenReader(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Zip(&zr.Reader, m)
		zr.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(struct {
			Module module.Version
			Report *Report
		}{m, r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reports written to %s", len(paths), out)
}

// BenchmarkLex runs the lexer alone over the .go files of
// BenchmarkPassFixture's sample, and the lexer it replaced (ref).
func BenchmarkLex(b *testing.B) {
	_, files, goBytes := fixtureSample(b, "MODGATE_CAPS_BENCH", 16)
	for _, impl := range []string{"new", "ref"} {
		b.Run(impl, func(b *testing.B) {
			b.SetBytes(goBytes)
			b.ReportAllocs()
			var toks int
			c0 := cpuSeconds()
			for b.Loop() {
				toks = 0
				var l lexer
				var r refLexer
				for _, fs := range files {
					for _, f := range fs {
						if path.Ext(f.name) != ".go" {
							continue
						}
						if impl == "ref" {
							r.init(f.data)
							for r.next().t != tEOF {
								toks++
							}
							continue
						}
						l.init(f.data)
						for l.next().t != tEOF {
							toks++
						}
					}
				}
			}
			b.ReportMetric((cpuSeconds()-c0)/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(toks), "tokens/op")
		})
	}
}
