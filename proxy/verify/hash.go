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
	"sync"

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
	file hash.Hash // the entry's SHA-256
	sum  []byte
	line []byte
}

var zipHashers = sync.Pool{New: func() any {
	return &zipHasher{buf: make([]byte, 32<<10), file: sha256.New(), sum: make([]byte, 0, sha256.Size)}
}}

// HashZip returns the h1: hash of the module zip at path, as go.sum records it.
func HashZip(path string) (string, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return "", err
	}
	defer z.Close()
	return hashZip(&z.Reader, nil)
}

// CheckHashZip checks the zip at path against the rules for m's zip, as
// [CheckZip] does, and returns its h1: hash. A zip that breaks the rules, or
// whose entries cannot be read (a bad checksum, an unknown compression
// method), gives a *ZipError.
func CheckHashZip(m module.Version, path string) (string, error) {
	if err := checkZipRules(m, path); err != nil {
		return "", zipError(m, err)
	}
	z, err := zip.OpenReader(path)
	if err != nil {
		return "", zipError(m, err)
	}
	defer z.Close()
	if err := checkEntries(m, &z.Reader); err != nil {
		return "", zipError(m, err)
	}
	h, err := hashZip(&z.Reader, nil)
	if err != nil {
		return "", zipError(m, err)
	}
	return h, nil
}

// CheckHashZipFiles is [CheckHashZip] that also returns the SHA-256 of
// every file (the index of file contents of the clone check), from the same
// one read of each entry.
func CheckHashZipFiles(m module.Version, path string) (string, []store.ZipFile, error) {
	if err := checkZipRules(m, path); err != nil {
		return "", nil, zipError(m, err)
	}
	z, err := zip.OpenReader(path)
	if err != nil {
		return "", nil, zipError(m, err)
	}
	defer z.Close()
	if err := checkEntries(m, &z.Reader); err != nil {
		return "", nil, zipError(m, err)
	}
	files := make([]store.ZipFile, 0, len(z.File))
	h, err := hashZip(&z.Reader, func(name string, sum []byte, size int64) {
		files = append(files, store.ZipFile{Name: unprefixed(name), SHA256: hex.EncodeToString(sum), Size: size})
	})
	if err != nil {
		return "", nil, zipError(m, err)
	}
	return h, files, nil
}

// hashZip is dirhash.HashZip's h1: over z, reading each entry once. each,
// if not nil, is given every file's name, SHA-256 and size, in name order.
func hashZip(z *zip.Reader, each func(name string, sum []byte, size int64)) (string, error) {
	hs := zipHashers.Get().(*zipHasher)
	defer zipHashers.Put(hs)
	files := slices.Clone(z.File)
	// dirhash sorts the names and opens each by name; of entries with one
	// name, the last in the zip (its map of names keeps the last).
	slices.SortStableFunc(files, func(a, b *zip.File) int { return cmp.Compare(a.Name, b.Name) })
	total := sha256.New()
	for i, f := range files {
		if strings.Contains(f.Name, "\n") {
			return "", errors.New("dirhash: filenames with newlines are not supported")
		}
		src := f
		for j := i + 1; j < len(files) && files[j].Name == f.Name; j++ {
			src = files[j]
		}
		r, err := src.Open()
		if err != nil {
			return "", err
		}
		hs.file.Reset()
		n, err := io.CopyBuffer(hs.file, r, hs.buf)
		r.Close()
		if err != nil {
			return "", err
		}
		hs.sum = hs.file.Sum(hs.sum[:0])
		if each != nil {
			each(f.Name, hs.sum, n)
		}
		hs.line = hex.AppendEncode(hs.line[:0], hs.sum)
		hs.line = append(hs.line, "  "...)
		hs.line = append(hs.line, f.Name...)
		hs.line = append(hs.line, '\n')
		total.Write(hs.line)
	}
	return "h1:" + base64.StdEncoding.EncodeToString(total.Sum(nil)), nil
}

// HashMod returns the h1: hash of a go.mod file's bytes, as go.sum records it
// for "<module> <version>/go.mod".
func HashMod(data []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}
