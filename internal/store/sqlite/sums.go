package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// Checksum implements [store.Sums].
func (s *Store) Checksum(ctx context.Context, m module.Version, k store.Kind) (_ *store.Checksum, err error) {
	defer wrap(&err, "sqlite: checksum %s %s", m, k)
	c := &store.Checksum{Module: m, Kind: k}
	var created string
	err = s.read.QueryRowContext(ctx,
		`SELECT hash, source, upstream, client, created_at FROM checksums
		 WHERE module_path = ? AND version = ? AND kind = ?`, m.Path, m.Version, string(k)).
		Scan(&c.Hash, &c.Source, &c.Upstream, &c.Client, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if c.Corrupt = readChecksum(c, created); c.Corrupt != nil {
		return nil, c.Corrupt
	}
	return c, nil
}

// readChecksum fills c.CreatedAt from created and checks the row read into c
// (see [store.CheckStored]).
func readChecksum(c *store.Checksum, created string) *store.CorruptChecksumError {
	var err error
	if c.CreatedAt, err = parseTime(created); err != nil {
		if len(created) > 64 {
			created = created[:64] + "..."
		}
		err = fmt.Errorf("%q is not a time", created)
	}
	return store.CheckStored(c, err)
}

// PutChecksum implements [store.Sums].
func (s *Store) PutChecksum(ctx context.Context, c *store.Checksum) (_ *store.Checksum, err error) {
	defer wrap(&err, "sqlite: put checksum %s %s", c.Module, c.Kind)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	created := c.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	created = normTime(created)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx,
		`INSERT INTO checksums (module_path, version, kind, hash, source, upstream, client, created_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (module_path, version, kind) DO NOTHING`,
		c.Module.Path, c.Module.Version, string(c.Kind), c.Hash, c.Source, c.Upstream, c.Client,
		created.Format(timeFormat))
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		tx.Rollback()
		return s.Checksum(ctx, c.Module, c.Kind)
	}
	stored := *c
	stored.CreatedAt = created
	if err := s.appendAudit(ctx, tx, []*store.AuditEvent{store.PinEvent(&stored)}); err != nil {
		return nil, err
	}
	return &stored, tx.Commit()
}

// EachChecksum implements [store.Sums].
func (s *Store) EachChecksum(ctx context.Context, fn func(*store.Checksum) error) (err error) {
	defer wrap(&err, "sqlite: checksums")
	rows, err := s.read.QueryContext(ctx,
		`SELECT module_path, version, kind, hash, source, upstream, client, created_at FROM checksums
		 ORDER BY module_path, version, kind`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c store.Checksum
		var kind, created string
		if err := rows.Scan(&c.Module.Path, &c.Module.Version, &kind, &c.Hash, &c.Source, &c.Upstream, &c.Client, &created); err != nil {
			return err
		}
		c.Kind = store.Kind(kind)
		c.Corrupt = readChecksum(&c, created)
		if err := fn(&c); err != nil {
			return err
		}
	}
	return rows.Err()
}

// EachArtifact implements [store.Artifacts].
func (s *Store) EachArtifact(ctx context.Context, fn func(*store.Artifact) error) (err error) {
	defer wrap(&err, "sqlite: artifacts")
	rows, err := s.read.QueryContext(ctx,
		`SELECT module_path, version, kind, sha256, size, upstream, created_at FROM artifacts
		 ORDER BY module_path, version, kind`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a store.Artifact
		var kind, created string
		if err := rows.Scan(&a.Module.Path, &a.Module.Version, &kind, &a.SHA256, &a.Size, &a.Upstream, &created); err != nil {
			return err
		}
		a.Kind = store.Kind(kind)
		if a.CreatedAt, err = parseTime(created); err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SumDBConfig implements [store.SumDBState].
func (s *Store) SumDBConfig(ctx context.Context, key string) (_ []byte, err error) {
	defer wrap(&err, "sqlite: sumdb config %s", key)
	var v []byte
	err = s.write.QueryRowContext(ctx, `SELECT value FROM sumdb_config WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if v == nil {
		v = []byte{}
	}
	return v, err
}

// SwapSumDBConfig implements [store.SumDBState]. The write connection is the
// only writer, so a read and a write on it inside one transaction are atomic.
func (s *Store) SwapSumDBConfig(ctx context.Context, key string, old, new []byte) (err error) {
	defer wrap(&err, "sqlite: swap sumdb config %s", key)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var cur []byte
	err = tx.QueryRowContext(ctx, `SELECT value FROM sumdb_config WHERE key = ?`, key).Scan(&cur)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if !bytes.Equal(cur, old) {
		return store.ErrConflict
	}
	if new == nil {
		new = []byte{}
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO sumdb_config (key, value, updated_at) VALUES (?, ?, ?)
		 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, new, normTime(s.now()).Format(timeFormat)); err != nil {
		return err
	}
	return tx.Commit()
}

// SumDBFork implements [store.SumDBState].
func (s *Store) SumDBFork(ctx context.Context, db string) (_ *store.SumDBFork, err error) {
	defer wrap(&err, "sqlite: sumdb fork %s", db)
	return scanFork(s.write.QueryRowContext(ctx, `SELECT db, detail, detected_at FROM sumdb_forks WHERE db = ?`, db))
}

func scanFork(row *sql.Row) (*store.SumDBFork, error) {
	var f store.SumDBFork
	var at string
	err := row.Scan(&f.DB, &f.Detail, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	f.DetectedAt, err = parseTime(at)
	return &f, err
}

// PutSumDBFork implements [store.SumDBState].
func (s *Store) PutSumDBFork(ctx context.Context, f *store.SumDBFork) (_ *store.SumDBFork, err error) {
	defer wrap(&err, "sqlite: put sumdb fork %s", f.DB)
	if f.DB == "" {
		return nil, errors.New("empty checksum database name")
	}
	at := f.DetectedAt
	if at.IsZero() {
		at = s.now()
	}
	if _, err := s.write.ExecContext(ctx,
		`INSERT INTO sumdb_forks (db, detail, detected_at) VALUES (?, ?, ?) ON CONFLICT (db) DO NOTHING`,
		f.DB, f.Detail, normTime(at).Format(timeFormat)); err != nil {
		return nil, err
	}
	return s.SumDBFork(ctx, f.DB)
}

// ClearSumDBFork implements [store.SumDBState].
func (s *Store) ClearSumDBFork(ctx context.Context, db string) (_ *store.SumDBFork, err error) {
	defer wrap(&err, "sqlite: clear sumdb fork %s", db)
	return scanFork(s.write.QueryRowContext(ctx, `DELETE FROM sumdb_forks WHERE db = ? RETURNING db, detail, detected_at`, db))
}
