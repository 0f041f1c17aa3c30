package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/modgate/modgate/internal/store"
)

var _ store.Advisories = (*Store)(nil)

const advisoryCols = `e.id, e.modified, e.published, e.withdrawn, e.aliases, e.summary, 'REVIEWED', e.modules`

// AdvisoryEntries implements [store.Advisories].
func (s *Store) AdvisoryEntries(ctx context.Context, source string) (_ []store.VulnEntry, err error) {
	defer wrap(&err, "sqlite: advisory entries of %s", source)
	return s.queryEntries(ctx, false, `SELECT `+advisoryCols+` FROM advisory_entries e WHERE e.source = ? ORDER BY e.id`, source)
}

// AdvisoryEntriesFor implements [store.Advisories].
func (s *Store) AdvisoryEntriesFor(ctx context.Context, keys ...string) (_ []store.VulnEntry, err error) {
	defer wrap(&err, "sqlite: advisory entries for %s", strings.Join(keys, " "))
	if len(keys) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(keys) // one query text for any number of keys (prepared once)
	if err != nil {
		return nil, err
	}
	return s.queryEntries(ctx, true, `SELECT `+advisoryCols+`, e.json FROM advisory_entries e
		WHERE e.id IN (SELECT m.advisory_id FROM advisory_modules m WHERE m.module_key IN (SELECT value FROM json_each(?)))
		ORDER BY e.id`, string(list))
}

// AdvisoryStampsFor implements [store.Advisories].
func (s *Store) AdvisoryStampsFor(ctx context.Context, keys ...string) (_ []store.VulnStamp, err error) {
	defer wrap(&err, "sqlite: advisory stamps for %s", strings.Join(keys, " "))
	if len(keys) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	return s.queryStamps(ctx, `SELECT e.id, e.modified FROM advisory_entries e
		WHERE e.id IN (SELECT m.advisory_id FROM advisory_modules m WHERE m.module_key IN (SELECT value FROM json_each(?)))
		ORDER BY e.id`, string(list))
}

// AdvisoryEntry implements [store.Advisories].
func (s *Store) AdvisoryEntry(ctx context.Context, id string) (_ *store.VulnEntry, err error) {
	defer wrap(&err, "sqlite: advisory entry %s", id)
	e, err := scanEntry(s.read.QueryRowContext(ctx, `SELECT `+advisoryCols+`, e.json FROM advisory_entries e WHERE e.id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// ApplyAdvisorySync implements [store.Advisories].
func (s *Store) ApplyAdvisorySync(ctx context.Context, as *store.AdvisorySync) (err error) {
	defer wrap(&err, "sqlite: apply advisory sync of %s", as.Source)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, id := range as.Delete {
		res, err := tx.ExecContext(ctx, `DELETE FROM advisory_entries WHERE id = ? AND source = ?`, id, as.Source)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM advisory_modules WHERE advisory_id = ?`, id); err != nil {
				return err
			}
		}
	}
	put, err := tx.PrepareContext(ctx, `INSERT INTO advisory_entries
		(id, source, modified, published, withdrawn, aliases, summary, modules, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, published = excluded.published,
		withdrawn = excluded.withdrawn, aliases = excluded.aliases, summary = excluded.summary,
		modules = excluded.modules, json = excluded.json WHERE advisory_entries.source = excluded.source`)
	if err != nil {
		return err
	}
	defer put.Close()
	putMod, err := tx.PrepareContext(ctx, `INSERT INTO advisory_modules (module_key, advisory_id) VALUES (?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return err
	}
	defer putMod.Close()
	for i, e := range as.Put {
		res, err := put.ExecContext(ctx, e.ID, as.Source, normTime(e.Modified).Format(timeFormat), fmtNullTime(e.Published),
			fmtNullTime(e.Withdrawn), jsonText(e.Aliases), e.Summary, jsonText(e.Modules), nonNil(e.JSON))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // another feed's record
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM advisory_modules WHERE advisory_id = ?`, e.ID); err != nil {
			return err
		}
		if i < len(as.Keys) {
			for _, k := range as.Keys[i] {
				if _, err := putMod.ExecContext(ctx, k, e.ID); err != nil {
					return err
				}
			}
		}
	}
	st := as.State
	if _, err := tx.ExecContext(ctx, `INSERT INTO advisory_state (source, synced_at, attempted_at, last_error, refused)
		VALUES (?, ?, ?, '', ?)
		ON CONFLICT (source) DO UPDATE SET synced_at = excluded.synced_at, attempted_at = excluded.attempted_at,
		last_error = '', refused = excluded.refused`,
		as.Source, fmtNullTime(st.SyncedAt), fmtNullTime(st.AttemptedAt), jsonText(st.Refused)); err != nil {
		return err
	}
	return tx.Commit()
}

// AdvisoryStates implements [store.Advisories].
func (s *Store) AdvisoryStates(ctx context.Context) (_ []store.AdvisoryState, err error) {
	defer wrap(&err, "sqlite: advisory states")
	rows, err := s.read.QueryContext(ctx, `SELECT st.source, st.synced_at, st.attempted_at, st.last_error, st.refused,
		(SELECT count(*) FROM advisory_entries e WHERE e.source = st.source) FROM advisory_state st ORDER BY st.source`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AdvisoryState
	for rows.Next() {
		var st store.AdvisoryState
		var synced, attempted sql.NullString
		var refused string
		if err := rows.Scan(&st.Source, &synced, &attempted, &st.LastError, &refused, &st.Entries); err != nil {
			return nil, err
		}
		if st.SyncedAt, err = parseNullTime(synced); err != nil {
			return nil, err
		}
		if st.AttemptedAt, err = parseNullTime(attempted); err != nil {
			return nil, err
		}
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
	defer wrap(&err, "sqlite: record advisory sync error of %s", source)
	_, err = s.write.ExecContext(ctx, `INSERT INTO advisory_state (source, attempted_at, last_error) VALUES (?, ?, ?)
		ON CONFLICT (source) DO UPDATE SET attempted_at = excluded.attempted_at, last_error = excluded.last_error`,
		source, normTime(at).Format(timeFormat), msg)
	return err
}

// FactPathsFold implements [store.Advisories].
func (s *Store) FactPathsFold(ctx context.Context, lower string) (_ []string, err error) {
	defer wrap(&err, "sqlite: fact paths like %s", lower)
	rows, err := s.read.QueryContext(ctx, `SELECT DISTINCT module_path FROM version_facts WHERE lower(module_path) = ?`, lower)
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
	if err := rows.Err(); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return out, nil
}

// DependentsFold implements [store.Advisories].
func (s *Store) DependentsFold(ctx context.Context, lower string) (_ []store.Requirement, err error) {
	defer wrap(&err, "sqlite: dependents of paths like %s", lower)
	rows, err := s.read.QueryContext(ctx, `SELECT module_path, version, req_path, req_version FROM version_requires
		WHERE lower(req_path) = ?`, lower)
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
