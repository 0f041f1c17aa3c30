package scanner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/verify"
	"github.com/modgate/modgate/scanner/lookalike"
)

// TestResemblanceHugoGraph measures the look-alike and clone checks on a real
// module graph: MODGATE_ORIGINS_BENCH=DIR names a module cache download
// directory (a GOPROXY tree: DIR/<escaped path>/@v/<version>.{mod,zip}),
// such as the one ../shared/bench/make-fixture.sh makes of the hugo graph.
// Every path is checked at its first request against the shipped list
// without the hugo graph's own entries (else every hugo path would be a
// listed module and trivially clean) and the paths requested before it;
// every zip is ingested as the proxy does (hashes, file index, clone check
// with the capability pass). It reports the findings and their cost, and
// fails if the default policy blocks any version. Skipped without the
// variable (the fixture is 300 MiB, outside the repository).
func TestResemblanceHugoGraph(t *testing.T) {
	dir := os.Getenv("MODGATE_ORIGINS_BENCH")
	if dir == "" {
		t.Skip("MODGATE_ORIGINS_BENCH not set: no module graph to measure")
	}
	ctx := context.Background()
	type ver struct {
		m        module.Version
		zip, mod string
	}
	var vers []ver
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".mod") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		escPath, file, ok := strings.Cut(filepath.ToSlash(rel), "/@v/")
		if !ok {
			return nil
		}
		path, err1 := module.UnescapePath(escPath)
		v, err2 := module.UnescapeVersion(strings.TrimSuffix(file, ".mod"))
		if err1 != nil || err2 != nil {
			return nil
		}
		z := strings.TrimSuffix(p, ".mod") + ".zip"
		if _, err := os.Stat(z); err != nil {
			z = ""
		}
		vers = append(vers, ver{module.Version{Path: path, Version: v}, z, p})
		return nil
	})
	sort.Slice(vers, func(i, j int) bool { return vers[i].m.String() < vers[j].m.String() })

	// Look-alikes: the list without the graph's entries, plus every path
	// requested before.
	var known []lookalike.Known
	listed := 0
	for _, k := range lookalike.Popular() {
		if !strings.HasPrefix(k.Source, "graph:") {
			known = append(known, k)
			listed++
		}
	}
	st := newStore(t)
	o := NewResemblance(ResemblanceOptions{Store: st, Known: known, Capabilities: CloneCapabilities})
	seen := map[string]bool{}
	var checkTime time.Duration
	paths, lookalikes := 0, 0
	for _, v := range vers {
		if seen[v.m.Path] {
			continue
		}
		seen[v.m.Path] = true
		paths++
		start := time.Now()
		c, err := o.CheckPath(ctx, v.m.Path, true)
		checkTime += time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if c.Resembles != "" {
			lookalikes++
			t.Logf("lookalike: %s: %s", v.m.Path, policy.LookalikeReason(c))
		}
	}
	t.Logf("look-alike check: %d paths against %d listed (graph entries left out) and the paths before: %d findings; %.3f ms per first request",
		paths, listed, lookalikes, float64(checkTime.Microseconds())/1000/float64(max(paths, 1)))

	// Clones: every zip ingested in order, as the proxy does.
	zips := map[string]string{} // sha256 -> file, for Local
	o.opts.Local = func(_ context.Context, key string, _ int64) (string, func(), error) {
		return zips[key], func() {}, nil
	}
	var hashOnly, hashFiles, cloneTime time.Duration
	var zipBytes int64
	nzips, clones, withCaps, rows := 0, 0, 0, 0
	var peak uint64
	p := policy.Default()
	blocked := 0
	for _, v := range vers {
		mod, err := os.ReadFile(v.mod)
		if err != nil {
			t.Fatal(err)
		}
		sm := sha256.Sum256(mod)
		if _, err := st.PutArtifact(ctx, &store.Artifact{Module: v.m, Kind: store.KindMod, SHA256: hex.EncodeToString(sm[:]), Size: int64(len(mod)), Data: mod}); err != nil {
			t.Fatal(err)
		}
		var clone *store.Clone
		if v.zip != "" {
			nzips++
			fi, _ := os.Stat(v.zip)
			zipBytes += fi.Size()
			start := time.Now()
			if _, err := verify.CheckHashZip(v.m, v.zip); err != nil {
				t.Fatalf("%s: %v", v.m, err)
			}
			hashOnly += time.Since(start)
			start = time.Now()
			_, files, err := verify.CheckHashZipFiles(v.m, v.zip, nil)
			if err != nil {
				t.Fatal(err)
			}
			rows += len(files)
			hashFiles += time.Since(start)
			data, _ := os.ReadFile(v.zip)
			sz := sha256.Sum256(data)
			key := hex.EncodeToString(sz[:])
			zips[key] = v.zip
			if _, err := st.PutArtifact(ctx, &store.Artifact{Module: v.m, Kind: store.KindZip, SHA256: key, Size: int64(len(data))}); err != nil {
				t.Fatal(err)
			}
			start = time.Now()
			if clone, err = o.CheckZip(ctx, v.m, mod, v.zip, files); err != nil {
				t.Fatal(err)
			}
			cloneTime += time.Since(start)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			if clone.Original.Path != "" {
				clones++
				if len(clone.Capabilities) > 0 {
					withCaps++
				}
				t.Logf("clone: %s: %s", v.m, policy.CloneReason(clone))
			}
		}
		pc, err := o.CheckPath(ctx, v.m.Path, false)
		if err != nil {
			t.Fatal(err)
		}
		d := p.Decide(policy.Input{Module: v.m, Lookalike: pc, Clone: clone, Data: policy.Data{VulnSynced: time.Now()}}, time.Now())
		if d.Blocked {
			blocked++
			t.Errorf("the default policy blocks %s: %+v", v.m, d.Findings)
		}
	}
	n := float64(max(nzips, 1))
	t.Logf("clone check: %d versions, %d zips (%.1f MiB): %d clone findings (%d adding capabilities); %d blocked by the default policy",
		len(vers), nzips, float64(zipBytes)/(1<<20), clones, withCaps, blocked)
	t.Logf("per zip: hash and rules %.2f ms, with the file index %.2f ms (+%.2f), clone check (index insert, query, compare, capabilities of copies) %.2f ms; per MiB: %.2f / %.2f / %.2f ms; peak heap %.1f MiB",
		float64(hashOnly.Microseconds())/1000/n, float64(hashFiles.Microseconds())/1000/n, float64((hashFiles-hashOnly).Microseconds())/1000/n,
		float64(cloneTime.Microseconds())/1000/n,
		float64(hashOnly.Microseconds())/1000/(float64(zipBytes)/(1<<20)), float64(hashFiles.Microseconds())/1000/(float64(zipBytes)/(1<<20)),
		float64(cloneTime.Microseconds())/1000/(float64(zipBytes)/(1<<20)), float64(peak)/(1<<20))
	t.Logf("file index: %d rows", rows)
}
