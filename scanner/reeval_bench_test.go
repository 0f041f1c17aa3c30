package scanner

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// BenchmarkReevaluate measures a sync that touches 50 advisories over a store
// with 100,000 versions (2,000 modules of 50 versions, each requiring a version
// of the next module): fetching the changed entries from a file:// database,
// storing them, re-matching every affected stored version and dependent, and
// recording what changed. Each iteration moves the 50 advisories' fixed
// versions, so findings are added and removed every time.
func BenchmarkReevaluate(b *testing.B) {
	const modules, versions, touched = 2000, 50, 50
	ctx := context.Background()
	dir := b.TempDir()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	writeDB(b, dir, newEntry(b, "GO-2020-0001", "example.com/unrelated", "0", "", base))
	st := newStore(b)
	s, _ := newScanner(b, st, fileURL(dir), func(o *Options) { o.Logger = nil })
	if _, err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	modPath := func(i int) string { return fmt.Sprintf("example.com/mod%04d", i) }
	start := time.Now()
	for i := range modules {
		for v := range versions {
			f := &store.Facts{
				Module:   module.Version{Path: modPath(i), Version: fmt.Sprintf("v1.0.%d", v)},
				Requires: []module.Version{{Path: modPath((i + 1) % modules), Version: fmt.Sprintf("v1.0.%d", v)}},
			}
			if err := st.PutFacts(ctx, f); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("stored %d versions in %v", modules*versions, time.Since(start))
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		var entries [][]byte
		entries = append(entries, newEntry(b, "GO-2020-0001", "example.com/unrelated", "0", "", base))
		mod := base.Add(time.Duration(n+1) * time.Hour)
		fixed := "1.0.25"
		if n%2 == 1 {
			fixed = "1.0.30"
		}
		for i := range touched {
			entries = append(entries, newEntry(b, fmt.Sprintf("GO-2026-%04d", i), modPath(i*modules/touched), "0", fixed, mod))
		}
		writeDB(b, dir, entries...)
		b.StartTimer()
		res, err := s.Sync(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Added)+len(res.Updated) != touched || res.Reevaluated != touched*versions*2 {
			b.Fatalf("sync touched %d advisories and re-matched %d pairs, want %d and %d", len(res.Added)+len(res.Updated), res.Reevaluated, touched, touched*versions*2)
		}
		if n == 0 && len(res.Learnt) != touched*25*2 {
			b.Fatalf("first sync learnt %d findings, want %d", len(res.Learnt), touched*25*2)
		}
	}
}
