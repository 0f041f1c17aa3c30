package upstream

import (
	"fmt"
	"os"
	"path/filepath"
)

// fetchFile reads req from a file:// entry: a directory in GOPROXY layout,
// with the same escaping as the URLs.
func fetchFile(e entry, req Request) (*Response, error) {
	rel, err := req.relPath()
	if err != nil {
		return nil, err
	}
	where := e.URL + "/" + rel
	rel = filepath.FromSlash(rel)
	// The caller validated the path, and escaping keeps it one element per
	// path segment, but refuse anything that would leave the directory.
	if !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("reading %s: path leaves the proxy directory", where)
	}
	f, err := os.Open(filepath.Join(e.dir, rel))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", where, err) // keeps fs.ErrNotExist
	}
	return fileResponse(f, req.Kind, where, e.source)
}

// fileResponse returns a capped response streaming f, which it closes on
// error.
func fileResponse(f *os.File, k Kind, where, source string) (*Response, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", where, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("reading %s: not a regular file", where)
	}
	if fi.Size() > k.maxSize() {
		f.Close()
		return nil, sizeError(where, k, fi.Size())
	}
	b := &body{rc: f, limit: k.maxSize(), kind: k, where: where}
	return &Response{Body: b, Size: fi.Size(), Source: source}, nil
}
