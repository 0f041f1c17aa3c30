package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

const upstreamColumns = `module_path, version, source, origin_vcs, origin_url, origin_hash, origin_ref, origin_at,
	moved_vcs, moved_url, moved_hash, moved_ref, moved_at, checked_at, last_status, last_error, failures,
	withdrawn_at, withdrawn_status, returned_at`

type rowScanner interface {
	Scan(dest ...any) error
}

func scanUpstream(r rowScanner) (*store.UpstreamState, error) {
	var u store.UpstreamState
	var originAt, movedAt, checkedAt, withdrawnAt, returnedAt sql.NullString
	err := r.Scan(&u.Module.Path, &u.Module.Version, &u.Source,
		&u.Origin.VCS, &u.Origin.URL, &u.Origin.Hash, &u.Origin.Ref, &originAt,
		&u.Moved.VCS, &u.Moved.URL, &u.Moved.Hash, &u.Moved.Ref, &movedAt,
		&checkedAt, &u.LastStatus, &u.LastError, &u.Failures, &withdrawnAt, &u.WithdrawnStatus, &returnedAt)
	if err != nil {
		return nil, err
	}
	if u.OriginAt, err = parseNullTime(originAt); err != nil {
		return nil, err
	}
	if u.MovedAt, err = parseNullTime(movedAt); err != nil {
		return nil, err
	}
	if u.CheckedAt, err = parseNullTime(checkedAt); err != nil {
		return nil, err
	}
	if u.WithdrawnAt, err = parseNullTime(withdrawnAt); err != nil {
		return nil, err
	}
	if u.ReturnedAt, err = parseNullTime(returnedAt); err != nil {
		return nil, err
	}
	return &u, nil
}

// UpstreamState implements [store.Upstreams].
func (s *Store) UpstreamState(ctx context.Context, m module.Version) (_ *store.UpstreamState, err error) {
	defer wrap(&err, "sqlite: upstream state of %s", m)
	u, err := scanUpstream(s.read.QueryRowContext(ctx, `SELECT `+upstreamColumns+` FROM version_upstream
		WHERE module_path = ? AND version = ?`, m.Path, m.Version))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	return u, err
}

// UpdateUpstream implements [store.Upstreams]: the one write connection
// serialises the read and the write.
func (s *Store) UpdateUpstream(ctx context.Context, m module.Version, fn func(*store.UpstreamState) (*store.UpstreamState, error)) (_ *store.UpstreamState, err error) {
	defer wrap(&err, "sqlite: update upstream state of %s", m)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	cur, err := scanUpstream(tx.QueryRowContext(ctx, `SELECT `+upstreamColumns+` FROM version_upstream
		WHERE module_path = ? AND version = ?`, m.Path, m.Version))
	if errors.Is(err, sql.ErrNoRows) {
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
	_, err = tx.ExecContext(ctx, `INSERT INTO version_upstream (`+upstreamColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (module_path, version) DO UPDATE SET source = excluded.source,
		origin_vcs = excluded.origin_vcs, origin_url = excluded.origin_url, origin_hash = excluded.origin_hash,
		origin_ref = excluded.origin_ref, origin_at = excluded.origin_at,
		moved_vcs = excluded.moved_vcs, moved_url = excluded.moved_url, moved_hash = excluded.moved_hash,
		moved_ref = excluded.moved_ref, moved_at = excluded.moved_at,
		checked_at = excluded.checked_at, last_status = excluded.last_status, last_error = excluded.last_error,
		failures = excluded.failures, withdrawn_at = excluded.withdrawn_at, withdrawn_status = excluded.withdrawn_status,
		returned_at = excluded.returned_at`,
		m.Path, m.Version, u.Source, u.Origin.VCS, u.Origin.URL, u.Origin.Hash, u.Origin.Ref, fmtNullTime(u.OriginAt),
		u.Moved.VCS, u.Moved.URL, u.Moved.Hash, u.Moved.Ref, fmtNullTime(u.MovedAt),
		fmtNullTime(u.CheckedAt), u.LastStatus, u.LastError, u.Failures,
		fmtNullTime(u.WithdrawnAt), u.WithdrawnStatus, fmtNullTime(u.ReturnedAt))
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	store.NormUpstreamTimes(&u)
	return &u, nil
}

// UpstreamStates implements [store.Upstreams].
func (s *Store) UpstreamStates(ctx context.Context, after module.Version, limit int) (_ []store.UpstreamState, err error) {
	defer wrap(&err, "sqlite: upstream states")
	rows, err := s.read.QueryContext(ctx, `SELECT `+upstreamColumns+` FROM version_upstream
		WHERE (module_path, version) > (?, ?) ORDER BY module_path, version LIMIT ?`, after.Path, after.Version, limit)
	if err != nil {
		return nil, err
	}
	return scanUpstreams(rows)
}

// UpstreamFindings implements [store.Upstreams].
func (s *Store) UpstreamFindings(ctx context.Context, limit int) (_ []store.UpstreamState, err error) {
	defer wrap(&err, "sqlite: upstream findings")
	rows, err := s.read.QueryContext(ctx, `SELECT `+upstreamColumns+` FROM version_upstream
		WHERE withdrawn_at IS NOT NULL OR returned_at IS NOT NULL OR moved_at IS NOT NULL
		ORDER BY max(coalesce(withdrawn_at, ''), coalesce(returned_at, ''), coalesce(moved_at, '')) DESC,
		module_path, version LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	return scanUpstreams(rows)
}

func scanUpstreams(rows *sql.Rows) ([]store.UpstreamState, error) {
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
