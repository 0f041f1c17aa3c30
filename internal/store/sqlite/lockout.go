package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// AuthFailure implements [store.AuthFailures].
func (s *Store) AuthFailure(ctx context.Context, key string) (_ store.AuthFailure, err error) {
	defer wrap(&err, "sqlite: auth failures")
	f, err := scanAuthFailure(key, s.read.QueryRowContext(ctx,
		`SELECT count, last_failure, locked_until FROM auth_failures WHERE key = ?`, key))
	if errors.Is(err, errNoFailure) {
		return f, nil
	}
	return f, err
}

// AddAuthFailure implements [store.AuthFailures]. The count and the lockout
// are two statements, so no transaction holds the one writer for long; the
// lockout only ever grows, so concurrent failures need no more.
func (s *Store) AddAuthFailure(ctx context.Context, key string, now, restart time.Time, lock func(int) time.Duration) (_ store.AuthFailure, counted bool, err error) {
	defer wrap(&err, "sqlite: count an auth failure")
	ts := normTime(now).Format(timeFormat)
	f, err := scanAuthFailure(key, s.write.QueryRowContext(ctx,
		`INSERT INTO auth_failures (key, count, last_failure) VALUES (?1, 1, ?2)
		 ON CONFLICT (key) DO UPDATE SET
		     count = CASE WHEN auth_failures.last_failure < ?3 THEN 1 ELSE auth_failures.count + 1 END,
		     last_failure = max(auth_failures.last_failure, excluded.last_failure)
		 WHERE auth_failures.locked_until IS NULL OR auth_failures.locked_until <= ?2
		 RETURNING count, last_failure, locked_until`,
		key, ts, normTime(restart).Format(timeFormat)))
	if errors.Is(err, errNoFailure) {
		// Locked out: nothing was counted.
		f, err = s.AuthFailure(ctx, key)
		return f, false, err
	}
	if err != nil {
		return f, false, err
	}
	d := lock(f.Count)
	if d <= 0 {
		return f, true, nil
	}
	until := normTime(now.Add(d)).Format(timeFormat)
	f, err = scanAuthFailure(key, s.write.QueryRowContext(ctx,
		`UPDATE auth_failures
		 SET locked_until = CASE WHEN locked_until IS NULL OR locked_until < ?1 THEN ?1 ELSE locked_until END
		 WHERE key = ?2
		 RETURNING count, last_failure, locked_until`, until, key))
	return f, true, err
}

// PruneAuthFailures implements [store.AuthFailures].
func (s *Store) PruneAuthFailures(ctx context.Context, before time.Time) (_ int64, err error) {
	defer wrap(&err, "sqlite: prune auth failures")
	ts := normTime(before).Format(timeFormat)
	res, err := s.write.ExecContext(ctx,
		`DELETE FROM auth_failures WHERE last_failure < ?1 AND (locked_until IS NULL OR locked_until < ?1)`, ts)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// errNoFailure is scanAuthFailure's answer for no row.
var errNoFailure = errors.New("no auth failure row")

// scanAuthFailure scans count, last_failure, locked_until; no row is
// errNoFailure with AuthFailure{Key: key}.
func scanAuthFailure(key string, row *sql.Row) (store.AuthFailure, error) {
	f := store.AuthFailure{Key: key}
	var last string
	var locked sql.NullString
	err := row.Scan(&f.Count, &last, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return f, errNoFailure
	}
	if err != nil {
		return f, err
	}
	if f.Last, err = parseTime(last); err != nil {
		return f, err
	}
	if locked.Valid {
		if f.LockedUntil, err = parseTime(locked.String); err != nil {
			return f, err
		}
	}
	return f, nil
}
