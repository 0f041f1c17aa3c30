package postgres

import (
	"context"
	"encoding/json"
	"io/fs"
	"strings"
	"time"

	"github.com/modgate/modgate/internal/store"
)

var _ store.Advisories = (*Store)(nil)

const advisoryCols = `e.id, e.modified, e.published, e.withdrawn, e.aliases::text, e.summary, 'REVIEWED', e.modules::text`

// AdvisoryEntries implements [store.Advisories].
func (s *Store) AdvisoryEntries(ctx context.Context, source string) (_ []store.VulnEntry, err error) {
	defer wrap(&err, "postgres: advisory entries of %s", source)
	return s.queryEntries(ctx, false, `SELECT `+advisoryCols+` FROM advisory_entries e WHERE e.source = $1 ORDER BY e.id COLLATE "C"`, source)
}

// AdvisoryEntriesFor implements [store.Advisories].
func (s *Store) AdvisoryEntriesFor(ctx context.Context, keys ...string) (_ []store.VulnEntry, err error) {
	defer wrap(&err, "postgres: advisory entries for %s", strings.Join(keys, " "))
	if len(keys) == 0 {
		return nil, nil
	}
	return s.queryEntries(ctx, true, `SELECT `+advisoryCols+`, e.json FROM advisory_entries e
		WHERE e.id IN (SELECT m.advisory_id FROM advisory_modules m WHERE m.module_key = ANY($1::text[]))
		ORDER BY e.id COLLATE "C"`, keys)
}

// AdvisoryStampsFor implements [store.Advisories].
func (s *Store) AdvisoryStampsFor(ctx context.Context, keys ...string) (_ []store.VulnStamp, err error) {
	defer wrap(&err, "postgres: advisory stamps for %s", strings.Join(keys, " "))
	if len(keys) == 0 {
		return nil, nil
	}
	return s.queryStamps(ctx, `SELECT e.id, e.modified FROM advisory_entries e
		WHERE e.id IN (SELECT m.advisory_id FROM advisory_modules m WHERE m.module_key = ANY($1::text[]))
		ORDER BY e.id COLLATE "C"`, keys)
}

// AdvisoryEntry implements [store.Advisories].
func (s *Store) AdvisoryEntry(ctx context.Context, id string) (_ *store.VulnEntry, err error) {
	defer wrap(&err, "postgres: advisory entry %s", id)
	es, err := s.queryEntries(ctx, true, `SELECT `+advisoryCols+`, e.json FROM advisory_entries e WHERE e.id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, fs.ErrNotExist
	}
	return &es[0], nil
}

// ApplyAdvisorySync implements [store.Advisories].
func (s *Store) ApplyAdvisorySync(ctx context.Context, as *store.AdvisorySync) (err error) {
	defer wrap(&err, "postgres: apply advisory sync of %s", as.Source)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, id := range as.Delete {
		tag, err := tx.Exec(ctx, `DELETE FROM advisory_entries WHERE id = $1 AND source = $2`, id, as.Source)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM advisory_modules WHERE advisory_id = $1`, id); err != nil {
				return err
			}
		}
	}
	for i, e := range as.Put {
		tag, err := tx.Exec(ctx, `INSERT INTO advisory_entries
			(id, source, modified, published, withdrawn, aliases, summary, modules, json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, published = excluded.published,
			withdrawn = excluded.withdrawn, aliases = excluded.aliases, summary = excluded.summary,
			modules = excluded.modules, json = excluded.json WHERE advisory_entries.source = excluded.source`,
			e.ID, as.Source, normTime(e.Modified), nullTime(e.Published), nullTime(e.Withdrawn), jsonArray(e.Aliases),
			e.Summary, jsonArray(e.Modules), nonNil(e.JSON))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			continue // another feed's record
		}
		if _, err := tx.Exec(ctx, `DELETE FROM advisory_modules WHERE advisory_id = $1`, e.ID); err != nil {
			return err
		}
		if i < len(as.Keys) {
			for _, k := range as.Keys[i] {
				if _, err := tx.Exec(ctx, `INSERT INTO advisory_modules (module_key, advisory_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, k, e.ID); err != nil {
					return err
				}
			}
		}
	}
	st := as.State
	if _, err := tx.Exec(ctx, `INSERT INTO advisory_state (source, synced_at, attempted_at, last_error, refused)
		VALUES ($1, $2, $3, '', $4)
		ON CONFLICT (source) DO UPDATE SET synced_at = excluded.synced_at, attempted_at = excluded.attempted_at,
		last_error = '', refused = excluded.refused`,
		as.Source, nullTime(st.SyncedAt), nullTime(st.AttemptedAt), jsonArray(st.Refused)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// AdvisoryStates implements [store.Advisories].
func (s *Store) AdvisoryStates(ctx context.Context) (_ []store.AdvisoryState, err error) {
	defer wrap(&err, "postgres: advisory states")
	rows, err := s.pool.Query(ctx, `SELECT st.source, st.synced_at, st.attempted_at, st.last_error, st.refused::text,
		(SELECT count(*) FROM advisory_entries e WHERE e.source = st.source) FROM advisory_state st ORDER BY st.source COLLATE "C"`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AdvisoryState
	for rows.Next() {
		var st store.AdvisoryState
		var synced, attempted *time.Time
		var refused string
		var n int64
		if err := rows.Scan(&st.Source, &synced, &attempted, &st.LastError, &refused, &n); err != nil {
			return nil, err
		}
		st.Entries = int(n)
		st.SyncedAt, st.AttemptedAt = fromNullTime(synced), fromNullTime(attempted)
		if err := json.Unmarshal([]byte(refused), &st.Refused); err != nil {
			return nil, err
		}
		if len(st.Refused) == 0 {
			st.Refused = nil
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// RecordAdvisorySyncError implements [store.Advisories].
func (s *Store) RecordAdvisorySyncError(ctx context.Context, source string, at time.Time, msg string) (err error) {
	defer wrap(&err, "postgres: record advisory sync error of %s", source)
	_, err = s.pool.Exec(ctx, `INSERT INTO advisory_state (source, attempted_at, last_error) VALUES ($1, $2, $3)
		ON CONFLICT (source) DO UPDATE SET attempted_at = excluded.attempted_at, last_error = excluded.last_error`,
		source, normTime(at), msg)
	return err
}

// FactPathsFold implements [store.Advisories].
func (s *Store) FactPathsFold(ctx context.Context, lower string) (_ []string, err error) {
	defer wrap(&err, "postgres: fact paths like %s", lower)
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT module_path FROM version_facts WHERE lower(module_path) = $1`, lower)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DependentsFold implements [store.Advisories].
func (s *Store) DependentsFold(ctx context.Context, lower string) (_ []store.Requirement, err error) {
	defer wrap(&err, "postgres: dependents of paths like %s", lower)
	rows, err := s.pool.Query(ctx, `SELECT module_path, version, req_path, req_version FROM version_requires
		WHERE lower(req_path) = $1`, lower)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Requirement
	for rows.Next() {
		var r store.Requirement
		if err := rows.Scan(&r.Module.Path, &r.Module.Version, &r.Requires.Path, &r.Requires.Version); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
