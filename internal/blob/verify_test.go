package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand"
	"os"
	"testing"
	"time"
)

func keyOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// serveLike copies r as http.ServeContent does: size by seeking to the end,
// back to the start, then io.CopyN of that size.
func serveLike(r io.ReadSeeker) ([]byte, error) {
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = io.CopyN(&out, r, size)
	return out.Bytes(), err
}

func TestReader(t *testing.T) {
	orig := make([]byte, 200<<10)
	rand.New(rand.NewSource(1)).Read(orig)
	key := keyOf(orig)
	flipped := func(at int) []byte {
		b := bytes.Clone(orig)
		b[at] ^= 1
		return b
	}
	tests := []struct {
		name   string
		source []byte
		ok     bool
	}{
		{"intact", orig, true},
		{"flipped first byte", flipped(0), false},
		{"flipped middle byte", flipped(len(orig) / 2), false},
		{"flipped last byte", flipped(len(orig) - 1), false},
		{"truncated", orig[:len(orig)-1], false},
		{"truncated to nothing", nil, false},
		{"extended", append(bytes.Clone(orig), 0), false},
		{"other bytes", make([]byte, len(orig)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.source), key, int64(len(orig)))
			got, err := serveLike(r)
			if tt.ok {
				if err != nil || !bytes.Equal(got, orig) || !r.Verified() || r.Err() != nil {
					t.Fatalf("intact blob: %d bytes, err %v, verified %v", len(got), err, r.Verified())
				}
				return
			}
			var ie *IntegrityError
			if !errors.As(err, &ie) || !errors.As(r.Err(), &ie) {
				t.Errorf("err = %v, Err() = %v; want an *IntegrityError", err, r.Err())
			}
			if len(got) >= len(orig) {
				t.Errorf("the consumer got %d of %d bytes: the final chunk was not held back", len(got), len(orig))
			}
			if r.Verified() {
				t.Error("Verified() = true")
			}
			// Further reads keep failing.
			if n, err := r.Read(make([]byte, 10)); n != 0 || err == nil {
				t.Errorf("Read after the failure = %d, %v", n, err)
			}
		})
	}
}

func TestReaderPartialReadsVerifyTheWholeFirst(t *testing.T) {
	orig := make([]byte, 100<<10)
	rand.New(rand.NewSource(2)).Read(orig)
	key := keyOf(orig)
	bad := bytes.Clone(orig)
	bad[len(bad)-1] ^= 1 // a change the part below does not include
	for _, tt := range []struct {
		name   string
		source []byte
		ok     bool
	}{{"intact", orig, true}, {"changed", bad, false}} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.source), key, int64(len(orig)))
			if _, err := r.Seek(1000, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			p := make([]byte, 100)
			n, err := io.ReadFull(r, p)
			if tt.ok {
				if err != nil || !bytes.Equal(p, orig[1000:1100]) {
					t.Fatalf("range of an intact blob: %d bytes, %v", n, err)
				}
				return
			}
			if n != 0 || err == nil {
				t.Fatalf("range of a changed blob: %d bytes served, err %v; want none and an error", n, err)
			}
		})
	}
	// A part from offset 0 that stops early: Verify first.
	r := NewReader(bytes.NewReader(bad), key, int64(len(orig)))
	if err := r.Verify(); err == nil {
		t.Fatal("Verify of a changed blob succeeded")
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err == nil {
		t.Errorf("Read after a failed Verify = %d, %v", n, err)
	}
}

func TestOpenBlobRemembersVerifiedFiles(t *testing.T) {
	defer func(m time.Duration) { verifyMargin = m }(verifyMargin)
	verifyMargin = 0 // the test's file is seconds old at most
	d, _ := Open(t.TempDir())
	data := make([]byte, 50<<10)
	rand.New(rand.NewSource(3)).Read(data)
	w, _ := d.Create()
	w.Write(data)
	key, size, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	serve := func() (direct bool, err error) {
		t.Helper()
		b, err := d.OpenBlob(context.Background(), key, size)
		if err != nil {
			return false, err
		}
		defer b.Close()
		_, direct = b.Content().(*os.File)
		got, err := serveLike(b.Content())
		if err == nil && !bytes.Equal(got, data) {
			t.Fatal("served other bytes without an error")
		}
		return direct, err
	}
	if direct, err := serve(); direct || err != nil {
		t.Fatalf("first serve: direct %v, err %v; want hashed, no error", direct, err)
	}
	if direct, err := serve(); !direct || err != nil {
		t.Fatalf("second serve: direct %v, err %v; want the file as is (verified, unchanged)", direct, err)
	}
	// A byte changed in place changes the file's identity: hashed again.
	f, _ := os.OpenFile(d.path(key), os.O_WRONLY, 0)
	f.WriteAt([]byte{data[100] ^ 1}, 100)
	f.Close()
	if direct, err := serve(); direct || err == nil {
		t.Fatalf("serve after an in-place change: direct %v, err %v; want hashed and an error", direct, err)
	}
	// The TTL zero hashes every serve.
	f, _ = os.OpenFile(d.path(key), os.O_WRONLY, 0)
	f.WriteAt(data[100:101], 100)
	f.Close()
	d.SetVerifyTTL(0)
	serve()
	if direct, err := serve(); direct || err != nil {
		t.Fatalf("with TTL 0: direct %v, err %v; want hashed", direct, err)
	}
}

func TestQuarantine(t *testing.T) {
	d, _ := Open(t.TempDir())
	w, _ := d.Create()
	w.Write([]byte("original bytes"))
	key, size, _ := w.Commit()
	os.WriteFile(d.path(key), []byte("short"), 0o644)
	b, err := d.OpenBlob(context.Background(), key, size)
	var ie *IntegrityError
	if !errors.As(err, &ie) || b == nil {
		t.Fatalf("OpenBlob of a truncated blob = %v, %v; want the Blob and an *IntegrityError", b, err)
	}
	defer b.Close()
	name, err := b.Quarantine()
	if err != nil || name == "" {
		t.Fatalf("Quarantine = %q, %v", name, err)
	}
	if _, err := os.Stat(d.path(key)); !os.IsNotExist(err) {
		t.Errorf("blob still in place after quarantine: %v", err)
	}
	if n, err := d.Quarantined(context.Background()); n != 1 || err != nil {
		t.Errorf("Quarantined = %d, %v; want 1", n, err)
	}
	// A second quarantine of the same open blob (another request) moves nothing.
	if name, err := b.Quarantine(); name != "" || err != nil {
		t.Errorf("second Quarantine = %q, %v; want nothing moved", name, err)
	}
	// Nor does one of a file that was replaced by a fresh copy meanwhile.
	w, _ = d.Create()
	w.Write([]byte("original bytes"))
	w.Commit()
	if name, err := b.Quarantine(); name != "" || err != nil {
		t.Errorf("Quarantine after a fresh copy = %q, %v; want nothing moved", name, err)
	}
	if _, err := os.Stat(d.path(key)); err != nil {
		t.Errorf("the fresh copy was moved: %v", err)
	}
	if name, err := d.QuarantineBytes(context.Background(), "mod", []byte("module evil\n")); err != nil || name == "" {
		t.Errorf("QuarantineBytes = %q, %v", name, err)
	}
	if n, _ := d.Quarantined(context.Background()); n != 2 {
		t.Errorf("Quarantined = %d, want 2", n)
	}
}
