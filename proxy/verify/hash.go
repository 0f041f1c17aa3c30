package verify

import (
	"archive/zip"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"slices"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/modgate/modgate/internal/store"
)

// The h1: hash of a module zip (golang.org/x/mod/sumdb/dirhash.Hash1 over the
// zip's entries, as dirhash.HashZip computes it): the SHA-256 of the lines
// "<hex sha256 of the entry's content>  <entry name>\n", one per entry, sorted
// by name. It is computed here rather than by dirhash.HashZip, which gives
// identical hashes (checked in the tests, over real and fuzzed zips), to
// read each entry once with buffers reused across entries and zips: dirhash
// allocates a 32 KiB copy buffer and a hasher per entry, most of the
// allocation of an ingest.

// zipHasher holds the buffers one h1: computation reuses.
type zipHasher struct {
	buf  []byte    // copy buffer
	head []byte    // the start of a file a [FileVisitor] wants; dropped when large
	file hash.Hash // the entry's SHA-256
	line []byte
	sums []entrySum
}

// entrySum is one entry's SHA-256, in zip order.
type entrySum struct {
	f   *zip.File
	sum [sha256.Size]byte
	n   int64
}

// keptHead is the largest head buffer a zipHasher keeps for the next zip:
// a larger one (a Go file of up to 16 MiB given whole to a visitor) is
// allocated for that file only, so no idle ingest holds it.
const keptHead = 1 << 20

// headSize is the size of a head buffer that holds want bytes: a power of
// two from 64 KiB up to keptHead, so that a zip whose Go files grow in zip
// order reallocates it a few times rather than at every larger file (458 MB
// of a cold fill's 2.7 GB of allocation); want itself above keptHead.
func headSize(want int64) int64 {
	if want > keptHead {
		return want
	}
	size := int64(64 << 10)
	for size < want {
		size *= 2
	}
	return size
}

// zipHashers keeps hashers (with their buffers) for the next zips. It is a
// free list, not a sync.Pool: a pool is emptied by garbage collections,
// which run often under modgate's soft memory limit, and a cold fill then
// allocated a new head buffer for nearly every zip (437 MB of 2.7 GB). It
// keeps at most two, about 2 MiB: as many as zips are hashed at once on the
// two cores of the bench machine; more wait for no one, they allocate.
var zipHashers = make(freeList[*zipHasher], 2)

func newZipHasher() *zipHasher {
	if hs, ok := zipHashers.get(); ok {
		return hs
	}
	return &zipHasher{buf: make([]byte, 32<<10), file: sha256.New()}
}

// freeList keeps up to cap(l) values for reuse, across garbage collections.
type freeList[T any] chan T

// get returns a kept value, if any.
func (l freeList[T]) get() (T, bool) {
	select {
	case v := <-l:
		return v, true
	default:
		var zero T
		return zero, false
	}
}

// put keeps v, unless the list is full.
func (l freeList[T]) put(v T) {
	select {
	case l <- v:
	default:
	}
}

// A FileVisitor is given the files of a zip by the one pass that reads them
// to hash them, so that another analysis of the files (the capability pass)
// needs no read of its own.
type FileVisitor interface {
	// Want returns how many bytes of the start of a file File must get:
	// name is its path in the module (without the module@version/ prefix),
	// size its size; 0 for none, size or more for all of it.
	Want(name string, size int64) int64
	// File gives the file's first min(size, Want(name, size)) bytes, once
	// the whole file was read and its checksum matched. The caller reuses
	// data after File returns. Directories are not given.
	File(name string, size int64, data []byte)
}

// A FileBuffer is a [FileVisitor] that gives the buffer the start of each
// file it wants is read into, and keeps it: a visitor that keeps files for
// later (the capability pass, beside the hash) then needs no copy of its own.
type FileBuffer interface {
	FileVisitor
	// Buffer returns a buffer of length n (Want's answer for the file, at
	// most its size) for the file read next, or nil for the caller's own.
	// File then gets it as data, and the caller does not use it again.
	Buffer(n int64) []byte
}

// HashZip returns the h1: hash of the module zip at path, as go.sum records it.
func HashZip(path string) (string, error) {
	z, err := openZip(path)
	if err != nil {
		return "", err
	}
	defer z.Close()
	return hashZip(z.Reader, nil, nil)
}

// CheckHashZip checks the zip at path against the rules for m's zip, as
// [CheckZip] does, and returns its h1: hash. A zip that breaks the rules, or
// whose entries cannot be read (a bad checksum, an unknown compression
// method), gives a *ZipError.
func CheckHashZip(m module.Version, path string) (string, error) {
	h, _, err := checkHashZip(m, path, false, nil)
	return h, err
}

