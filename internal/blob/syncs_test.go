package blob

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

// A committed blob is readable at once and is written to stable storage in
// the background; a background sync that fails makes the next readiness
// check fail once, saying so, and a blob removed before its sync ran is no
// failure.
func TestBackgroundSync(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var synced []string
	fail := false
	orig := syncFile
	t.Cleanup(func() { syncFile = orig })
	syncFile = func(path string) error {
		synced = append(synced, path) // one at a time: d.Wait below orders it
		if fail {
			return syscall.EIO
		}
		return orig(path)
	}
	put := func(data string) string {
		t.Helper()
		w, err := d.Create()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
		key, _, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	key := put("first")
	if b, err := os.ReadFile(d.path(key)); err != nil || string(b) != "first" {
		t.Fatalf("blob after commit: %q, %v", b, err)
	}
	d.Wait()
	if len(synced) != 1 || synced[0] != d.path(key) {
		t.Fatalf("synced %q, want the blob's file", synced)
	}
	if err := d.Check(context.Background()); err != nil {
		t.Fatalf("check after good syncs: %v", err)
	}

	fail = true
	put("second")
	d.Wait()
	err = d.Check(context.Background())
	if err == nil || !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "stable storage") {
		t.Fatalf("check after a failed sync: %v", err)
	}
	if err := d.Check(context.Background()); err != nil {
		t.Fatalf("a failed sync is reported once, then: %v", err)
	}

	fail = false
	syncFile = func(path string) error { return orig(path + ".gone") } // removed before its sync
	put("third")
	d.Wait()
	if err := d.Check(context.Background()); err != nil {
		t.Fatalf("a blob removed before its sync: %v", err)
	}
}
