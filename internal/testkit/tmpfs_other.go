//go:build !linux

package testkit

import "testing"

// TmpFS skips: mounting a small file system to fill is done on Linux only.
func TmpFS(t testing.TB, size int64) string {
	t.Skip("SKIPPING: a tmpfs to fill is mounted on Linux only")
	return ""
}

// FillDisk is not reached (TmpFS skips).
func FillDisk(t testing.TB, dir string) string {
	t.Skip("SKIPPING: no tmpfs")
	return ""
}
