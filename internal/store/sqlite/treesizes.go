package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"

	"github.com/modgate/modgate/internal/store"
)

// PutTreeSize implements [store.TreeSizes]. The write connection is the only
// writer, so the read and the write inside one transaction are atomic.
func (s *Store) PutTreeSize(ctx context.Context, ts store.TreeSize) (err error) {
	defer wrap(&err, "sqlite: record tree size %d of %s", ts.Size, ts.DB)
	if ts.DB == "" || ts.Size <= 0 {
		return errors.New("empty checksum database name or tree size")
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT size, seen FROM sumdb_tree_sizes WHERE db = ? ORDER BY size DESC LIMIT 2`, ts.DB)
	if err != nil {
		return err
	}
	var newest []store.TreeSize
	for rows.Next() {
		var r store.TreeSize
		var seen string
		if err := rows.Scan(&r.Size, &seen); err != nil {
			rows.Close()
			return err
		}
		if r.Seen, err = parseTime(seen); err != nil {
			rows.Close()
			return err
		}
		newest = append(newest, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	seen := normTime(ts.Seen).Format(timeFormat)
	switch {
	case len(newest) > 0 && newest[0].Size >= ts.Size:
		return nil
	case len(newest) == 2 && ts.Seen.Sub(newest[1].Seen) < store.TreeSizeSpacing:
		_, err = tx.ExecContext(ctx, `UPDATE sumdb_tree_sizes SET size = ?, seen = ? WHERE db = ? AND size = ?`,
			ts.Size, seen, ts.DB, newest[0].Size)
	default:
		_, err = tx.ExecContext(ctx, `INSERT INTO sumdb_tree_sizes (db, size, seen) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			ts.DB, ts.Size, seen)
	}
	if err != nil {
		return err
	}
	return tx.Commit()
}

// TreeSizeCovering implements [store.TreeSizes].
func (s *Store) TreeSizeCovering(ctx context.Context, db string, index int64) (_ store.TreeSize, err error) {
	defer wrap(&err, "sqlite: tree size of %s above %d", db, index)
	ts := store.TreeSize{DB: db}
	var seen string
	err = s.read.QueryRowContext(ctx, `SELECT size, seen FROM sumdb_tree_sizes WHERE db = ? AND size > ? ORDER BY size LIMIT 1`,
		db, index).Scan(&ts.Size, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return ts, fs.ErrNotExist
	}
	if err != nil {
		return ts, err
	}
	ts.Seen, err = parseTime(seen)
	return ts, err
}
