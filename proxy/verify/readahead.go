package verify

import (
	"archive/zip"
	"io"
	"os"
)

// readAheadSize is how much of a zip file one read takes in.
const readAheadSize = 128 << 10

// readAheadBufs keeps read-ahead buffers for the next zips (a free list, as
// zipHashers).
var readAheadBufs = make(freeList[[]byte], 2)

// readAhead is an [io.ReaderAt] that reads a file readAheadSize bytes at a
// time and answers the reads within what it read from memory. archive/zip
// reads a compressed entry through a 4 KiB bufio.Reader, which made a pread
// system call for every 4 KiB of every zip hashed (0.8 s of CPU in a cold
// fill of the bench graph); the hash reads a zip's entries in file order, so
// nearly every read is answered from the block read before. Not safe for
// concurrent use.
type readAhead struct {
	r   io.ReaderAt
	buf []byte
	off int64 // file offset of buf[0]
	n   int   // bytes of buf read
}

func (ra *readAhead) ReadAt(p []byte, off int64) (int, error) {
	total := 0
	for len(p) > 0 {
		if off >= ra.off && off < ra.off+int64(ra.n) {
			c := copy(p, ra.buf[off-ra.off:ra.n])
			p, off, total = p[c:], off+int64(c), total+c
			continue
		}
		if len(p) >= len(ra.buf) {
			n, err := ra.r.ReadAt(p, off)
			return total + n, err
		}
		n, err := ra.r.ReadAt(ra.buf, off)
		ra.off, ra.n = off, n
		if n == 0 {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return total, err
		}
	}
	return total, nil
}

// zipFile is a zip open for reading through a [readAhead].
type zipFile struct {
	*zip.Reader
	f   *os.File
	buf []byte
}

// openZip opens the zip at path, as zip.OpenReader does, reading it
// through a [readAhead]. The caller must Close it.
func openZip(path string) (*zipFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	buf, ok := readAheadBufs.get()
	if !ok {
		buf = make([]byte, readAheadSize)
	}
	z := &zipFile{f: f, buf: buf}
	if z.Reader, err = zip.NewReader(&readAhead{r: f, buf: buf}, fi.Size()); err != nil {
		z.Close()
		return nil, err
	}
	return z, nil
}

// Close closes the file and gives the buffer back.
func (z *zipFile) Close() error {
	readAheadBufs.put(z.buf)
	return z.f.Close()
}
