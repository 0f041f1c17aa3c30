package main

import (
	"runtime/debug"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	for in, want := range map[string]int64{"64MiB": 64 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "1000000": 1000000, "0": 0, "off": 0, " OFF ": 0} {
		got, err := parseMemoryLimit(in)
		if err != nil || got != want {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1MiB", "64MB", "lots", "9999999999GiB", "1.5GiB"} {
		if _, err := parseMemoryLimit(in); err == nil {
			t.Errorf("parseMemoryLimit(%q): no error", in)
		}
	}
}

func TestApplyMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	t.Setenv("GOMEMLIMIT", "")
	if n, from, err := applyMemoryLimit("48MiB"); err != nil || n != 48<<20 || from != "--memory-limit" || debug.SetMemoryLimit(-1) != 48<<20 {
		t.Fatalf("48MiB: %d %s %v, runtime %d", n, from, err, debug.SetMemoryLimit(-1))
	}
	if n, _, err := applyMemoryLimit("off"); err != nil || n != 0 || debug.SetMemoryLimit(-1) != 1<<63-1 {
		t.Fatalf("off: %d %v, runtime %d", n, err, debug.SetMemoryLimit(-1))
	}
	t.Setenv("GOMEMLIMIT", "100MiB")
	debug.SetMemoryLimit(100 << 20) // as the runtime read it at start
	if n, from, err := applyMemoryLimit("48MiB"); err != nil || n != 100<<20 || from != "GOMEMLIMIT" {
		t.Fatalf("GOMEMLIMIT set: %d %s %v", n, from, err)
	}
}
