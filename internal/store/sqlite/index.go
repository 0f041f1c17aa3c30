package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// PutIndexPage implements [store.ModuleIndex].
func (s *Store) PutIndexPage(ctx context.Context, entries []store.IndexEntry, st store.IndexState) (err error) {
	defer wrap(&err, "sqlite: store a module index page")
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if len(entries) > 0 {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO module_index (module_path, version, ts) VALUES (?1, ?2, ?3)
			ON CONFLICT (module_path, version) DO UPDATE SET ts = excluded.ts WHERE excluded.ts < module_index.ts`)
		if err != nil {
			return err
		}
		defer ins.Close()
		// The facts of a stored version take the index's time unless they
		// hold a trusted time that is earlier (store.BetterPublished).
		upd, err := tx.PrepareContext(ctx, `UPDATE version_facts SET published_at = ?3, published_source = ?4
			WHERE module_path = ?1 AND version = ?2
			AND (published_at IS NULL OR published_source NOT IN (?4, ?5, ?6) OR published_at > ?3)`)
		if err != nil {
			return err
		}
		defer upd.Close()
		for _, e := range entries {
			ts := normTime(e.Timestamp).Format(timeFormat)
			if _, err := ins.ExecContext(ctx, e.Module.Path, e.Module.Version, ts); err != nil {
				return err
			}
			if _, err := upd.ExecContext(ctx, e.Module.Path, e.Module.Version, ts, store.PublishedIndex, store.PublishedUpstream, store.PublishedSumDB); err != nil {
				return err
			}
		}
	}
	if err := putIndexState(ctx, tx, st); err != nil {
		return err
	}
	return tx.Commit()
}

// PutIndexState implements [store.ModuleIndex].
func (s *Store) PutIndexState(ctx context.Context, st store.IndexState) (err error) {
	defer wrap(&err, "sqlite: save the module index state")
	return putIndexState(ctx, s.write, st)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func putIndexState(ctx context.Context, db execer, st store.IndexState) error {
	_, err := db.ExecContext(ctx, `INSERT INTO module_index_state
		(id, source, since, entries, read_at, caught_up, attempted_at, last_error) VALUES (1, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET source = excluded.source, since = excluded.since, entries = excluded.entries,
		read_at = excluded.read_at, caught_up = excluded.caught_up, attempted_at = excluded.attempted_at,
		last_error = excluded.last_error`,
		st.Source, fmtNullTime(st.Since), st.Entries, fmtNullTime(st.ReadAt), boolInt(st.CaughtUp),
		fmtNullTime(st.AttemptedAt), st.LastError)
	return err
}

// IndexState implements [store.ModuleIndex].
func (s *Store) IndexState(ctx context.Context) (_ store.IndexState, err error) {
	defer wrap(&err, "sqlite: module index state")
	var st store.IndexState
	var since, readAt, attempted sql.NullString
	var caughtUp int
	err = s.read.QueryRowContext(ctx, `SELECT source, since, entries, read_at, caught_up, attempted_at, last_error
		FROM module_index_state WHERE id = 1`).Scan(&st.Source, &since, &st.Entries, &readAt, &caughtUp, &attempted, &st.LastError)
	if errors.Is(err, sql.ErrNoRows) {
		return store.IndexState{}, nil
	}
	if err != nil {
		return st, err
	}
	st.CaughtUp = caughtUp != 0
	for _, p := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&st.Since, since}, {&st.ReadAt, readAt}, {&st.AttemptedAt, attempted}} {
		if *p.dst, err = parseNullTime(p.src); err != nil {
			return st, err
		}
	}
	return st, nil
}

// IndexTime implements [store.ModuleIndex].
func (s *Store) IndexTime(ctx context.Context, m module.Version) (_ time.Time, err error) {
	defer wrap(&err, "sqlite: module index %s", m)
	var ts string
	err = s.read.QueryRowContext(ctx, `SELECT ts FROM module_index WHERE module_path = ? AND version = ?`,
		m.Path, m.Version).Scan(&ts)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fs.ErrNotExist
	}
	if err != nil {
		return time.Time{}, err
	}
	return parseTime(ts)
}

// FixedBy implements [store.ModuleIndex].
func (s *Store) FixedBy(ctx context.Context, m module.Version) (_ []store.Finding, err error) {
	defer wrap(&err, "sqlite: findings fixed by %s", m)
	rows, err := s.read.QueryContext(ctx, `SELECT fd.version, fd.vuln_id, fd.learnt_at, fd.at_ingest FROM vuln_findings fd
		WHERE fd.module_path = ? AND fd.via_path = '' AND fd.fixed = ? AND fd.version <> ?
		AND NOT EXISTS (SELECT 1 FROM vuln_entries e WHERE e.id = fd.vuln_id AND e.withdrawn IS NOT NULL)`,
		m.Path, m.Version, m.Version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Finding
	for rows.Next() {
		f := store.Finding{Module: module.Version{Path: m.Path}, Fixed: m.Version}
		var learnt string
		var atIngest int
		if err := rows.Scan(&f.Module.Version, &f.VulnID, &learnt, &atIngest); err != nil {
			return nil, err
		}
		if f.LearntAt, err = parseTime(learnt); err != nil {
			return nil, err
		}
		f.AtIngest = atIngest != 0
		out = append(out, f)
	}
	return out, rows.Err()
}
