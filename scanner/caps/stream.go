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
//
// File reads a Go file at once into a summary of what the analysis needs
// (see extract.go) and keeps only that; Report links the summaries package
// by package (link.go). A pass is not safe for concurrent use.
type Pass struct {
	modPath  string
	files    map[string]*fileSum // .go files, by name
	asm      map[string]bool     // .s and .syso files
	binaries []Binary
	skipped  []string
	ex       extractor
	// analyze is set for [Analyze]: a file over the limit is listed in
	// package order, as the analysis meets it.
	analyze bool
	held    int64
}

// Held is about how many bytes the pass holds for the files given so far:
// their summaries, a few percent of their size, not the files. A caller
// that bounds the memory of passes waiting for their turn counts this.
func (p *Pass) Held() int64 { return p.held }

// NewPass starts a pass over the files of the module modPath.
func NewPass(modPath string) *Pass {
	return &Pass{modPath: modPath, files: map[string]*fileSum{}, asm: map[string]bool{}, ex: extractor{modPath: modPath}}
}

// SniffLen is how many bytes of a file's start [Pass.File] needs to tell a
// program (see [Sniff]) when the file is too large to be given whole.
const SniffLen = 4096

// Want is how many bytes of the start of a file [Pass.File] reads: all of a
// Go file it analyses (size), the first [SniffLen] of any other (to tell a
// program). name and size are as for File.
func Want(name string, size int64) int64 {
	if path.Ext(name) == ".go" && !ignoredPath(name) && size <= MaxGoFile {
		return size
	}
	return SniffLen
}

// Needed says what [Pass.File] depends on of a file whose first
// Want(name, size) bytes (or all of it, when shorter) are data: ok is false
// when File does nothing with the file whatever its bytes (a file that is
// neither Go, nor assembly, nor a program; a Go file no build reads that is
// not a program), and keep is the part of data File reads: all of a Go file
// it analyses, the start of a program, else nil. Given keep instead of
// data, File does the same. A caller that keeps files to give them to a
// pass later keeps this much of the files it needs.
func Needed(name string, size int64, data []byte) (keep []byte, ok bool) {
	ext := path.Ext(name)
	if ext == ".go" && !ignoredPath(name) && size <= MaxGoFile {
		return data, true
	}
	if head := data[:min(len(data), SniffLen)]; Sniff(head) != "" {
		return head, true
	}
	// binaryOf sees no program; .s and .syso count by name, a Go file by
	// its name and size.
	return nil, ext == ".s" || ext == ".syso" || ext == ".go" && !ignoredPath(name)
}

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
		p.asm[name] = true // their presence counts, not their text
		return
	case ".go":
	default:
		return
	}
	if ignoredPath(name) {
		return // no build reads it
	}
	if size > MaxGoFile || int64(len(data)) < size {
		if p.analyze {
			p.files[name] = &fileSum{name: name, overLimit: size}
			return
		}
		p.skipped = append(p.skipped, fmt.Sprintf("%s: %d bytes%s %d", name, size, overLimit, MaxGoFile))
		return
	}
	fs := &fileSum{name: name, buildable: buildable(data)}
	names := p.ex.in.size
	if fs.buildable {
		p.ex.extract(fs, data)
	}
	p.files[name] = fs
	p.held += fs.size() + p.ex.in.size - names // with the names it added
}

// Report ends the pass and returns what it found.
func (p *Pass) Report() *Report {
	r := p.link()
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
