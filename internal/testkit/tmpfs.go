//go:build linux

package testkit

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TmpFS mounts a tmpfs of size bytes on a new temporary directory and returns
// it; the test's cleanup unmounts it. Mounting needs root (or CAP_SYS_ADMIN):
// without it the test is skipped with a loud message, unless
// MODGATE_REQUIRE_TMPFS=1 (then it fails).
func TmpFS(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := "SKIPPING: cannot mount a tmpfs to fill (needs root): " + err.Error() + ": " + string(out)
		if os.Getenv("MODGATE_REQUIRE_TMPFS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting the tmpfs %s: %v", dir, err)
		}
	})
	return dir
}

// FillDisk writes a file into dir until its file system is full, and returns
// the file's path (remove it to free the space).
func FillDisk(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return p
			}
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
}
