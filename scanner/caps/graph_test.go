//go:build linux

package caps_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modgate/modgate/proxy/verify"
	"github.com/modgate/modgate/scanner/caps"
)

// TestGraph measures the pass on a module cache's zips (the hugo graph of
// ../shared/bench: MODGATE_CAPS_GRAPH=$B/modcache/cache/download): cost per
// MiB against the ingest's own zip checks (verify.CheckHashZip), peak heap,
// and how many versions have each capability and how many upgrade pairs
// (consecutive versions of a module in the cache) gain each. It is skipped
// without the variable. MODGATE_CAPS_GRAPH_LIST takes only the zips a file
// lists.
func TestGraph(t *testing.T) {
	root := os.Getenv("MODGATE_CAPS_GRAPH")
	if root == "" {
		t.Skip("MODGATE_CAPS_GRAPH not set")
	}
	type ver struct {
		m   module.Version
		rep *caps.Report
	}
	byPath := map[string][]ver{}
	var zips []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".zip") && strings.Contains(p, "/@v/") {
			zips = append(zips, p)
		}
		return nil
	})
	// MODGATE_CAPS_GRAPH_LIST: a file naming the zips to take (one path a
	// line), such as the modules with several versions.
	if list := os.Getenv("MODGATE_CAPS_GRAPH_LIST"); list != "" {
		data, err := os.ReadFile(list)
		if err != nil {
			t.Fatal(err)
		}
		keep := map[string]bool{}
		for _, l := range strings.Fields(string(data)) {
			keep[filepath.Join(root, l)] = true
		}
		var some []string
		for _, z := range zips {
			if keep[z] {
				some = append(some, z)
			}
		}
		zips = some
	}
	// CPU time of this thread (the machine is shared: wall time measures
	// the neighbours), besides wall time.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := func() time.Duration {
		var ru syscall.Rusage
		syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var passCPU, checkCPU time.Duration
	var bytes int64
	var passTime, checkTime, worst time.Duration
	worstName := ""
	var peak uint64
	var ms runtime.MemStats
	for _, z := range zips {
		rel, _ := filepath.Rel(root, z)
		escPath, file, _ := strings.Cut(filepath.ToSlash(rel), "/@v/")
		path, err := module.UnescapePath(escPath)
		if err != nil {
			t.Fatal(err)
		}
		v, err := module.UnescapeVersion(strings.TrimSuffix(file, ".zip"))
		if err != nil {
			t.Fatal(err)
		}
		m := module.Version{Path: path, Version: v}
		st, _ := os.Stat(z)
		bytes += st.Size()
		start, c0 := time.Now(), cpu()
		if _, err := verify.CheckHashZip(m, z); err != nil {
			t.Errorf("%s: %v", m, err)
		}
		checkTime += time.Since(start)
		checkCPU += cpu() - c0
		runtime.GC()
		start, c0 = time.Now(), cpu()
		r, err := caps.ZipFile(z, m)
		d := time.Since(start)
		passCPU += cpu() - c0
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak {
			peak = ms.HeapInuse
		}
		passTime += d
		if d > worst {
			worst, worstName = d, fmt.Sprintf("%s (%d KiB)", m, st.Size()>>10)
		}
		byPath[path] = append(byPath[path], ver{m, r})
	}
	mib := float64(bytes) / (1 << 20)
	t.Logf("%d zips, %.1f MiB: pass %v wall, %v CPU (%.1f ms CPU/MiB); zip checks and hash %v wall, %v CPU (%.1f ms CPU/MiB); slowest %v %s; heap in use after a zip at most %.1f MiB",
		len(zips), mib, passTime.Round(time.Millisecond), passCPU.Round(time.Millisecond), float64(passCPU.Milliseconds())/mib,
		checkTime.Round(time.Millisecond), checkCPU.Round(time.Millisecond), float64(checkCPU.Milliseconds())/mib,
		worst.Round(time.Millisecond), worstName, float64(peak)/(1<<20))

	versions, inInit, pairs, gained, gainedInit := map[string]int{}, map[string]int{}, 0, map[string]int{}, map[string]int{}
	var nversions, binaries, newBinaries, skipped int
	var blocks, examples []string
	for _, vs := range byPath {
		sort.Slice(vs, func(i, j int) bool { return semver.Compare(vs[i].m.Version, vs[j].m.Version) < 0 })
		for i, v := range vs {
			nversions++
			skipped += len(v.rep.Skipped)
			for _, b := range v.rep.Binaries {
				if !b.Testdata {
					binaries++
				}
			}
			for _, c := range caps.All {
				if v.rep.Has(c, false) {
					versions[c.Short()]++
				}
				if v.rep.Has(c, true) {
					inInit[c.Short()]++
				}
			}
			if i == 0 {
				continue
			}
			pairs++
			newBinaries += len(caps.NewBinaries(vs[i-1].rep, v.rep))
			seen := map[string]bool{}
			for _, u := range caps.Added(vs[i-1].rep, v.rep) {
				k := u.Capability.Short()
				if u.Init {
					if !seen[k+"*"] {
						gainedInit[k]++
					}
					seen[k+"*"] = true
					if u.Capability == caps.Exec || u.Capability == caps.Network || u.Capability == caps.Plugin {
						blocks = append(blocks, fmt.Sprintf("%s → %s: %s at %s (%s)", vs[i-1].m, v.m.Version, k, u.Where(), u.InitPath))
					}
				}
				if !seen[k] && !vs[i-1].rep.Has(u.Capability, false) {
					gained[k]++
					if len(examples) < 12 && (k == "EXEC" || k == "NETWORK") {
						examples = append(examples, fmt.Sprintf("%s → %s adds %s at %s in %s", vs[i-1].m, v.m.Version, k, u.Where(), u.Package))
					}
				}
				seen[k] = true
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d modules, %d versions, %d upgrade pairs; %d Go files skipped; %d programs outside testdata, %d new in a pair\n",
		len(byPath), nversions, pairs, skipped, binaries, newBinaries)
	fmt.Fprintf(&b, "| capability | versions | in init | pairs gaining it | pairs gaining it in init |\n| --- | --- | --- | --- | --- |\n")
	for _, c := range caps.All {
		k := c.Short()
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", k, versions[k], inInit[k], gained[k], gainedInit[k])
	}
	fmt.Fprintf(&b, "pairs the default policy blocks (EXEC, NETWORK, PLUGIN newly reached from init): %d\n", len(blocks))
	for _, x := range blocks {
		fmt.Fprintf(&b, "  %s\n", x)
	}
	for _, x := range examples {
		fmt.Fprintf(&b, "  e.g. %s\n", x)
	}
	t.Log("\n" + b.String())
}
