package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "modgate.db"))
	})
}

func TestOpenPaths(t *testing.T) {
	tests := []struct {
		name string
		rel  string
	}{
		{"missing parent directories", "a/b/c/modgate.db"},
		{"URI characters in the name", "dir?x=1#frag/mod gate%20.db"},
		{"relative-looking name", "./x/../modgate.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.rel)
			s := open(t, path)
			ctx := context.Background()
			if err := s.PutTile(ctx, "db", "p", []byte("x")); err != nil {
				t.Fatalf("PutTile: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// The data is in the file at path, not somewhere the URI
			// characters sent it.
			s = open(t, path)
			defer s.Close()
			if _, err := s.Tile(ctx, "db", "p"); err != nil {
				t.Fatalf("Tile after reopening: %v", err)
			}
		})
	}
}

func TestMigrateIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "modgate.db")
	if err := sqlite.Migrate(ctx, path); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := sqlite.Migrate(ctx, path); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	s1 := open(t, path)
	s1.Close()
	s2 := open(t, path)
	defer s2.Close()
	if err := s2.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "modgate.db"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping on a closed store succeeded")
	}
	if _, err := s.Artifact(ctx, module.Version{Path: "m", Version: "v1.0.0"}, store.KindMod); err == nil {
		t.Errorf("Artifact on a closed store succeeded")
	}
}

// TestConcurrentWriters checks that writers do not fail with SQLITE_BUSY: 100
// goroutines each write and read at once, through one store and through a second
// store on the same file (as a second process would).
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "modgate.db")
	stores := []*sqlite.Store{open(t, path), open(t, path)}
	defer stores[0].Close()
	defer stores[1].Close()
	const goroutines, each = 100, 10
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	start := make(chan struct{})
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[g%2]
			<-start
			for i := range each {
				mod := module.Version{Path: fmt.Sprintf("example.com/m%d", g), Version: fmt.Sprintf("v1.0.%d", i)}
				data := []byte(mod.String())
				if _, err := s.PutArtifact(ctx, &store.Artifact{Module: mod, Kind: store.KindMod,
					SHA256: fmt.Sprintf("%064x", g*each+i), Size: int64(len(data)), Data: data}); err != nil {
					errs <- err
					continue
				}
				if err := s.PutMeta(ctx, &store.Meta{Path: "example.com/shared", Kind: store.MetaList, Data: data}); err != nil {
					errs <- err
				}
				if err := s.PutTile(ctx, "sum.golang.org", fmt.Sprintf("tile/%d", i), data); err != nil {
					errs <- err
				}
				if _, err := s.Artifact(ctx, mod, store.KindMod); err != nil {
					errs <- err
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Errorf("concurrent write: %v", err)
		}
	}
	if n > 5 {
		t.Errorf("... and %d more errors", n-5)
	}
}

func TestLockAfterClose(t *testing.T) {
	// Locks are in memory; they keep working (and excluding) for callers still
	// holding them while the store closes, and never panic.
	s := open(t, filepath.Join(t.TempDir(), "modgate.db"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	unlock, err := s.Lock(ctx, "k")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	s.Close()
	unlock()
	unlock() // idempotent
	if _, err := s.Lock(ctx, "k"); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock after Close: %v", err)
	}
}

// TestCorruptChecksums edits checksum rows with raw SQL into what the store
// could not have written: SQLite's STRICT table still takes any text.
func TestCorruptChecksums(t *testing.T) {
	path := filepath.Join(t.TempDir(), "modgate.db")
	s := open(t, path)
	defer s.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	edit := func(t *testing.T, m module.Version, k store.Kind, column, value string) {
		if _, err := raw.Exec(`UPDATE checksums SET `+column+` = ? WHERE module_path = ? AND version = ? AND kind = ?`,
			value, m.Path, m.Version, string(k)); err != nil {
			t.Fatal(err)
		}
	}
	storetest.CorruptChecksums(t, s, edit, map[string]string{
		"created_at": "garbage",
		"hash":       "h1:<script>not base64",
		"source":     "",
	})
}
