package postgres

import (
	"context"
	"errors"
	"io/fs"

	"github.com/jackc/pgx/v5"

	"github.com/modgate/modgate/internal/store"
)

// PutTreeSize implements [store.TreeSizes]. Replicas recording at once may
// both add rows or replace one another's; every row is still a size some
// replica saw at its time, so records are never dated earlier than true.
func (s *Store) PutTreeSize(ctx context.Context, ts store.TreeSize) (err error) {
	defer wrap(&err, "postgres: record tree size %d of %s", ts.Size, ts.DB)
	if ts.DB == "" || ts.Size <= 0 {
		return errors.New("empty checksum database name or tree size")
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `SELECT size, seen FROM sumdb_tree_sizes WHERE db = $1 ORDER BY size DESC LIMIT 2`, ts.DB)
	if err != nil {
		return err
	}
	var newest []store.TreeSize
	for rows.Next() {
		var r store.TreeSize
		if err := rows.Scan(&r.Size, &r.Seen); err != nil {
			rows.Close()
			return err
		}
		newest = append(newest, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	switch {
	case len(newest) > 0 && newest[0].Size >= ts.Size:
		return nil
	case len(newest) == 2 && ts.Seen.Sub(newest[1].Seen) < store.TreeSizeSpacing:
		_, err = tx.Exec(ctx, `UPDATE sumdb_tree_sizes SET size = $1, seen = $2 WHERE db = $3 AND size = $4`,
			ts.Size, normTime(ts.Seen), ts.DB, newest[0].Size)
	default:
		_, err = tx.Exec(ctx, `INSERT INTO sumdb_tree_sizes (db, size, seen) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			ts.DB, ts.Size, normTime(ts.Seen))
	}
	if err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// TreeSizeCovering implements [store.TreeSizes].
func (s *Store) TreeSizeCovering(ctx context.Context, db string, index int64) (_ store.TreeSize, err error) {
	defer wrap(&err, "postgres: tree size of %s above %d", db, index)
	ts := store.TreeSize{DB: db}
	err = s.pool.QueryRow(ctx, `SELECT size, seen FROM sumdb_tree_sizes WHERE db = $1 AND size > $2 ORDER BY size LIMIT 1`,
		db, index).Scan(&ts.Size, &ts.Seen)
	if errors.Is(err, pgx.ErrNoRows) {
		return ts, fs.ErrNotExist
	}
	ts.Seen = ts.Seen.UTC()
	return ts, err
}
