package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// defaultMemoryLimit is --memory-limit's default: the Go heap's soft limit.
// In a cold fill of the hugo graph (431 zips) 64 MiB took peak RSS from 150
// to 123 MiB at no measurable cost in CPU (GC runs sooner only when the heap
// nears it); 40 MiB cost 18% more CPU for 6 MiB less. With SQLite's page
// caches cut (sqlite.openDB), 56 MiB took it from 106-109 to 100-101 MiB
// (three fills; proxy CPU 24.1-27.5 s against 24.8-25.3 s at 64 MiB, within
// the machine's noise); 52 MiB gained nothing more.
const defaultMemoryLimit = "56MiB"

// parseMemoryLimit reads --memory-limit: a size in bytes with an optional
// KiB, MiB or GiB suffix, or 0 / "off" for no limit.
func parseMemoryLimit(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "0" || strings.EqualFold(t, "off") {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("--memory-limit %q: want a size such as 64MiB or 1GiB, or off", s)
	}
	return n * mult, nil
}

// applyMemoryLimit sets the Go heap's soft limit from --memory-limit, unless
// the GOMEMLIMIT environment variable set one already (it wins). It returns
// the limit in force (0: none) and where it comes from.
func applyMemoryLimit(setting string) (int64, string, error) {
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT", nil
	}
	n, err := parseMemoryLimit(setting)
	if err != nil {
		return 0, "", err
	}
	if n == 0 {
		debug.SetMemoryLimit(1<<63 - 1)
		return 0, "--memory-limit", nil
	}
	debug.SetMemoryLimit(n)
	return n, "--memory-limit", nil
}
