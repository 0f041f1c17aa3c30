package verify

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/modgate/modgate/internal/store"
)

// HashZipFiles returns the h1: hash of the module zip at path, as [HashZip]
// does, and the SHA-256 of each file in it, with the "module@version/"
// prefix removed from its name (the index of file contents of the clone
// check). The h1: hash is dirhash.Hash1 over the same per-file SHA-256s, so
// each file is read and hashed once for both.
func HashZipFiles(path string) (h1 string, files []store.ZipFile, err error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return "", nil, err
	}
	defer z.Close()
	type hashed struct {
		name string
		sum  [sha256.Size]byte
		size int64
	}
	all := make([]hashed, 0, len(z.File))
	hf := sha256.New()
	for _, f := range z.File {
		if strings.Contains(f.Name, "\n") {
			return "", nil, errors.New("dirhash: filenames with newlines are not supported")
		}
		r, err := f.Open()
		if err != nil {
			return "", nil, err
		}
		hf.Reset()
		n, err := io.Copy(hf, r)
		r.Close()
		if err != nil {
			return "", nil, err
		}
		var e hashed
		e.name, e.size = f.Name, n
		hf.Sum(e.sum[:0])
		all = append(all, e)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].name < all[j].name })
	h := sha256.New()
	files = make([]store.ZipFile, 0, len(all))
	for _, e := range all {
		fmt.Fprintf(h, "%x  %s\n", e.sum, e.name)
		// Module paths have no "@": the prefix ends at the first "/"
		// after the first "@" (the module zip rules were checked before).
		name := e.name
		if at := strings.IndexByte(name, '@'); at >= 0 {
			if slash := strings.IndexByte(name[at:], '/'); slash >= 0 {
				name = name[at+slash+1:]
			}
		}
		files = append(files, store.ZipFile{Name: name, SHA256: hex.EncodeToString(e.sum[:]), Size: e.size})
	}
	return "h1:" + base64.StdEncoding.EncodeToString(h.Sum(nil)), files, nil
}
