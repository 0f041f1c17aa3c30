package testkit

import (
	"context"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestPostgresDSN(t *testing.T) {
	ctx := context.Background()
	dsns := []string{PostgresDSN(t), PostgresDSN(t)}
	if dsns[0] == dsns[1] {
		t.Fatalf("two calls returned the same DSN %q", dsns[0])
	}
	var names []string
	for i, dsn := range dsns {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connecting to database %d: %v", i, err)
		}
		defer conn.Close(ctx)
		var name string
		var migrated bool
		if err := conn.QueryRow(ctx, `SELECT current_database(), to_regclass('artifacts') IS NOT NULL`).
			Scan(&name, &migrated); err != nil {
			t.Fatalf("database %d: %v", i, err)
		}
		if !migrated {
			t.Errorf("database %s has no artifacts table: not migrated", name)
		}
		names = append(names, name)
		// Writes to one database stay there.
		if _, err := conn.Exec(ctx, `INSERT INTO sumdb_tiles (db, path, data) VALUES ($1, 'p', 'x')`, name); err != nil {
			t.Fatalf("database %s: insert: %v", name, err)
		}
	}
	if names[0] == names[1] {
		t.Fatalf("both DSNs name database %s", names[0])
	}
	for i, dsn := range dsns {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var dbs []string
		rows, _ := conn.Query(ctx, `SELECT db FROM sumdb_tiles`)
		dbs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{names[i]}, dbs); diff != "" {
			t.Errorf("rows of database %s (-want +got):\n%s", names[i], diff)
		}
	}
}

func TestPostgresDSNDropped(t *testing.T) {
	var dsn, name string
	t.Run("user", func(t *testing.T) {
		dsn = PostgresDSN(t)
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		// Left open on purpose: the cleanup must drop the database anyway.
		if err := conn.QueryRow(context.Background(), `SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	if t.Skipped() || name == "" {
		return
	}
	admin, err := pgx.Connect(context.Background(), PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var exists bool
	if err := admin.QueryRow(context.Background(),
		`SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestPGWithDBName(t *testing.T) {
	tests := []struct {
		name, dsn, want string
	}{
		{"url", "postgres://u:p%40ss@db.example:5433/orig?sslmode=disable", "postgres://u:p%40ss@db.example:5433/new?sslmode=disable"},
		{"url without database", "postgresql://u@localhost", "postgresql://u@localhost/new"},
		{"url with dbname parameter", "postgres://u@localhost/?dbname=orig&sslmode=require", "postgres://u@localhost/new?sslmode=require"},
		{"key value", "host=/tmp user=postgres dbname=orig", "host=/tmp user=postgres dbname=orig dbname=new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pgWithDBName(tt.dsn, "new")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pgWithDBName(%q) (-want +got):\n%s", tt.dsn, diff)
			}
			cfg, err := pgx.ParseConfig(got)
			if err != nil {
				t.Fatalf("ParseConfig(%q): %v", got, err)
			}
			if cfg.Database != "new" {
				t.Errorf("ParseConfig(%q).Database = %q, want %q", got, cfg.Database, "new")
			}
		})
	}
}

func TestPGNewestFirst(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"empty", nil, nil},
		{"numeric, not lexical", []string{"/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"},
			[]string{"/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/9.6/bin"}},
		{"minor versions", []string{"/usr/lib/postgresql/9.5/bin", "/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/10/bin"},
			[]string{"/usr/lib/postgresql/10/bin", "/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/9.5/bin"}},
		{"junk last", []string{"/usr/lib/postgresql/x/bin", "/usr/lib/postgresql/12/bin"},
			[]string{"/usr/lib/postgresql/12/bin", "/usr/lib/postgresql/x/bin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, pgNewestFirst(tt.in)); diff != "" {
				t.Errorf("pgNewestFirst (-want +got):\n%s", diff)
			}
		})
	}
}
