package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

var _ store.Vulns = (*Store)(nil)

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return normTime(t)
}

func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func jsonArray(v any) string {
	b, _ := json.Marshal(v)
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// VulnFile implements [store.VulnDB].
func (s *Store) VulnFile(ctx context.Context, path string) (_ *store.VulnFile, err error) {
	defer wrap(&err, "postgres: vulndb file %s", path)
	f := &store.VulnFile{Path: path}
	err = s.pool.QueryRow(ctx, `SELECT json, gz FROM vulndb_files WHERE path = $1`, path).Scan(&f.JSON, &f.Gzip)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

const entryCols = `e.id, e.modified, e.published, e.withdrawn, e.aliases::text, e.summary, e.review_status, e.modules::text`

func scanEntry(rows pgx.Rows, withJSON bool) (store.VulnEntry, error) {
	var e store.VulnEntry
	var published, withdrawn *time.Time
	var aliases, modules string
	dest := []any{&e.ID, &e.Modified, &published, &withdrawn, &aliases, &e.Summary, &e.ReviewStatus, &modules}
	if withJSON {
		dest = append(dest, &e.JSON)
	}
	if err := rows.Scan(dest...); err != nil {
		return e, err
	}
	e.Modified = e.Modified.UTC()
	e.Published, e.Withdrawn = fromNullTime(published), fromNullTime(withdrawn)
	if err := json.Unmarshal([]byte(aliases), &e.Aliases); err != nil {
		return e, err
	}
	if len(e.Aliases) == 0 {
		e.Aliases = nil
	}
	if err := json.Unmarshal([]byte(modules), &e.Modules); err != nil {
		return e, err
	}
	if len(e.Modules) == 0 {
		e.Modules = nil
	}
	return e, nil
}

func (s *Store) queryEntries(ctx context.Context, withJSON bool, q string, args ...any) ([]store.VulnEntry, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.VulnEntry
	for rows.Next() {
		e, err := scanEntry(rows, withJSON)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// VulnEntries implements [store.VulnDB].
func (s *Store) VulnEntries(ctx context.Context) (_ []store.VulnEntry, err error) {
	defer wrap(&err, "postgres: vuln entries")
	return s.queryEntries(ctx, false, `SELECT `+entryCols+` FROM vuln_entries e ORDER BY e.id COLLATE "C"`)
}

// VulnEntriesFor implements [store.VulnDB].
func (s *Store) VulnEntriesFor(ctx context.Context, paths ...string) (_ []store.VulnEntry, err error) {
	defer wrap(&err, "postgres: vuln entries for %s", strings.Join(paths, " "))
	if len(paths) == 0 {
		return nil, nil
	}
	return s.queryEntries(ctx, true, `SELECT `+entryCols+`, f.json FROM vuln_entries e
		JOIN vulndb_files f ON f.path = 'ID/' || e.id || '.json'
		WHERE e.id IN (SELECT m.vuln_id FROM vuln_modules m WHERE m.module_path = ANY($1::text[]))
		ORDER BY e.id COLLATE "C"`, paths)
}

// VulnStampsFor implements [store.VulnDB]: VulnEntriesFor's query without
// the join to the entries' JSON.
func (s *Store) VulnStampsFor(ctx context.Context, paths ...string) (_ []store.VulnStamp, err error) {
	defer wrap(&err, "postgres: vuln entry stamps for %s", strings.Join(paths, " "))
	if len(paths) == 0 {
		return nil, nil
	}
	return s.queryStamps(ctx, `SELECT e.id, e.modified FROM vuln_entries e
		WHERE e.id IN (SELECT m.vuln_id FROM vuln_modules m WHERE m.module_path = ANY($1::text[]))
		ORDER BY e.id COLLATE "C"`, paths)
}

// queryStamps runs q, whose columns are an id and a modified time, and
// scans every row.
func (s *Store) queryStamps(ctx context.Context, q string, args ...any) ([]store.VulnStamp, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.VulnStamp
	for rows.Next() {
		var st store.VulnStamp
		if err := rows.Scan(&st.ID, &st.Modified); err != nil {
			return nil, err
		}
		st.Modified = st.Modified.UTC()
		out = append(out, st)
	}
	return out, rows.Err()
}

// ApplyVulnSync implements [store.VulnDB].
func (s *Store) ApplyVulnSync(ctx context.Context, vs *store.VulnSync) (err error) {
	defer wrap(&err, "postgres: apply vulndb sync")
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	b := &pgx.Batch{}
	for _, files := range [][]store.VulnFile{vs.Index, vs.Files} {
		for _, f := range files {
			b.Queue(`INSERT INTO vulndb_files (path, json, gz) VALUES ($1, $2, $3)
				ON CONFLICT (path) DO UPDATE SET json = excluded.json, gz = excluded.gz`, f.Path, nonNil(f.JSON), nonNil(f.Gzip))
		}
	}
	for _, id := range vs.Delete {
		b.Queue(`DELETE FROM vuln_entries WHERE id = $1`, id)
		b.Queue(`DELETE FROM vuln_modules WHERE vuln_id = $1`, id)
		b.Queue(`DELETE FROM vulndb_files WHERE path = 'ID/' || $1 || '.json'`, id)
	}
	for _, e := range vs.Put {
		b.Queue(`INSERT INTO vuln_entries (id, modified, published, withdrawn, aliases, summary, review_status, modules)
			VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::jsonb)
			ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, published = excluded.published,
			withdrawn = excluded.withdrawn, aliases = excluded.aliases, summary = excluded.summary,
			review_status = excluded.review_status, modules = excluded.modules`,
			e.ID, normTime(e.Modified), nullTime(e.Published), nullTime(e.Withdrawn), jsonArray(e.Aliases), e.Summary,
			e.ReviewStatus, jsonArray(e.Modules))
		b.Queue(`DELETE FROM vuln_modules WHERE vuln_id = $1`, e.ID)
		for _, m := range e.Modules {
			b.Queue(`INSERT INTO vuln_modules (module_path, vuln_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, m, e.ID)
		}
	}
	st := vs.State
	b.Queue(`INSERT INTO vulndb_state (id, source, db_modified, synced_at, attempted_at, last_error, refused)
		VALUES (1, $1, $2, $3, $4, '', $5::jsonb)
		ON CONFLICT (id) DO UPDATE SET source = excluded.source, db_modified = excluded.db_modified,
		synced_at = excluded.synced_at, attempted_at = excluded.attempted_at, last_error = '', refused = excluded.refused`,
		st.Source, nullTime(st.DBModified), nullTime(st.SyncedAt), nullTime(st.AttemptedAt), jsonArray(st.Refused))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// VulnState implements [store.VulnDB].
func (s *Store) VulnState(ctx context.Context) (_ *store.VulnState, err error) {
	defer wrap(&err, "postgres: vulndb state")
	st := &store.VulnState{}
	var dbMod, synced, attempted *time.Time
	var refused string
	err = s.pool.QueryRow(ctx, `SELECT source, db_modified, synced_at, attempted_at, last_error, refused::text
		FROM vulndb_state WHERE id = 1`).Scan(&st.Source, &dbMod, &synced, &attempted, &st.LastError, &refused)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		st.DBModified, st.SyncedAt, st.AttemptedAt = fromNullTime(dbMod), fromNullTime(synced), fromNullTime(attempted)
		if err := json.Unmarshal([]byte(refused), &st.Refused); err != nil {
			return nil, err
		}
		if len(st.Refused) == 0 {
			st.Refused = nil
		}
	}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM vuln_entries`).Scan(&st.Entries); err != nil {
		return nil, err
	}
	return st, nil
}

// RecordVulnSyncError implements [store.VulnDB].
func (s *Store) RecordVulnSyncError(ctx context.Context, at time.Time, msg string) (err error) {
	defer wrap(&err, "postgres: record vulndb sync error")
	_, err = s.pool.Exec(ctx, `INSERT INTO vulndb_state (id, attempted_at, last_error) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET attempted_at = excluded.attempted_at, last_error = excluded.last_error`,
		normTime(at), msg)
	return err
}

// PutFacts implements [store.VersionFacts].
func (s *Store) PutFacts(ctx context.Context, f *store.Facts) (err error) {
	defer wrap(&err, "postgres: put facts %s", f.Module)
	if f.Module.Path == "" || f.Module.Version == "" {
		return errors.New("empty module path or version")
	}
	updated := f.UpdatedAt
	if updated.IsZero() {
		updated = s.now()
	}
	m := f.Module
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO version_facts (module_path, version, licenses, licenses_known,
		retracted, rationale, deprecated, deprecation, published_at, published_source, updated_at)
		VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (module_path, version) DO UPDATE SET licenses = excluded.licenses,
		licenses_known = excluded.licenses_known, retracted = excluded.retracted, rationale = excluded.rationale,
		deprecated = excluded.deprecated, deprecation = excluded.deprecation, `+store.BetterPublishedSQL+`, updated_at = excluded.updated_at`,
		m.Path, m.Version, jsonArray(f.Licenses), f.LicensesKnown, f.Retracted, f.Rationale,
		f.Deprecated, f.Deprecation, nullTime(f.Published), f.PublishedSource, normTime(updated)); err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM version_requires WHERE module_path = $1 AND version = $2`, m.Path, m.Version)
	for _, r := range f.Requires {
		b.Queue(`INSERT INTO version_requires (module_path, version, req_path, req_version) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, m.Path, m.Version, r.Path, r.Version)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	want := store.FactsFindings(f)
	wanted := map[string]bool{}
	for _, fd := range want {
		wanted[fd.Key()] = true
	}
	// A finding a re-evaluation learnt after these facts were computed
	// (f.UpdatedAt) is newer than them: it is kept.
	rows, err := tx.Query(ctx, `SELECT via_path, via_version, vuln_id FROM vuln_findings
		WHERE module_path = $1 AND version = $2 AND NOT (NOT at_ingest AND learnt_at > $3)`, m.Path, m.Version, normTime(updated))
	if err != nil {
		return err
	}
	var remove []store.Finding
	for rows.Next() {
		fd := store.Finding{Module: m}
		if err := rows.Scan(&fd.Via.Path, &fd.Via.Version, &fd.VulnID); err != nil {
			rows.Close()
			return err
		}
		if !wanted[fd.Key()] {
			remove = append(remove, fd)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := updateFindings(ctx, tx, want, remove, updated); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func updateFindings(ctx context.Context, tx pgx.Tx, add, remove []store.Finding, now time.Time) error {
	b := &pgx.Batch{}
	for _, f := range remove {
		b.Queue(`DELETE FROM vuln_findings WHERE module_path = $1 AND version = $2 AND via_path = $3
			AND via_version = $4 AND vuln_id = $5`, f.Module.Path, f.Module.Version, f.Via.Path, f.Via.Version, f.VulnID)
	}
	for _, f := range add {
		learnt := f.LearntAt
		if learnt.IsZero() {
			learnt = now
		}
		b.Queue(`INSERT INTO vuln_findings (module_path, version, via_path, via_version, vuln_id, fixed, learnt_at, at_ingest)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (module_path, version, via_path, via_version, vuln_id) DO UPDATE SET fixed = excluded.fixed`,
			f.Module.Path, f.Module.Version, f.Via.Path, f.Via.Version, f.VulnID, f.Fixed, normTime(learnt), f.AtIngest)
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// UpdateFindings implements [store.VersionFacts].
func (s *Store) UpdateFindings(ctx context.Context, add, remove []store.Finding) (err error) {
	defer wrap(&err, "postgres: update findings")
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := updateFindings(ctx, tx, add, remove, s.now()); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Facts implements [store.VersionFacts].
func (s *Store) Facts(ctx context.Context, m module.Version) (_ *store.Facts, err error) {
	defer wrap(&err, "postgres: facts %s", m)
	f := &store.Facts{Module: m}
	var licenses string
	var published *time.Time
	err = s.pool.QueryRow(ctx, `SELECT licenses::text, licenses_known, retracted, rationale, deprecated, deprecation,
		published_at, published_source, updated_at FROM version_facts WHERE module_path = $1 AND version = $2`,
		m.Path, m.Version).Scan(&licenses, &f.LicensesKnown, &f.Retracted, &f.Rationale, &f.Deprecated, &f.Deprecation,
		&published, &f.PublishedSource, &f.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	f.UpdatedAt = f.UpdatedAt.UTC()
	f.Published = fromNullTime(published)
	if err := json.Unmarshal([]byte(licenses), &f.Licenses); err != nil {
		return nil, err
	}
	if len(f.Licenses) == 0 {
		f.Licenses = nil
	}
	rows, err := s.pool.Query(ctx, `SELECT req_path, req_version FROM version_requires
		WHERE module_path = $1 AND version = $2 ORDER BY req_path COLLATE "C", req_version COLLATE "C"`, m.Path, m.Version)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r module.Version
		if err := rows.Scan(&r.Path, &r.Version); err != nil {
			rows.Close()
			return nil, err
		}
		f.Requires = append(f.Requires, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.pool.Query(ctx, `SELECT fd.via_path, fd.via_version, fd.vuln_id, fd.fixed, fd.learnt_at, fd.at_ingest,
		coalesce(e.aliases::text, a.aliases::text, '[]'), coalesce(e.summary, a.summary, ''),
		coalesce(e.review_status, CASE WHEN a.id IS NULL THEN '' ELSE 'REVIEWED' END), coalesce(e.withdrawn, a.withdrawn)
		FROM vuln_findings fd LEFT JOIN vuln_entries e ON e.id = fd.vuln_id
		LEFT JOIN advisory_entries a ON e.id IS NULL AND a.id = fd.vuln_id
		WHERE fd.module_path = $1 AND fd.version = $2`, m.Path, m.Version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []store.FactsFinding
	for rows.Next() {
		var ff store.FactsFinding
		var aliases string
		var withdrawn *time.Time
		if err := rows.Scan(&ff.Via.Path, &ff.Via.Version, &ff.Vuln.ID, &ff.Vuln.Fixed, &ff.Vuln.LearntAt, &ff.Vuln.AtIngest,
			&aliases, &ff.Vuln.Summary, &ff.Vuln.ReviewStatus, &withdrawn); err != nil {
			return nil, err
		}
		ff.Vuln.LearntAt = ff.Vuln.LearntAt.UTC()
		ff.Vuln.Withdrawn = fromNullTime(withdrawn)
		if err := json.Unmarshal([]byte(aliases), &ff.Vuln.Aliases); err != nil {
			return nil, err
		}
		if len(ff.Vuln.Aliases) == 0 {
			ff.Vuln.Aliases = nil
		}
		found = append(found, ff)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	store.SetFindings(f, found)
	return f, nil
}

// FactVersions implements [store.VersionFacts].
func (s *Store) FactVersions(ctx context.Context, path string) (_ []string, err error) {
	defer wrap(&err, "postgres: fact versions %s", path)
	rows, err := s.pool.Query(ctx, `SELECT version FROM version_facts WHERE module_path = $1`, path)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Dependents implements [store.VersionFacts].
func (s *Store) Dependents(ctx context.Context, path string) (_ []store.Requirement, err error) {
	defer wrap(&err, "postgres: dependents of %s", path)
	rows, err := s.pool.Query(ctx, `SELECT module_path, version, req_version FROM version_requires WHERE req_path = $1`, path)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Requirement
	for rows.Next() {
		r := store.Requirement{Requires: module.Version{Path: path}}
		if err := rows.Scan(&r.Module.Path, &r.Module.Version, &r.Requires.Version); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// LearntFindings implements [store.VersionFacts].
func (s *Store) LearntFindings(ctx context.Context, since time.Time) (_ []store.Finding, err error) {
	defer wrap(&err, "postgres: learnt findings")
	rows, err := s.pool.Query(ctx, `SELECT module_path, version, via_path, via_version, vuln_id, fixed, learnt_at
		FROM vuln_findings WHERE NOT at_ingest AND learnt_at >= $1
		ORDER BY learnt_at, module_path COLLATE "C", version COLLATE "C", via_path COLLATE "C",
		via_version COLLATE "C", vuln_id COLLATE "C"`, normTime(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Finding
	for rows.Next() {
		var f store.Finding
		if err := rows.Scan(&f.Module.Path, &f.Module.Version, &f.Via.Path, &f.Via.Version, &f.VulnID, &f.Fixed, &f.LearntAt); err != nil {
			return nil, err
		}
		f.LearntAt = f.LearntAt.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}

// PutModuleNotes implements [store.VersionFacts].
func (s *Store) PutModuleNotes(ctx context.Context, n *store.ModuleNotes) (err error) {
	defer wrap(&err, "postgres: put module notes %s", n.Path)
	updated := n.UpdatedAt
	if updated.IsZero() {
		updated = s.now()
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO module_notes (module_path, latest_version, retractions, deprecated, deprecation, updated_at)
		VALUES ($1, $2, $3::jsonb, $4, $5, $6) ON CONFLICT (module_path) DO UPDATE SET latest_version = excluded.latest_version,
		retractions = excluded.retractions, deprecated = excluded.deprecated, deprecation = excluded.deprecation,
		updated_at = excluded.updated_at`,
		n.Path, n.LatestVersion, jsonArray(n.Retractions), n.Deprecated, n.Deprecation, normTime(updated))
	return err
}

// ModuleNotes implements [store.VersionFacts].
func (s *Store) ModuleNotes(ctx context.Context, path string) (_ *store.ModuleNotes, err error) {
	defer wrap(&err, "postgres: module notes %s", path)
	n := &store.ModuleNotes{Path: path}
	var retractions string
	err = s.pool.QueryRow(ctx, `SELECT latest_version, retractions::text, deprecated, deprecation, updated_at
		FROM module_notes WHERE module_path = $1`, path).Scan(&n.LatestVersion, &retractions, &n.Deprecated, &n.Deprecation, &n.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	n.UpdatedAt = n.UpdatedAt.UTC()
	if err := json.Unmarshal([]byte(retractions), &n.Retractions); err != nil {
		return nil, err
	}
	if len(n.Retractions) == 0 {
		n.Retractions = nil
	}
	return n, nil
}
