package audit_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/postgres"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// db is a store under test with a raw SQL handle for tampering.
type db struct {
	store.Store
	exec   func(t *testing.T, sql string)
	driver string
}

type driver struct {
	name string
	open func(t *testing.T) db
}

var drivers = []driver{
	{"sqlite", func(t *testing.T) db {
		path := filepath.Join(t.TempDir(), "modgate.db")
		s, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		raw, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return db{s, func(t *testing.T, q string) {
			t.Helper()
			if _, err := raw.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}, "sqlite"}
	}},
	{"postgres", func(t *testing.T) db {
		dsn := testkit.PostgresDSN(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return db{s, func(t *testing.T, q string) {
			t.Helper()
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}, "postgres"}
	}},
}

// forEachDriver runs fn as a subtest per driver.
func forEachDriver(t *testing.T, fn func(t *testing.T, d db)) {
	for _, drv := range drivers {
		t.Run(drv.name, func(t *testing.T) { fn(t, drv.open(t)) })
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fill appends n fetch records, one a minute from t0.
func fill(t *testing.T, s store.Audit, n int) []*store.AuditEvent {
	t.Helper()
	var all []*store.AuditEvent
	for i := range n {
		all = append(all, &store.AuditEvent{Time: t0.Add(time.Duration(i) * time.Minute), Type: store.AuditFetch,
			ClientIP: "10.0.0.1", Module: "example.com/m", Version: "v1.0.0", Kind: "zip",
			Decision: store.DecisionServed, Source: "cache", Bytes: int64(i)})
	}
	if err := s.AppendAudit(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	return all
}
