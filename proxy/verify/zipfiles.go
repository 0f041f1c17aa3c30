package verify

import (
	"encoding/hex"
	"strings"

	"github.com/modgate/modgate/internal/store"
)

// HashZipFiles returns the h1: hash of the module zip at path, as [HashZip]
// does, and the SHA-256 of each file in it, with the "module@version/"
// prefix removed from its name (the index of file contents of the clone
// check), from one read of each entry. It does not check the zip rules
// ([CheckHashZipFiles] does): it is for zips stored already.
func HashZipFiles(path string) (string, []store.ZipFile, error) {
	z, err := openZip(path)
	if err != nil {
		return "", nil, err
	}
	defer z.Close()
	files := make([]store.ZipFile, 0, len(z.File))
	h, err := hashZip(z.Reader, func(name string, sum []byte, size int64) {
		files = append(files, store.ZipFile{Name: unprefixed(name), SHA256: hex.EncodeToString(sum), Size: size})
	}, nil)
	if err != nil {
		return "", nil, err
	}
	return h, files, nil
}

// unprefixed is a zip entry's name without its "module@version/" prefix.
// Module paths have no "@": the prefix ends at the first "/" after the first
// "@".
func unprefixed(name string) string {
	if at := strings.IndexByte(name, '@'); at >= 0 {
		if slash := strings.IndexByte(name[at:], '/'); slash >= 0 {
			return name[at+slash+1:]
		}
	}
	return name
}
