package postgres

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

const upstreamColumns = `module_path, version, source, origin_vcs, origin_url, origin_hash, origin_ref, origin_at,
	moved_vcs, moved_url, moved_hash, moved_ref, moved_at, checked_at, last_status, last_error, failures,
	withdrawn_at, withdrawn_status, returned_at`

func scanUpstream(r pgx.Row) (*store.UpstreamState, error) {
	var u store.UpstreamState
	var originAt, movedAt, checkedAt, withdrawnAt, returnedAt *time.Time
	err := r.Scan(&u.Module.Path, &u.Module.Version, &u.Source,
		&u.Origin.VCS, &u.Origin.URL, &u.Origin.Hash, &u.Origin.Ref, &originAt,
		&u.Moved.VCS, &u.Moved.URL, &u.Moved.Hash, &u.Moved.Ref, &movedAt,
		&checkedAt, &u.LastStatus, &u.LastError, &u.Failures, &withdrawnAt, &u.WithdrawnStatus, &returnedAt)
	if err != nil {
		return nil, err
	}
	u.OriginAt, u.MovedAt, u.CheckedAt = fromNullTime(originAt), fromNullTime(movedAt), fromNullTime(checkedAt)
	u.WithdrawnAt, u.ReturnedAt = fromNullTime(withdrawnAt), fromNullTime(returnedAt)
	return &u, nil
}

// UpstreamState implements [store.Upstreams].
func (s *Store) UpstreamState(ctx context.Context, m module.Version) (_ *store.UpstreamState, err error) {
	defer wrap(&err, "postgres: upstream state of %s", m)
	u, err := scanUpstream(s.pool.QueryRow(ctx, `SELECT `+upstreamColumns+` FROM version_upstream
		WHERE module_path = $1 AND version = $2`, m.Path, m.Version))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	return u, err
}

// UpdateUpstream implements [store.Upstreams]: the row is created if
// missing and locked (FOR UPDATE) while fn decides, so replicas serialise.
func (s *Store) UpdateUpstream(ctx context.Context, m module.Version, fn func(*store.UpstreamState) (*store.UpstreamState, error)) (_ *store.UpstreamState, err error) {
	defer wrap(&err, "postgres: update upstream state of %s", m)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	// Serialise on the version even when no row exists yet.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('version_upstream ' || $1 || '@' || $2, 0))`,
		m.Path, m.Version); err != nil {
		return nil, err
	}
	cur, err := scanUpstream(tx.QueryRow(ctx, `SELECT `+upstreamColumns+` FROM version_upstream
		WHERE module_path = $1 AND version = $2`, m.Path, m.Version))
	if errors.Is(err, pgx.ErrNoRows) {
		cur, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	next, err := fn(cur)
	if err != nil || next == nil {
		return cur, err
	}
	u := *next
	u.Module = m
	_, err = tx.Exec(ctx, `INSERT INTO version_upstream (`+upstreamColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
		ON CONFLICT (module_path, version) DO UPDATE SET source = excluded.source,
		origin_vcs = excluded.origin_vcs, origin_url = excluded.origin_url, origin_hash = excluded.origin_hash,
		origin_ref = excluded.origin_ref, origin_at = excluded.origin_at,
		moved_vcs = excluded.moved_vcs, moved_url = excluded.moved_url, moved_hash = excluded.moved_hash,
		moved_ref = excluded.moved_ref, moved_at = excluded.moved_at,
		checked_at = excluded.checked_at, last_status = excluded.last_status, last_error = excluded.last_error,
		failures = excluded.failures, withdrawn_at = excluded.withdrawn_at, withdrawn_status = excluded.withdrawn_status,
		returned_at = excluded.returned_at`,
		m.Path, m.Version, u.Source, u.Origin.VCS, u.Origin.URL, u.Origin.Hash, u.Origin.Ref, nullTime(u.OriginAt),
		u.Moved.VCS, u.Moved.URL, u.Moved.Hash, u.Moved.Ref, nullTime(u.MovedAt),
		nullTime(u.CheckedAt), u.LastStatus, u.LastError, u.Failures,
		nullTime(u.WithdrawnAt), u.WithdrawnStatus, nullTime(u.ReturnedAt))
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	store.NormUpstreamTimes(&u)
	return &u, nil
}

// UpstreamStates implements [store.Upstreams].
func (s *Store) UpstreamStates(ctx context.Context, after module.Version, limit int) (_ []store.UpstreamState, err error) {
	defer wrap(&err, "postgres: upstream states")
	rows, err := s.pool.Query(ctx, `SELECT `+upstreamColumns+` FROM version_upstream
		WHERE (module_path, version) > ($1, $2) ORDER BY module_path, version LIMIT $3`, after.Path, after.Version, limit)
	if err != nil {
		return nil, err
	}
	return scanUpstreams(rows)
}

// UpstreamFindings implements [store.Upstreams].
func (s *Store) UpstreamFindings(ctx context.Context, limit int) (_ []store.UpstreamState, err error) {
	defer wrap(&err, "postgres: upstream findings")
	rows, err := s.pool.Query(ctx, `SELECT `+upstreamColumns+` FROM version_upstream
		WHERE withdrawn_at IS NOT NULL OR returned_at IS NOT NULL OR moved_at IS NOT NULL
		ORDER BY greatest(withdrawn_at, returned_at, moved_at) DESC, module_path, version LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return scanUpstreams(rows)
}

func scanUpstreams(rows pgx.Rows) ([]store.UpstreamState, error) {
	defer rows.Close()
	var out []store.UpstreamState
	for rows.Next() {
		u, err := scanUpstream(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *u)
	}
	return out, rows.Err()
}
