package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/postgres"
	"github.com/modgate/modgate/internal/store/storetest"
	"github.com/modgate/modgate/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, testkit.PostgresDSN(t))
	})
}

// TestLockAcrossReplicas checks that the advisory lock excludes across two
// stores on one database, as it must across replicas.
func TestLockAcrossReplicas(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	storetest.LockExcludes(t, a, b)
	storetest.LockExcludes(t, b, a)
}

// TestLeaseWatchAcrossReplicas checks that a lease's end wakes the watchers
// of another store on the same database (NOTIFY/LISTEN), as it must across
// replicas.
func TestLeaseWatchAcrossReplicas(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	storetest.LeaseWatch(t, a, b)
}

// TestLockNoLeak checks that after locks are taken, waited for, cancelled and
// released, the database holds no advisory lock and no session is left waiting.
func TestLockNoLeak(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	s := open(t, dsn)
	defer s.Close()
	ctx := context.Background()
	unlock, err := s.Lock(ctx, "k")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, time.Duration(20+10*i)*time.Millisecond)
			defer cancel()
			if unlock, err := s.Lock(ctx, "k"); err == nil {
				unlock()
				t.Errorf("Lock of a held key succeeded before its deadline")
			} else if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Lock: got %v, want context.DeadlineExceeded", err)
			}
		}()
	}
	wg.Wait()
	if n := advisoryLocks(t, dsn, "k"); n != 1 {
		t.Errorf("while one lock is held: %d sessions hold or wait for the advisory lock, want 1", n)
	}
	unlock()
	unlock() // a second unlock does nothing
	if n := advisoryLocks(t, dsn, "k"); n != 0 {
		t.Errorf("after unlock: %d sessions hold or wait for the advisory lock, want 0", n)
	}
	unlock, err = s.Lock(ctx, "k")
	if err != nil {
		t.Fatalf("Lock after all that: %v", err)
	}
	unlock()
}

// advisoryLocks counts the sessions holding or waiting for key's advisory lock.
func advisoryLocks(t *testing.T, dsn, key string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	id := uint64(postgres.AdvisoryKey(key))
	var n int
	// A bigint key shows in pg_locks as classid (high half) and objid (low half).
	err = conn.QueryRow(ctx,
		`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1
		 AND classid::bigint = $1 AND objid::bigint = $2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		int64(id>>32), int64(id&0xffffffff)).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenTwiceMigratesOnce(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	ctx := context.Background()
	s := open(t, dsn)
	if _, err := s.PutArtifact(ctx, &store.Artifact{Module: module.Version{Path: "m", Version: "v1.0.0"},
		Kind: store.KindZip, SHA256: strings.Repeat("a", 64), Size: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := postgres.Migrate(ctx, dsn); err != nil {
		t.Fatalf("Migrate on a migrated database: %v", err)
	}
	s = open(t, dsn)
	defer s.Close()
	if _, err := s.Artifact(ctx, module.Version{Path: "m", Version: "v1.0.0"}, store.KindZip); err != nil {
		t.Fatalf("Artifact after reopening: %v", err)
	}
}

// TestConcurrentOpen starts several replicas at once on a database that has
// never been migrated: the migration lock makes them take turns.
func TestConcurrentOpen(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Undo the template's migrations, so the replicas find an empty database.
	if _, err := conn.Exec(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	const replicas = 5
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			s, err := postgres.Open(ctx, dsn)
			if err == nil {
				err = s.PutTile(ctx, "db", fmt.Sprint(i), []byte("x"))
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

func TestClosed(t *testing.T) {
	s := open(t, testkit.PostgresDSN(t))
	s.Close()
	ctx := context.Background()
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping on a closed store succeeded")
	}
	if _, err := s.Meta(ctx, "m", store.MetaList); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Meta on a closed store: got %v, want an error other than not-exist", err)
	}
	if _, err := s.Lock(ctx, "k"); err == nil {
		t.Errorf("Lock on a closed store succeeded")
	}
}

// TestErrorsHideDSNPassword checks that neither a malformed DSN nor a failed
// connection puts the password into the error.
func TestErrorsHideDSNPassword(t *testing.T) {
	const secret = "s3cretPW"
	tests := []struct {
		name, dsn string
	}{
		{"url, no server", "postgres://modgate:" + secret + "@127.0.0.1:1/modgate?connect_timeout=2"},
		{"key value, no server", "host=127.0.0.1 port=1 user=modgate password=" + secret + " connect_timeout=2"},
		{"malformed url", "postgres://modgate:" + secret + "@host:notaport/db"},
		{"malformed key value", "host=x password='" + secret},
		{"unknown sslmode", "postgres://modgate:" + secret + "@localhost/db?sslmode=" + secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := postgres.Open(ctx, tt.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Open's error shows the password: %v", err)
			}
			if err := postgres.Migrate(ctx, tt.dsn); err == nil || strings.Contains(err.Error(), secret) {
				t.Errorf("Migrate: got %v, want an error without the password", err)
			}
		})
	}
}

// TestCorruptChecksums edits checksum rows with raw SQL into what the store
// could not have written, as far as the column types allow: timestamptz
// holds no garbage, but 'infinity'.
func TestCorruptChecksums(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	s := open(t, dsn)
	defer s.Close()
	raw, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(context.Background())
	edit := func(t *testing.T, m module.Version, k store.Kind, column, value string) {
		cast := ""
		if column == "created_at" {
			cast = "::timestamptz"
		}
		if _, err := raw.Exec(t.Context(), `UPDATE checksums SET `+column+` = $1`+cast+` WHERE module_path = $2 AND version = $3 AND kind = $4`,
			value, m.Path, m.Version, string(k)); err != nil {
			t.Fatal(err)
		}
	}
	storetest.CorruptChecksums(t, s, edit, map[string]string{
		"created_at": "infinity",
		"hash":       "h1:<script>not base64",
		"source":     "",
	})
}
