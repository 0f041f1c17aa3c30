package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommitAndOpen(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := d.Create()
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("hello, module zip\x00\x01")
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	key, size, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := hex.EncodeToString(sum[:]); key != want {
		t.Errorf("key = %s, want %s", key, want)
	}
	if size != int64(len(data)) {
		t.Errorf("size = %d, want %d", size, len(data))
	}
	f, err := d.Open(key)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if string(got) != string(data) {
		t.Errorf("read %q, want %q", got, data)
	}
	if err := d.Verify(key); err != nil {
		t.Errorf("Verify: %v", err)
	}
	// The same bytes again keep the one blob and leave no temp file.
	w2, _ := d.Create()
	w2.Write(data)
	if key2, _, err := w2.Commit(); err != nil || key2 != key {
		t.Errorf("second commit = %s, %v", key2, err)
	}
	assertNoTemp(t, d)
}

func TestAbortLeavesNothing(t *testing.T) {
	d, _ := Open(t.TempDir())
	w, _ := d.Create()
	w.Write([]byte("partial"))
	key := w.Sum()
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after Abort: %v, want not exist", err)
	}
	assertNoTemp(t, d)
}

func TestOpenRejectsBadKeys(t *testing.T) {
	d, _ := Open(t.TempDir())
	for _, key := range []string{"", "../../etc/passwd", "ABCDEF", "zz" + string(make([]byte, 62))} {
		if _, err := d.Open(key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q) = %v, want not exist", key, err)
		}
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	d, _ := Open(t.TempDir())
	w, _ := d.Create()
	w.Write([]byte("original"))
	key, _, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.path(key), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(key); err == nil {
		t.Error("Verify of a changed blob succeeded")
	}
}

func assertNoTemp(t *testing.T, d *Dir) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(d.root, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), lockPrefix) {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}