// CheckHashZipFiles is [CheckHashZip] that also returns the SHA-256 of
// every file (the index of file contents of the clone check), from the same
// one read of each entry, and gives every file to visit, if not nil, in zip
// order as it is read. A zip refused is refused before visit has seen all
// its files: the caller must drop what visit gathered when err is not nil.
func CheckHashZipFiles(m module.Version, path string, visit FileVisitor) (string, []store.ZipFile, error) {
	return checkHashZip(m, path, true, visit)
}

func checkHashZip(m module.Version, path string, withFiles bool, visit FileVisitor) (string, []store.ZipFile, error) {
	if err := checkZipRules(m, path); err != nil {
		return "", nil, zipError(m, err)
	}
	z, err := openZip(path)
	if err != nil {
		return "", nil, zipError(m, err)
	}
	defer z.Close()
	if err := checkEntries(m, z.Reader); err != nil {
		return "", nil, zipError(m, err)
	}
	var files []store.ZipFile
	var each func(name string, sum []byte, size int64)
	if withFiles {
		files = make([]store.ZipFile, 0, len(z.File))
		each = func(name string, sum []byte, size int64) {
			files = append(files, store.ZipFile{Name: unprefixed(name), SHA256: hex.EncodeToString(sum), Size: size})
		}
	}
	h, err := hashZip(z.Reader, each, visit)
	if err != nil {
		return "", nil, zipError(m, err)
	}
	return h, files, nil
}

// hashZip is dirhash.HashZip's h1: over z, reading each entry once, in zip
// order (the order of the bytes in the file). each, if not nil, is given
// every file's name, SHA-256 and size, in name order; visit, if not nil,
// every file's start (see [FileVisitor]), in zip order.
func hashZip(z *zip.Reader, each func(name string, sum []byte, size int64), visit FileVisitor) (string, error) {
	hs := newZipHasher()
	defer func() {
		if cap(hs.head) > keptHead {
			hs.head = nil
		}
		clear(hs.sums) // no *zip.File kept alive in the pool
		hs.sums = hs.sums[:0]
		zipHashers.put(hs)
	}()
	for _, f := range z.File {
		if strings.Contains(f.Name, "\n") {
			return "", errors.New("dirhash: filenames with newlines are not supported")
		}
	}
	hs.sums = slices.Grow(hs.sums[:0], len(z.File))
	for _, f := range z.File {
		e := entrySum{f: f}
		n, err := hs.read(f, &e.sum, visit)
		if err != nil {
			return "", err
		}
		e.n = n
		hs.sums = append(hs.sums, e)
	}
	// dirhash sorts the names and opens each by name; of entries with one
	// name, the last in the zip (its map of names keeps the last).
	slices.SortStableFunc(hs.sums, func(a, b entrySum) int { return cmp.Compare(a.f.Name, b.f.Name) })
	total := sha256.New()
	for i, e := range hs.sums {
		src := e
		for j := i + 1; j < len(hs.sums) && hs.sums[j].f.Name == e.f.Name; j++ {
			src = hs.sums[j]
		}
		if each != nil {
			each(e.f.Name, src.sum[:], src.n)
		}
		hs.line = hex.AppendEncode(hs.line[:0], src.sum[:])
		hs.line = append(hs.line, "  "...)
		hs.line = append(hs.line, e.f.Name...)
		hs.line = append(hs.line, '\n')
		total.Write(hs.line)
	}
	return "h1:" + base64.StdEncoding.EncodeToString(total.Sum(nil)), nil
}

// read hashes the entry f into sum, giving its start to visit, and returns
// its size.
func (hs *zipHasher) read(f *zip.File, sum *[sha256.Size]byte, visit FileVisitor) (int64, error) {
	r, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	hs.file.Reset()
	name := unprefixed(f.Name)
	visited := visit != nil && !strings.HasSuffix(f.Name, "/")
	var want int64
	if visited {
		want = max(0, min(visit.Want(name, int64(f.UncompressedSize64)), int64(f.UncompressedSize64)))
	}
	var head []byte
	if b, ok := visit.(FileBuffer); ok && want > 0 {
		head = b.Buffer(want)
	}
	if head == nil || int64(len(head)) != want {
		if int64(cap(hs.head)) < want {
			hs.head = make([]byte, headSize(want))
		}
		head = hs.head[:want]
	}
	if want > 0 {
		// archive/zip fails a read that ends before the size its directory
		// gives, so the start is all there or it is an error.
		if _, err := io.ReadFull(r, head); err != nil {
			return 0, err
		}
		hs.file.Write(head)
	}
	n, err := io.CopyBuffer(hs.file, r, hs.buf)
	if err != nil {
		return 0, err
	}
	n += want
	hs.file.Sum(sum[:0])
	if visited {
		visit.File(name, n, head)
	}
	if cap(hs.head) > keptHead {
		hs.head = nil // see keptHead
	}
	return n, nil
}

// HashMod returns the h1: hash of a go.mod file's bytes, as go.sum records it
// for "<module> <version>/go.mod".
func HashMod(data []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}
