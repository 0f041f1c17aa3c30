package testkit

import (
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"strings"
	"testing"
)

// ZipEntry is an entry to add to a module zip by hand, as golang.org/x/mod/zip
// would never write it: Mode sets the entry's Unix mode in its external
// attributes (fs.ModeSymlink|0o777 for a symbolic link whose target is Body;
// zero: a plain file as x/mod/zip writes it).
type ZipEntry struct {
	Name string // the full name in the zip, module@version/ prefix included
	Mode fs.FileMode
	Body string
}

// AddZipEntries returns a copy of the zip data (every entry kept byte for
// byte) with entries appended, written with archive/zip.
func AddZipEntries(t testing.TB, data []byte, entries ...ZipEntry) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e.Name, Method: zip.Deflate}
		if e.Mode != 0 {
			fh.SetMode(e.Mode)
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		if e.Body == "" {
			continue // archive/zip refuses any byte for a name ending in "/"
		}
		if _, err := io.WriteString(w, e.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ZipContents reads the module zip at path: the contents of each file, by
// its name in the module (without the module@version/ prefix).
func ZipContents(t testing.TB, path string) map[string]string {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	files := map[string]string{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		name := f.Name
		if at := strings.IndexByte(name, '@'); at >= 0 {
			if slash := strings.IndexByte(name[at:], '/'); slash >= 0 {
				name = name[at+slash+1:]
			}
		}
		files[name] = string(data)
	}
	return files
}
