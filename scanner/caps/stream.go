package caps

import (
	"fmt"
	"path"
	"strings"
)

// Pass runs the analysis over a module's files as they are read, one at a
// time (from a zip being verified, say), so that a caller that reads every
// file anyway gives each to the pass as it goes instead of the pass reading
// the zip again. Create it with [NewPass], give it every file with
// [Pass.File], then call [Pass.Report] once.
type Pass struct {
	modPath  string
	src      memSource
	binaries []Binary
	skipped  []string
}

// NewPass starts a pass over the files of the module modPath.
func NewPass(modPath string) *Pass {
	return &Pass{modPath: modPath, src: memSource{}}
}

// SniffLen is how many bytes of a file's start [Pass.File] needs to tell a
// program (see [Sniff]) when the file is too large to be given whole.
const SniffLen = 4096

// File gives the pass one file of the module: name is its path in the module
// (slash-separated, without the module@version/ prefix), size its size, and
// data its bytes: all of them when size <= [MaxGoFile], else at least its
// first [SniffLen] bytes (the file is then too large to analyse). The pass
// does not keep data after File returns: the caller may reuse it.
func (p *Pass) File(name string, size int64, data []byte) {
	if name == "" || strings.HasSuffix(name, "/") {
		return
	}
	if b := binaryOf(name, data); b != nil {
		p.binaries = append(p.binaries, *b)
	}
	switch path.Ext(name) {
	case ".s", ".syso":
		p.src[name] = nil // their presence counts, not their text
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

// Report ends the pass and returns what it found.
func (p *Pass) Report() *Report {
	r, _ := analyze(p.modPath, p.src) // a memSource never fails to read
	r.Skipped = append(p.skipped, r.Skipped...)
	r.Binaries = p.binaries
	return r
}

// binaryOf says whether the file name, which starts with head, is a program.
func binaryOf(name string, head []byte) *Binary {
	testdata := false
	for _, el := range strings.Split(path.Dir(name), "/") {
		testdata = testdata || el == "testdata"
	}
	if path.Ext(name) == ".syso" {
		return &Binary{File: name, Kind: "object (.syso)", Testdata: testdata}
	}
	kind := Sniff(head[:min(len(head), SniffLen)])
	if kind == "" || kind == "script (#!)" && testdata {
		return nil
	}
	return &Binary{File: name, Kind: kind, Testdata: testdata}
}
