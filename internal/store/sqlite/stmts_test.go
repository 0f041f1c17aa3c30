package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// TestFewStatementTexts: the clone index's statements have a few fixed
// texts whatever the number of files, so the statements kept prepared (each
// holds SQLite memory outside the Go heap for the connection's life) do not
// grow with the sizes of the zips seen.
func TestFewStatementTexts(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count := func() int {
		n := 0
		for _, d := range []*prepDB{s.read, s.write} {
			d.mu.Lock()
			n += len(d.stmts)
			d.mu.Unlock()
		}
		return n
	}
	before := count()
	var files []store.ZipFile
	for i := range 450 {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		files = append(files, store.ZipFile{Name: fmt.Sprintf("f%03d.go", i), SHA256: hex.EncodeToString(sum[:]), Size: int64(i)})
	}
	for n := 1; n <= len(files); n += 7 {
		m := module.Version{Path: "example.com/m", Version: fmt.Sprintf("v1.0.%d", n)}
		if err := s.PutZipFiles(ctx, m, files[:n]); err != nil {
			t.Fatal(err)
		}
		got, err := s.ZipFiles(ctx, m)
		if err != nil || len(got) != n {
			t.Fatalf("ZipFiles after putting %d: %d, %v", n, len(got), err)
		}
		if _, err := s.SimilarZips(ctx, "example.com/other", files[:n], 3); err != nil {
			t.Fatal(err)
		}
	}
	// The DELETE, the INSERTs, the SELECT of ZipFiles and the SELECTs of
	// SimilarZips.
	if added, most := count()-before, 1+len(zipFilesBatches)+1+len(similarBatches); added > most {
		t.Errorf("%d statement texts prepared for zips of 1 to 450 files, want at most %d", added, most)
	}
}
