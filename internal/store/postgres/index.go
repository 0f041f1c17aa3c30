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

// PutIndexPage implements [store.ModuleIndex]: the page goes in as arrays in
// two statements (the entries, then the facts they date).
func (s *Store) PutIndexPage(ctx context.Context, entries []store.IndexEntry, st store.IndexState) (err error) {
	defer wrap(&err, "postgres: store a module index page")
	// One row per version (ON CONFLICT may not touch a row twice), the
	// earliest Timestamp.
	at := map[module.Version]int{}
	var paths, versions []string
	var stamps []time.Time
	for _, e := range entries {
		ts := normTime(e.Timestamp)
		if i, ok := at[e.Module]; ok {
			if ts.Before(stamps[i]) {
				stamps[i] = ts
			}
			continue
		}
		at[e.Module] = len(paths)
		paths, versions, stamps = append(paths, e.Module.Path), append(versions, e.Module.Version), append(stamps, ts)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if len(paths) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO module_index AS i (module_path, version, ts)
			SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
			ON CONFLICT (module_path, version) DO UPDATE SET ts = excluded.ts WHERE excluded.ts < i.ts`,
			paths, versions, stamps); err != nil {
			return err
		}
		// The facts of a stored version take the index's time unless they
		// hold a trusted time that is earlier (store.BetterPublished).
		if _, err := tx.Exec(ctx, `UPDATE version_facts AS f SET published_at = e.ts, published_source = $4
			FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS e(p, v, ts)
			WHERE f.module_path = e.p AND f.version = e.v
			AND (f.published_at IS NULL OR f.published_source NOT IN ($4, $5, $6) OR f.published_at > e.ts)`,
			paths, versions, stamps, store.PublishedIndex, store.PublishedUpstream, store.PublishedSumDB); err != nil {
			return err
		}
	}
	if err := putIndexState(ctx, tx, st); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// PutIndexState implements [store.ModuleIndex].
func (s *Store) PutIndexState(ctx context.Context, st store.IndexState) (err error) {
	defer wrap(&err, "postgres: save the module index state")
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := putIndexState(ctx, tx, st); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func putIndexState(ctx context.Context, tx pgx.Tx, st store.IndexState) error {
	_, err := tx.Exec(ctx, `INSERT INTO module_index_state
		(id, source, since, entries, read_at, caught_up, attempted_at, last_error) VALUES (1, $1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET source = excluded.source, since = excluded.since, entries = excluded.entries,
		read_at = excluded.read_at, caught_up = excluded.caught_up, attempted_at = excluded.attempted_at,
		last_error = excluded.last_error`,
		st.Source, nullTime(st.Since), st.Entries, nullTime(st.ReadAt), st.CaughtUp, nullTime(st.AttemptedAt), st.LastError)
	return err
}

// IndexState implements [store.ModuleIndex].
func (s *Store) IndexState(ctx context.Context) (_ store.IndexState, err error) {
	defer wrap(&err, "postgres: module index state")
	var st store.IndexState
	var since, readAt, attempted *time.Time
	err = s.pool.QueryRow(ctx, `SELECT source, since, entries, read_at, caught_up, attempted_at, last_error
		FROM module_index_state WHERE id = 1`).Scan(&st.Source, &since, &st.Entries, &readAt, &st.CaughtUp, &attempted, &st.LastError)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.IndexState{}, nil
	}
	if err != nil {
		return st, err
	}
	st.Since, st.ReadAt, st.AttemptedAt = fromNullTime(since), fromNullTime(readAt), fromNullTime(attempted)
	return st, nil
}

// IndexTime implements [store.ModuleIndex].
func (s *Store) IndexTime(ctx context.Context, m module.Version) (_ time.Time, err error) {
	defer wrap(&err, "postgres: module index %s", m)
	var ts time.Time
	err = s.pool.QueryRow(ctx, `SELECT ts FROM module_index WHERE module_path = $1 AND version = $2`,
		m.Path, m.Version).Scan(&ts)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, fs.ErrNotExist
	}
	if err != nil {
		return time.Time{}, err
	}
	return ts.UTC(), nil
}

// FixedBy implements [store.ModuleIndex].
func (s *Store) FixedBy(ctx context.Context, m module.Version) (_ []store.Finding, err error) {
	defer wrap(&err, "postgres: findings fixed by %s", m)
	rows, err := s.pool.Query(ctx, `SELECT fd.version, fd.vuln_id, fd.learnt_at, fd.at_ingest FROM vuln_findings fd
		WHERE fd.module_path = $1 AND fd.via_path = '' AND fd.fixed = $2 AND fd.version <> $2
		AND NOT EXISTS (SELECT 1 FROM vuln_entries e WHERE e.id = fd.vuln_id AND e.withdrawn IS NOT NULL)`,
		m.Path, m.Version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Finding
	for rows.Next() {
		f := store.Finding{Module: module.Version{Path: m.Path}, Fixed: m.Version}
		if err := rows.Scan(&f.Module.Version, &f.VulnID, &f.LearntAt, &f.AtIngest); err != nil {
			return nil, err
		}
		f.LearntAt = f.LearntAt.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}
