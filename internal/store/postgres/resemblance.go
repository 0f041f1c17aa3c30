package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// PathCheck implements [store.Resemblance].
func (s *Store) PathCheck(ctx context.Context, path string) (_ *store.PathCheck, err error) {
	defer wrap(&err, "postgres: look-alike check of %s", path)
	var c store.PathCheck
	err = s.pool.QueryRow(ctx, `SELECT path, checked_at, resembles, kind, how, uses, listed, others
		FROM path_checks WHERE path = $1`, path).Scan(&c.Path, &c.CheckedAt, &c.Resembles, &c.Kind, &c.How, &c.Uses, &c.Listed, &c.Others)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("not checked: %w", fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	c.CheckedAt = c.CheckedAt.UTC()
	return &c, nil
}

// PutPathCheck implements [store.Resemblance].
func (s *Store) PutPathCheck(ctx context.Context, c *store.PathCheck) (_ *store.PathCheck, err error) {
	defer wrap(&err, "postgres: store the look-alike check of %s", c.Path)
	if c.Path == "" {
		return nil, errors.New("empty path")
	}
	at := c.CheckedAt
	if at.IsZero() {
		at = s.now()
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO path_checks (path, checked_at, resembles, kind, how, uses, listed, others)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (path) DO NOTHING`,
		c.Path, at.UTC().Truncate(time.Microsecond), c.Resembles, c.Kind, c.How, c.Uses, c.Listed, c.Others); err != nil {
		return nil, err
	}
	return s.PathCheck(ctx, c.Path)
}

// ModulePaths implements [store.Resemblance].
func (s *Store) ModulePaths(ctx context.Context) (_ []store.PathUse, err error) {
	defer wrap(&err, "postgres: module paths")
	rows, err := s.pool.Query(ctx, `SELECT path, sum(n)::bigint FROM (
			SELECT module_path AS path, count(DISTINCT version) AS n FROM artifacts GROUP BY module_path
			UNION ALL SELECT path, 0 FROM path_checks) p
		GROUP BY path ORDER BY path COLLATE "C"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PathUse
	for rows.Next() {
		var u store.PathUse
		var n int64
		if err := rows.Scan(&u.Path, &n); err != nil {
			return nil, err
		}
		u.Versions = int(n)
		out = append(out, u)
	}
	return out, rows.Err()
}

// PutZipFiles implements [store.Resemblance].
func (s *Store) PutZipFiles(ctx context.Context, m module.Version, files []store.ZipFile) (err error) {
	defer wrap(&err, "postgres: store the file index of %s@%s", m.Path, m.Version)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := putZipFiles(ctx, tx, m, files); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// PutZipCheck implements [store.Resemblance].
func (s *Store) PutZipCheck(ctx context.Context, files []store.ZipFile, c *store.Clone) (err error) {
	defer wrap(&err, "postgres: store the file index and clone check of %s@%s", c.Module.Path, c.Module.Version)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := putZipFiles(ctx, tx, c.Module, files); err != nil {
		return err
	}
	if err := s.putClone(ctx, tx, c); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// putZipFiles replaces the file index of m in tx.
func putZipFiles(ctx context.Context, tx pgx.Tx, m module.Version, files []store.ZipFile) error {
	// Replicas deciding on one zip at once record its index at once: take
	// turns for this version (until commit), or the second COPY fails on
	// the first's rows with a duplicate key.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryKey(nsZipFiles, m.Path+"@"+m.Version)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM zip_files WHERE module_path = $1 AND version = $2`, m.Path, m.Version); err != nil {
		return err
	}
	seen := map[string]bool{}
	var rows [][]any
	for _, f := range files {
		if !seen[f.Name] {
			seen[f.Name] = true
			rows = append(rows, []any{m.Path, m.Version, f.Name, f.SHA256, f.Size})
		}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"zip_files"}, []string{"module_path", "version", "name", "sha256", "size"},
		pgx.CopyFromRows(rows))
	return err
}

// ZipFiles implements [store.Resemblance].
func (s *Store) ZipFiles(ctx context.Context, m module.Version) (_ []store.ZipFile, err error) {
	defer wrap(&err, "postgres: file index of %s@%s", m.Path, m.Version)
	rows, err := s.pool.Query(ctx, `SELECT name, sha256, size FROM zip_files
		WHERE module_path = $1 AND version = $2 ORDER BY name COLLATE "C"`, m.Path, m.Version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ZipFile
	for rows.Next() {
		var f store.ZipFile
		if err := rows.Scan(&f.Name, &f.SHA256, &f.Size); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no file index: %w", fs.ErrNotExist)
	}
	return out, nil
}

// SimilarZips implements [store.Resemblance]: one query through the sha256
// index, matching names too, counted per version.
func (s *Store) SimilarZips(ctx context.Context, path string, files []store.ZipFile, n int) (_ []store.ZipMatch, err error) {
	defer wrap(&err, "postgres: zips like %s", path)
	names, sums := make([]string, len(files)), make([]string, len(files))
	for i, f := range files {
		names[i], sums[i] = f.Name, f.SHA256
	}
	rows, err := s.pool.Query(ctx, `SELECT z.module_path, z.version, count(*) FROM zip_files z
		JOIN unnest($2::text[], $3::text[]) AS f(name, sha256) ON z.sha256 = f.sha256 AND z.name = f.name
		WHERE z.module_path <> $1 GROUP BY z.module_path, z.version`, path, names, sums)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	count := map[module.Version]int{}
	for rows.Next() {
		var m module.Version
		var c int64
		if err := rows.Scan(&m.Path, &m.Version, &c); err != nil {
			return nil, err
		}
		count[m] = int(c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return store.BestMatches(count, n), nil
}

// Clone implements [store.Resemblance].
func (s *Store) Clone(ctx context.Context, m module.Version) (_ *store.Clone, err error) {
	defer wrap(&err, "postgres: clone check of %s@%s", m.Path, m.Version)
	c := store.Clone{Module: m}
	var added, changed, caps []byte
	err = s.pool.QueryRow(ctx, `SELECT checked_at, original_path, original_version, similarity, added, changed,
		module_line_only, capabilities, capabilities_known FROM clone_checks WHERE module_path = $1 AND version = $2`, m.Path, m.Version).
		Scan(&c.CheckedAt, &c.Original.Path, &c.Original.Version, &c.Similarity, &added, &changed, &c.ModuleLineOnly, &caps, &c.CapabilitiesKnown)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("not checked: %w", fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	c.CheckedAt = c.CheckedAt.UTC()
	for _, l := range []struct {
		text []byte
		to   *[]string
	}{{added, &c.Added}, {changed, &c.Changed}, {caps, &c.Capabilities}} {
		if err := json.Unmarshal(l.text, l.to); err != nil {
			return nil, fmt.Errorf("stored list: %w", err)
		}
	}
	return &c, nil
}

// PutClone implements [store.Resemblance].
func (s *Store) PutClone(ctx context.Context, c *store.Clone) (err error) {
	defer wrap(&err, "postgres: store the clone check of %s@%s", c.Module.Path, c.Module.Version)
	return s.putClone(ctx, s.pool, c)
}

// putClone stores c with db (the pool or a transaction).
func (s *Store) putClone(ctx context.Context, db interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}, c *store.Clone) error {
	at := c.CheckedAt
	if at.IsZero() {
		at = s.now()
	}
	_, err := db.Exec(ctx, `INSERT INTO clone_checks (module_path, version, checked_at, original_path, original_version,
		similarity, added, changed, module_line_only, capabilities, capabilities_known) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (module_path, version) DO UPDATE SET checked_at = excluded.checked_at, original_path = excluded.original_path,
		original_version = excluded.original_version, similarity = excluded.similarity, added = excluded.added,
		changed = excluded.changed, module_line_only = excluded.module_line_only, capabilities = excluded.capabilities,
		capabilities_known = excluded.capabilities_known`,
		c.Module.Path, c.Module.Version, at.UTC().Truncate(time.Microsecond), c.Original.Path, c.Original.Version, c.Similarity,
		jsonList(c.Added), jsonList(c.Changed), c.ModuleLineOnly, jsonList(c.Capabilities), c.CapabilitiesKnown)
	return err
}

// jsonList is l as a JSON array ("[]" for none), sorted.
func jsonList(l []string) string {
	l = append([]string{}, l...)
	sort.Strings(l)
	b, _ := json.Marshal(l)
	return string(b)
}
