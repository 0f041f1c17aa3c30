package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// Checksum implements [store.Sums].
func (s *Store) Checksum(ctx context.Context, m module.Version, k store.Kind) (_ *store.Checksum, err error) {
	defer wrap(&err, "postgres: checksum %s %s", m, k)
	c := &store.Checksum{Module: m, Kind: k}
	var created pgtype.Timestamptz
	err = s.pool.QueryRow(ctx,
		`SELECT hash, source, upstream, client, created_at FROM checksums
		 WHERE module_path = $1 AND version = $2 AND kind = $3`, m.Path, m.Version, string(k)).
		Scan(&c.Hash, &c.Source, &c.Upstream, &c.Client, &created)
	if errors.Is(err, pgx.ErrNoRows) {
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
// (see [store.CheckStored]). created is scanned as a pgtype.Timestamptz, not
// a time.Time, so that an 'infinity' written behind modgate's back is this
// row's problem and not a scan error that ends a listing.
func readChecksum(c *store.Checksum, created pgtype.Timestamptz) *store.CorruptChecksumError {
	var err error
	switch {
	case !created.Valid:
		err = errors.New("no time recorded")
	case created.InfinityModifier != pgtype.Finite:
		err = fmt.Errorf("%s is not a time", created.InfinityModifier)
	default:
		c.CreatedAt = created.Time.UTC()
	}
	return store.CheckStored(c, err)
}

// PutChecksum implements [store.Sums].
func (s *Store) PutChecksum(ctx context.Context, c *store.Checksum) (_ *store.Checksum, err error) {
	defer wrap(&err, "postgres: put checksum %s %s", c.Module, c.Kind)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	created := c.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	created = normTime(created)
	stored := *c
	stored.CreatedAt = created
	inserted := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`INSERT INTO checksums (module_path, version, kind, hash, source, upstream, client, created_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (module_path, version, kind) DO NOTHING`,
			c.Module.Path, c.Module.Version, string(c.Kind), c.Hash, c.Source, c.Upstream, c.Client, created)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		inserted = true
		return s.appendAudit(ctx, tx, []*store.AuditEvent{store.PinEvent(&stored)})
	})
	switch {
	case err != nil:
		return nil, err
	case !inserted:
		return s.Checksum(ctx, c.Module, c.Kind)
	}
	return &stored, nil
}

// EachChecksum implements [store.Sums].
func (s *Store) EachChecksum(ctx context.Context, fn func(*store.Checksum) error) (err error) {
	defer wrap(&err, "postgres: checksums")
	rows, err := s.pool.Query(ctx,
		`SELECT module_path, version, kind, hash, source, upstream, client, created_at FROM checksums
		 ORDER BY module_path, version, kind`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var c store.Checksum
		var kind string
		var created pgtype.Timestamptz
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
	defer wrap(&err, "postgres: artifacts")
	rows, err := s.pool.Query(ctx,
		`SELECT module_path, version, kind, sha256, size, upstream, created_at FROM artifacts
		 ORDER BY module_path, version, kind`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a store.Artifact
		var kind string
		if err := rows.Scan(&a.Module.Path, &a.Module.Version, &kind, &a.SHA256, &a.Size, &a.Upstream, &a.CreatedAt); err != nil {
			return err
		}
		a.Kind = store.Kind(kind)
		a.CreatedAt = a.CreatedAt.UTC()
		if err := fn(&a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SumDBConfig implements [store.SumDBState].
func (s *Store) SumDBConfig(ctx context.Context, key string) (_ []byte, err error) {
	defer wrap(&err, "postgres: sumdb config %s", key)
	var v []byte
	err = s.pool.QueryRow(ctx, `SELECT value FROM sumdb_config WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if v == nil {
		v = []byte{}
	}
	return v, err
}

// SwapSumDBConfig implements [store.SumDBState]: the row is locked for the
// compare, so replicas swapping at once serialise and all but one conflict.
func (s *Store) SwapSumDBConfig(ctx context.Context, key string, old, new []byte) (err error) {
	defer wrap(&err, "postgres: swap sumdb config %s", key)
	if new == nil {
		new = []byte{}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Take the key's lock first so that two first writers of an absent key
		// serialise too.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, AdvisoryKey("sumdb_config "+key)); err != nil {
			return err
		}
		var cur []byte
		err := tx.QueryRow(ctx, `SELECT value FROM sumdb_config WHERE key = $1`, key).Scan(&cur)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if !bytes.Equal(cur, old) {
			return store.ErrConflict
		}
		_, err = tx.Exec(ctx,
			`INSERT INTO sumdb_config (key, value, updated_at) VALUES ($1, $2, $3)
			 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			key, new, normTime(s.now()))
		return err
	})
}

// SumDBFork implements [store.SumDBState].
func (s *Store) SumDBFork(ctx context.Context, db string) (_ *store.SumDBFork, err error) {
	defer wrap(&err, "postgres: sumdb fork %s", db)
	return scanFork(s.pool.QueryRow(ctx, `SELECT db, detail, detected_at FROM sumdb_forks WHERE db = $1`, db))
}

func scanFork(row pgx.Row) (*store.SumDBFork, error) {
	var f store.SumDBFork
	err := row.Scan(&f.DB, &f.Detail, &f.DetectedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	f.DetectedAt = f.DetectedAt.UTC()
	return &f, nil
}

// PutSumDBFork implements [store.SumDBState].
func (s *Store) PutSumDBFork(ctx context.Context, f *store.SumDBFork) (_ *store.SumDBFork, err error) {
	defer wrap(&err, "postgres: put sumdb fork %s", f.DB)
	if f.DB == "" {
		return nil, errors.New("empty checksum database name")
	}
	at := f.DetectedAt
	if at.IsZero() {
		at = s.now()
	}
	if _, err := s.pool.Exec(ctx,
		`INSERT INTO sumdb_forks (db, detail, detected_at) VALUES ($1, $2, $3) ON CONFLICT (db) DO NOTHING`,
		f.DB, f.Detail, normTime(at)); err != nil {
		return nil, err
	}
	return s.SumDBFork(ctx, f.DB)
}

// ClearSumDBFork implements [store.SumDBState].
func (s *Store) ClearSumDBFork(ctx context.Context, db string) (_ *store.SumDBFork, err error) {
	defer wrap(&err, "postgres: clear sumdb fork %s", db)
	return scanFork(s.pool.QueryRow(ctx, `DELETE FROM sumdb_forks WHERE db = $1 RETURNING db, detail, detected_at`, db))
}
