package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// PathCheck implements [store.Resemblance].
func (s *Store) PathCheck(ctx context.Context, path string) (_ *store.PathCheck, err error) {
	defer wrap(&err, "sqlite: look-alike check of %s", path)
	var c store.PathCheck
	var at string
	var listed int
	err = s.read.QueryRowContext(ctx, `SELECT path, checked_at, resembles, kind, how, uses, listed, others
		FROM path_checks WHERE path = ?`, path).Scan(&c.Path, &at, &c.Resembles, &c.Kind, &c.How, &c.Uses, &listed, &c.Others)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("not checked: %w", fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	c.Listed = listed != 0
	if c.CheckedAt, err = parseTime(at); err != nil {
		return nil, err
	}
	return &c, nil
}

// PutPathCheck implements [store.Resemblance].
func (s *Store) PutPathCheck(ctx context.Context, c *store.PathCheck) (_ *store.PathCheck, err error) {
	defer wrap(&err, "sqlite: store the look-alike check of %s", c.Path)
	if c.Path == "" {
		return nil, errors.New("empty path")
	}
	at := c.CheckedAt
	if at.IsZero() {
		at = s.now()
	}
	if _, err := s.write.ExecContext(ctx, `INSERT INTO path_checks (path, checked_at, resembles, kind, how, uses, listed, others)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (path) DO NOTHING`,
		c.Path, normTime(at).Format(timeFormat), c.Resembles, c.Kind, c.How, c.Uses, boolInt(c.Listed), c.Others); err != nil {
		return nil, err
	}
	return s.PathCheck(ctx, c.Path)
}

// ModulePaths implements [store.Resemblance].
func (s *Store) ModulePaths(ctx context.Context) (_ []store.PathUse, err error) {
	defer wrap(&err, "sqlite: module paths")
	rows, err := s.read.QueryContext(ctx, `SELECT path, sum(n) FROM (
			SELECT module_path AS path, count(DISTINCT version) AS n FROM artifacts GROUP BY module_path
			UNION ALL SELECT path, 0 FROM path_checks)
		GROUP BY path ORDER BY path`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.PathUse
	for rows.Next() {
		var u store.PathUse
		if err := rows.Scan(&u.Path, &u.Versions); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// PutZipFiles implements [store.Resemblance].
func (s *Store) PutZipFiles(ctx context.Context, m module.Version, files []store.ZipFile) (err error) {
	defer wrap(&err, "sqlite: store the file index of %s@%s", m.Path, m.Version)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := putZipFiles(ctx, tx, m, files); err != nil {
		return err
	}
	return tx.Commit()
}

// PutZipCheck implements [store.Resemblance].
func (s *Store) PutZipCheck(ctx context.Context, files []store.ZipFile, c *store.Clone) (err error) {
	defer wrap(&err, "sqlite: store the file index and clone check of %s@%s", c.Module.Path, c.Module.Version)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := putZipFiles(ctx, tx, c.Module, files); err != nil {
		return err
	}
	if err := s.putClone(ctx, tx, c); err != nil {
		return err
	}
	return tx.Commit()
}

// putZipFiles replaces the file index of m in tx.
func putZipFiles(ctx context.Context, tx *prepTx, m module.Version, files []store.ZipFile) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM zip_files WHERE module_path = ? AND version = ?`, m.Path, m.Version); err != nil {
		return err
	}
	// Rows in batches per statement (one statement per row cost most of
	// the clone check's time), of the sizes of zipFilesBatches only: each
	// statement text stays prepared on the connection (see prepDB).
	for len(files) > 0 {
		batch := files[:fixedBatch(zipFilesBatches[:], len(files))]
		files = files[len(batch):]
		args := make([]any, 0, 5*len(batch))
		for _, f := range batch {
			args = append(args, m.Path, m.Version, f.Name, f.SHA256, f.Size)
		}
		q := `INSERT INTO zip_files (module_path, version, name, sha256, size) VALUES (?, ?, ?, ?, ?)` +
			strings.Repeat(", (?, ?, ?, ?, ?)", len(batch)-1) + ` ON CONFLICT DO NOTHING`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// ZipFiles implements [store.Resemblance].
func (s *Store) ZipFiles(ctx context.Context, m module.Version) (_ []store.ZipFile, err error) {
	defer wrap(&err, "sqlite: file index of %s@%s", m.Path, m.Version)
	rows, err := s.read.QueryContext(ctx, `SELECT name, sha256, size FROM zip_files
		WHERE module_path = ? AND version = ? ORDER BY name`, m.Path, m.Version)
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

// zipFilesBatches are how many files one INSERT of PutZipFiles writes (5
// parameters each, well within SQLite's limit of 32766); a statement
// writes as many of the largest batch as fit, then of the smaller ones. A
// statement prepared is kept on each connection for its life (4-40 KB of
// SQLite's memory each, outside the Go heap): one text per number of rows
// grew SQLite's memory from 17 to 40 MB over a cold fill of the hugo graph.
var zipFilesBatches = [...]int{200, 64, 16, 4, 1}

// fixedBatch is the largest of sizes (largest first, the last 1) that is
// at most n.
func fixedBatch(sizes []int, n int) int {
	for _, b := range sizes {
		if b <= n {
			return b
		}
	}
	return 1
}

// similarBatches are the sizes of the IN lists of SimilarZips' queries,
// largest first: how many contents one query asks for at most.
var similarBatches = [...]int{400, 64, 8}

// similarQueries are SimilarZips' queries, by the size of their IN list.
var similarQueries = func() map[int]string {
	m := map[int]string{}
	for _, n := range similarBatches {
		m[n] = `SELECT module_path, version, name, sha256 FROM zip_files
			WHERE module_path <> ? AND sha256 IN (?` + strings.Repeat(", ?", n-1) + `)`
	}
	return m
}()

// SimilarZips implements [store.Resemblance]: the stored files with the same
// contents, read through the sha256 index in batches, counted per version
// where their names match too.
func (s *Store) SimilarZips(ctx context.Context, path string, files []store.ZipFile, n int) (_ []store.ZipMatch, err error) {
	defer wrap(&err, "sqlite: zips like %s", path)
	names := map[string]map[string]bool{} // sha256 -> names
	var hashes []string
	for _, f := range files {
		if names[f.SHA256] == nil {
			names[f.SHA256] = map[string]bool{}
			hashes = append(hashes, f.SHA256)
		}
		names[f.SHA256][f.Name] = true
	}
	count := map[module.Version]int{}
	for len(hashes) > 0 {
		batch := hashes[:min(similarBatches[0], len(hashes))]
		hashes = hashes[len(batch):]
		// The IN list has one of the sizes of similarBatches, the last
		// hash repeated to fill it (a set: the rows are the same), so
		// that few statement texts are ever prepared (see prepDB).
		size := similarBatches[0]
		for _, n := range similarBatches {
			if n >= len(batch) {
				size = n
			}
		}
		args := []any{path}
		for i := range size {
			args = append(args, batch[min(i, len(batch)-1)])
		}
		rows, err := s.read.QueryContext(ctx, similarQueries[size], args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var m module.Version
			var name, sum string
			if err := rows.Scan(&m.Path, &m.Version, &name, &sum); err != nil {
				rows.Close()
				return nil, err
			}
			if names[sum][name] {
				count[m]++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return store.BestMatches(count, n), nil
}

// Clone implements [store.Resemblance].
func (s *Store) Clone(ctx context.Context, m module.Version) (_ *store.Clone, err error) {
	defer wrap(&err, "sqlite: clone check of %s@%s", m.Path, m.Version)
	c := store.Clone{Module: m}
	var at, added, changed, caps string
	var lineOnly, known int
	err = s.read.QueryRowContext(ctx, `SELECT checked_at, original_path, original_version, similarity, added, changed,
		module_line_only, capabilities, capabilities_known FROM clone_checks WHERE module_path = ? AND version = ?`, m.Path, m.Version).
		Scan(&at, &c.Original.Path, &c.Original.Version, &c.Similarity, &added, &changed, &lineOnly, &caps, &known)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("not checked: %w", fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	c.ModuleLineOnly, c.CapabilitiesKnown = lineOnly != 0, known != 0
	if c.CheckedAt, err = parseTime(at); err != nil {
		return nil, err
	}
	for _, l := range []struct {
		text string
		to   *[]string
	}{{added, &c.Added}, {changed, &c.Changed}, {caps, &c.Capabilities}} {
		if err := json.Unmarshal([]byte(l.text), l.to); err != nil {
			return nil, fmt.Errorf("stored list: %w", err)
		}
	}
	return &c, nil
}

// PutClone implements [store.Resemblance].
func (s *Store) PutClone(ctx context.Context, c *store.Clone) (err error) {
	defer wrap(&err, "sqlite: store the clone check of %s@%s", c.Module.Path, c.Module.Version)
	return s.putClone(ctx, s.write, c)
}

// putClone stores c with db (the write handle or one of its transactions).
func (s *Store) putClone(ctx context.Context, db execer, c *store.Clone) error {
	at := c.CheckedAt
	if at.IsZero() {
		at = s.now()
	}
	added, changed, caps := jsonList(c.Added), jsonList(c.Changed), jsonList(c.Capabilities)
	_, err := db.ExecContext(ctx, `INSERT INTO clone_checks (module_path, version, checked_at, original_path, original_version,
		similarity, added, changed, module_line_only, capabilities, capabilities_known) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (module_path, version) DO UPDATE SET checked_at = excluded.checked_at, original_path = excluded.original_path,
		original_version = excluded.original_version, similarity = excluded.similarity, added = excluded.added,
		changed = excluded.changed, module_line_only = excluded.module_line_only, capabilities = excluded.capabilities,
		capabilities_known = excluded.capabilities_known`,
		c.Module.Path, c.Module.Version, normTime(at).Format(timeFormat), c.Original.Path, c.Original.Version, c.Similarity,
		added, changed, boolInt(c.ModuleLineOnly), caps, boolInt(c.CapabilitiesKnown))
	return err
}

// jsonList is l as a JSON array ("[]" for none), sorted.
func jsonList(l []string) string {
	l = append([]string{}, l...)
	sort.Strings(l)
	b, _ := json.Marshal(l)
	return string(b)
}
