package blob

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/modgate/modgate/internal/testkit"
)

// An injected write error: /dev/full answers every write with ENOSPC.
func TestWriteNoSpace(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("SKIPPING: no /dev/full to inject ENOSPC: %v", err)
	}
	d, _ := Open(t.TempDir())
	w := &Writer{commit: d.commit, f: full, h: sha256.New()}
	_, err = w.Write([]byte("a zip"))
	var be *Error
	if !errors.As(err, &be) || !NoSpace(err) {
		t.Fatalf("Write to a full disk = %v; want a *blob.Error satisfying NoSpace", err)
	}
	if strings.Contains(err.Error(), "/") {
		t.Errorf("error %q names a path", err)
	}
}

func TestCheckAndWriteOnAFullDisk(t *testing.T) {
	mnt := testkit.TmpFS(t, 1<<20)
	d, err := Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Check(context.Background()); err != nil {
		t.Fatalf("Check with space left: %v", err)
	}
	filler := testkit.FillDisk(t, mnt)
	err = d.Check(context.Background())
	if !NoSpace(err) || strings.Contains(err.Error(), mnt) {
		t.Fatalf("Check on a full disk = %v; want a no-space error without the path", err)
	}
	w, err := d.Create()
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Write(make([]byte, 64<<10))
	if !NoSpace(err) || strings.Contains(err.Error(), mnt) {
		t.Fatalf("Write on a full disk = %v; want a no-space error without the path", err)
	}
	w.Abort()
	assertNoTemp(t, d)
	os.Remove(filler)
	if err := d.Check(context.Background()); err != nil {
		t.Errorf("Check once space was freed: %v", err)
	}
}
