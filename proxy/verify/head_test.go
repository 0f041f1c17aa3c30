package verify

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// wantAll is a FileVisitor that wants every file whole and counts the head
// buffers it is given that are new.
type wantAll struct {
	hs     *zipHasher
	caps   int // distinct capacities of the head buffer seen
	last   int
	visits int
}

func (w *wantAll) Want(name string, size int64) int64 { return size }

func (w *wantAll) File(name string, size int64, data []byte) {
	w.visits++
	if c := cap(w.hs.head); c != w.last {
		w.caps, w.last = w.caps+1, c
	}
}

// TestHeadGrowth checks that the buffer a hasher gives a visitor the files
// in grows a few times over a zip whose files grow in zip order, instead of
// at every larger file (which was 458 MB of a cold fill's allocation).
func TestHeadGrowth(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	const files = 60
	for i := range files {
		w, err := zw.Create(fmt.Sprintf("example.com/m@v1.0.0/f%02d.go", i))
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(strings.Repeat("x", (i+1)*3000)))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	hs := &zipHasher{buf: make([]byte, 32<<10), file: sha256.New()} // a new hasher, as after a GC
	v := &wantAll{hs: hs}
	for _, f := range z.File {
		var sum [sha256.Size]byte
		if _, err := hs.read(f, &sum, v); err != nil {
			t.Fatal(err)
		}
	}
	if v.visits != files {
		t.Fatalf("%d files visited, want %d", v.visits, files)
	}
	// 3,000 to 180,000 bytes: 64, 128 and 256 KiB.
	if v.caps > 3 {
		t.Errorf("the head buffer was allocated %d times for %d files of growing sizes; want at most 3", v.caps, files)
	}
}

// TestHasherKeptAcrossGC checks that a hasher and its head buffer are kept
// for the next zip even when garbage collections run in between (a
// sync.Pool is emptied by them: under the soft memory limit they run often,
// and a new head buffer was allocated for nearly every zip of a cold fill).
func TestHasherKeptAcrossGC(t *testing.T) {
	for range cap(zipHashers) {
		zipHashers.get() // none kept from other tests
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("example.com/m@v1.0.0/big.go")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(strings.Repeat("x", 100<<10)))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hashZip(z, nil, &wantAll{hs: &zipHasher{}}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	hs := newZipHasher()
	if cap(hs.head) < 100<<10 {
		t.Errorf("after two garbage collections the next hasher's head buffer holds %d bytes; want the 100 KiB one kept", cap(hs.head))
	}
}

// keepAll is a FileBuffer that wants every file whole and keeps each in the
// buffer it gave, or in a copy when it was given the caller's own.
type keepAll struct {
	given  []byte
	kept   map[string][]byte
	copied int
}

func (k *keepAll) Want(name string, size int64) int64 { return size }

func (k *keepAll) Buffer(n int64) []byte {
	if n%2 == 1 {
		return nil // the caller's own buffer, for odd sizes
	}
	k.given = make([]byte, n)
	return k.given
}

func (k *keepAll) File(name string, size int64, data []byte) {
	if len(data) > 0 && (k.given == nil || &data[0] != &k.given[0]) {
		data = bytes.Clone(data)
		k.copied++
	}
	k.kept[name], k.given = data, nil
}

// TestFileBuffer checks that a FileBuffer is given every file's start in
// the buffer it returned (or in the hasher's, when it returns none), and
// that the hash is the same.
func TestFileBuffer(t *testing.T) {
	file := "testdata/modernc.org_opt@v0.2.0.zip"
	want, err := HashZip(file)
	if err != nil {
		t.Fatal(err)
	}
	z, err := zip.OpenReader(file)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	k := &keepAll{kept: map[string][]byte{}}
	got, err := hashZip(&z.Reader, nil, k)
	if err != nil || got != want {
		t.Fatalf("hash with a FileBuffer = %s, %v; want %s", got, err, want)
	}
	odd := 0
	for _, f := range z.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		odd += int(f.UncompressedSize64 % 2)
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if name := unprefixed(f.Name); !bytes.Equal(k.kept[name], data) {
			t.Errorf("%s: kept %d bytes, not the file's %d", name, len(k.kept[name]), len(data))
		}
	}
	if k.copied != odd || odd == 0 {
		t.Errorf("%d files came in the hasher's buffer, want the %d of odd size (some)", k.copied, odd)
	}
}
