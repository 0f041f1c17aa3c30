package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modgate/modgate/internal/store"
)

// AuthFailure implements [store.AuthFailures].
func (s *Store) AuthFailure(ctx context.Context, key string) (_ store.AuthFailure, err error) {
	defer wrap(&err, "postgres: auth failures")
	f, err := scanAuthFailure(key, s.pool.QueryRow(ctx,
		`SELECT count, last_failure, locked_until FROM auth_failures WHERE key = $1`, key))
	if errors.Is(err, errNoFailure) {
		return f, nil
	}
	return f, err
}

// AddAuthFailure implements [store.AuthFailures]. The count and the lockout
// are two statements, each atomic, and no transaction: the lockout only ever
// grows, so failures counted at once on several replicas need no more.
func (s *Store) AddAuthFailure(ctx context.Context, key string, now, restart time.Time, lock func(int) time.Duration) (_ store.AuthFailure, counted bool, err error) {
	defer wrap(&err, "postgres: count an auth failure")
	f, err := scanAuthFailure(key, s.pool.QueryRow(ctx,
		`INSERT INTO auth_failures AS f (key, count, last_failure) VALUES ($1, 1, $2)
		 ON CONFLICT (key) DO UPDATE SET
		     count = CASE WHEN f.last_failure < $3 THEN 1 ELSE f.count + 1 END,
		     last_failure = GREATEST(f.last_failure, excluded.last_failure)
		 WHERE f.locked_until IS NULL OR f.locked_until <= $2
		 RETURNING count, last_failure, locked_until`,
		key, normTime(now), normTime(restart)))
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
	f, err = scanAuthFailure(key, s.pool.QueryRow(ctx,
		`UPDATE auth_failures
		 SET locked_until = GREATEST(locked_until, $1)
		 WHERE key = $2
		 RETURNING count, last_failure, locked_until`, normTime(now.Add(d)), key))
	return f, true, err
}

// PruneAuthFailures implements [store.AuthFailures].
func (s *Store) PruneAuthFailures(ctx context.Context, before time.Time) (_ int64, err error) {
	defer wrap(&err, "postgres: prune auth failures")
	tag, err := s.pool.Exec(ctx,
		`DELETE FROM auth_failures WHERE last_failure < $1 AND (locked_until IS NULL OR locked_until < $1)`, normTime(before))
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// errNoFailure is scanAuthFailure's answer for no row.
var errNoFailure = errors.New("no auth failure row")

// scanAuthFailure scans count, last_failure, locked_until; no row is
// errNoFailure with AuthFailure{Key: key}.
func scanAuthFailure(key string, row pgx.Row) (store.AuthFailure, error) {
	f := store.AuthFailure{Key: key}
	var locked *time.Time
	err := row.Scan(&f.Count, &f.Last, &locked)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, errNoFailure
	}
	if err != nil {
		return f, err
	}
	f.Last = f.Last.UTC()
	f.LockedUntil = fromNullTime(locked)
	return f, nil
}
