package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
)

// BenchmarkPutZipFiles measures the clone index's insert of one zip's files
// (300, about a hugo-graph module's) into a database that already holds 100
// versions' worth, as at a cold fill's ingest:
//
//	go test ./internal/store/sqlite -run '^$' -bench PutZipFiles -benchmem
func BenchmarkPutZipFiles(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "modgate.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	files := func(v int) []store.ZipFile {
		out := make([]store.ZipFile, 300)
		for i := range out {
			sum := sha256.Sum256(fmt.Appendf(nil, "%d/%d", v, i))
			out[i] = store.ZipFile{Name: fmt.Sprintf("pkg%d/file%03d.go", i/20, i), SHA256: hex.EncodeToString(sum[:]), Size: int64(100 * i)}
		}
		return out
	}
	for v := range 100 {
		if err := s.PutZipFiles(ctx, module.Version{Path: "example.com/seed", Version: fmt.Sprintf("v1.0.%d", v)}, files(v)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	v := 1000
	for b.Loop() {
		v++
		m := module.Version{Path: fmt.Sprintf("example.com/m%d", v), Version: "v1.0.0"}
		if err := s.PutZipFiles(ctx, m, files(v)); err != nil {
			b.Fatal(err)
		}
	}
}
