package caps

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"path"
	"strings"

	"golang.org/x/mod/module"
)

// Zip runs the pass over a module zip (as the module proxy protocol serves
// it: every file under "module@version/"). Files outside that prefix are
// ignored; every file's first bytes are checked for programs (see [Binary]).
// It fails only when the zip cannot be read.
func Zip(r *zip.Reader, m module.Version) (*Report, error) {
	prefix := m.Path + "@" + m.Version + "/"
	src := zipSource{}
	var binaries []Binary
	for _, f := range r.File {
		name, ok := strings.CutPrefix(f.Name, prefix)
		if !ok || name == "" || strings.HasSuffix(name, "/") {
			continue
		}
		src[name] = f
		b, err := sniff(f, name)
		if err != nil {
			return nil, fmt.Errorf("%s@%s: reading %s: %w", m.Path, m.Version, name, err)
		}
		if b != nil {
			binaries = append(binaries, *b)
		}
	}
	rep, err := analyze(m.Path, src)
	if err != nil {
		return nil, fmt.Errorf("%s@%s: %w", m.Path, m.Version, err)
	}
	rep.Binaries = binaries
	return rep, nil
}

// ZipFile is [Zip] of the zip file at path.
func ZipFile(file string, m module.Version) (*Report, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, fmt.Errorf("%s@%s: %w", m.Path, m.Version, err)
	}
	defer zr.Close()
	return Zip(&zr.Reader, m)
}

type zipSource map[string]*zip.File

func (z zipSource) names() []string {
	var out []string
	for n := range z {
		out = append(out, n)
	}
	return out
}

func (z zipSource) read(name string) ([]byte, error) {
	f := z[name]
	if f.UncompressedSize64 > MaxGoFile {
		// Read no more than the limit: the pass skips it as too large.
		return make([]byte, MaxGoFile+1), nil
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, MaxGoFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return data, nil
}

// sniff reads the start of a file and says whether it is a program.
func sniff(f *zip.File, name string) (*Binary, error) {
	testdata := false
	for _, el := range strings.Split(path.Dir(name), "/") {
		testdata = testdata || el == "testdata"
	}
	if path.Ext(name) == ".syso" {
		return &Binary{File: name, Kind: "object (.syso)", Testdata: testdata}, nil
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	head := make([]byte, 4096)
	n, err := io.ReadFull(rc, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	kind := Sniff(head[:n])
	if kind == "" || kind == "script (#!)" && testdata {
		return nil, nil
	}
	return &Binary{File: name, Kind: kind, Testdata: testdata}, nil
}

// Sniff says what program the bytes at the start of a file are: "ELF",
// "Mach-O", "PE", "script (#!)", or "" for none.
func Sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return "ELF"
	case len(head) >= 4 && isMachO(binary.BigEndian.Uint32(head)):
		return "Mach-O"
	case len(head) >= 0x40 && bytes.HasPrefix(head, []byte("MZ")):
		off := int(binary.LittleEndian.Uint32(head[0x3c:]))
		if off >= 0x40 && off+4 <= len(head) && bytes.Equal(head[off:off+4], []byte("PE\x00\x00")) {
			return "PE"
		}
	case bytes.HasPrefix(head, []byte("#!")):
		return "script (#!)"
	}
	return ""
}

func isMachO(magic uint32) bool {
	switch magic {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe: // 32 and 64 bits, either byte order
		return true
	}
	return false
}
