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
	p := NewPass(m.Path)
	if _, err := forEachFile(r, m, nil, p.File); err != nil {
		return nil, err
	}
	return p.Report(), nil
}

// forEachFile inflates each file of the module zip r in turn (files outside
// the module@version/ prefix and directories aside) into buf (reused) and
// calls fn with what a pass is given: a .go file whole (up to the limit),
// other files' first SniffLen bytes.
func forEachFile(r *zip.Reader, m module.Version, buf []byte, fn func(name string, size int64, data []byte)) ([]byte, error) {
	prefix := m.Path + "@" + m.Version + "/"
	for _, f := range r.File {
		name, ok := strings.CutPrefix(f.Name, prefix)
		if !ok || name == "" || strings.HasSuffix(name, "/") {
			continue
		}
		size := int64(f.UncompressedSize64)
		want := int64(SniffLen)
		if path.Ext(name) == ".go" {
			want = min(size, MaxGoFile+1)
		}
		var err error
		if buf, err = readStart(f, buf, want); err != nil {
			return buf, fmt.Errorf("%s@%s: reading %s: %w", m.Path, m.Version, name, err)
		}
		fn(name, size, buf)
	}
	return buf, nil
}

// readStart reads up to n bytes of the start of f into buf (reused).
func readStart(f *zip.File, buf []byte, n int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf = buf[:0]
	if int64(cap(buf)) < n {
		buf = make([]byte, 0, n)
	}
	k, err := io.ReadFull(rc, buf[:n])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	return buf[:k], nil
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
