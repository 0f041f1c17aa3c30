package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

var _ store.Vulns = (*Store)(nil)

func fmtNullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return normTime(t).Format(timeFormat)
}

func parseNullTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	return parseTime(s.String)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// VulnFile implements [store.VulnDB].
func (s *Store) VulnFile(ctx context.Context, path string) (_ *store.VulnFile, err error) {
	defer wrap(&err, "sqlite: vulndb file %s", path)
	f := &store.VulnFile{Path: path}
	err = s.read.QueryRowContext(ctx, `SELECT json, gz FROM vulndb_files WHERE path = ?`, path).Scan(&f.JSON, &f.Gzip)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

const entryCols = `e.id, e.modified, e.published, e.withdrawn, e.aliases, e.summary, e.review_status, e.modules`

func scanEntry(sc interface{ Scan(...any) error }, withJSON bool) (store.VulnEntry, error) {
	var e store.VulnEntry
	var modified string
	var published, withdrawn sql.NullString
	var aliases, modules string
	dest := []any{&e.ID, &modified, &published, &withdrawn, &aliases, &e.Summary, &e.ReviewStatus, &modules}
	if withJSON {
		dest = append(dest, &e.JSON)
	}
	if err := sc.Scan(dest...); err != nil {
		return e, err
	}
	var err error
	if e.Modified, err = parseTime(modified); err != nil {
		return e, err
	}
	if e.Published, err = parseNullTime(published); err != nil {
		return e, err
	}
	if e.Withdrawn, err = parseNullTime(withdrawn); err != nil {
		return e, err
	}
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

// queryEntries runs q, whose columns are entryCols (or advisoryCols), and the
// JSON when withJSON, and scans every row.
func (s *Store) queryEntries(ctx context.Context, withJSON bool, q string, args ...any) ([]store.VulnEntry, error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
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
	defer wrap(&err, "sqlite: vuln entries")
	return s.queryEntries(ctx, false, `SELECT `+entryCols+` FROM vuln_entries e ORDER BY e.id`)
}

// VulnEntriesFor implements [store.VulnDB].
func (s *Store) VulnEntriesFor(ctx context.Context, paths ...string) (_ []store.VulnEntry, err error) {
	defer wrap(&err, "sqlite: vuln entries for %s", strings.Join(paths, " "))
	if len(paths) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(paths) // one query text for any number of paths (prepared once)
	if err != nil {
		return nil, err
	}
	return s.queryEntries(ctx, true, `SELECT `+entryCols+`, f.json FROM vuln_entries e
		JOIN vulndb_files f ON f.path = 'ID/' || e.id || '.json'
		WHERE e.id IN (SELECT m.vuln_id FROM vuln_modules m WHERE m.module_path IN (SELECT value FROM json_each(?)))
		ORDER BY e.id`, string(list))
}

// VulnStampsFor implements [store.VulnDB]: VulnEntriesFor's query without
// the join to the entries' JSON (a cold fill read 160 MB of it, for entries
// the scanner had parsed already).
func (s *Store) VulnStampsFor(ctx context.Context, paths ...string) (_ []store.VulnStamp, err error) {
	defer wrap(&err, "sqlite: vuln entry stamps for %s", strings.Join(paths, " "))
	if len(paths) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(paths)
	if err != nil {
		return nil, err
	}
	return s.queryStamps(ctx, `SELECT e.id, e.modified FROM vuln_entries e
		WHERE e.id IN (SELECT m.vuln_id FROM vuln_modules m WHERE m.module_path IN (SELECT value FROM json_each(?)))
		ORDER BY e.id`, string(list))
}

// queryStamps runs q, whose columns are an id and a modified time, and
// scans every row.
func (s *Store) queryStamps(ctx context.Context, q string, args ...any) ([]store.VulnStamp, error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.VulnStamp
	for rows.Next() {
		var st store.VulnStamp
		var modified string
		if err := rows.Scan(&st.ID, &modified); err != nil {
			return nil, err
		}
		if st.Modified, err = parseTime(modified); err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// ApplyVulnSync implements [store.VulnDB].
func (s *Store) ApplyVulnSync(ctx context.Context, vs *store.VulnSync) (err error) {
	defer wrap(&err, "sqlite: apply vulndb sync")
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	putFile, err := tx.PrepareContext(ctx, `INSERT INTO vulndb_files (path, json, gz) VALUES (?, ?, ?)
		ON CONFLICT (path) DO UPDATE SET json = excluded.json, gz = excluded.gz`)
	if err != nil {
		return err
	}
	defer putFile.Close()
	for _, files := range [][]store.VulnFile{vs.Index, vs.Files} {
		for _, f := range files {
			if _, err := putFile.ExecContext(ctx, f.Path, nonNil(f.JSON), nonNil(f.Gzip)); err != nil {
				return err
			}
		}
	}
	for _, id := range vs.Delete {
		for _, q := range []string{`DELETE FROM vuln_entries WHERE id = ?`, `DELETE FROM vuln_modules WHERE vuln_id = ?`,
			`DELETE FROM vulndb_files WHERE path = 'ID/' || ? || '.json'`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
	}
	putEntry, err := tx.PrepareContext(ctx, `INSERT INTO vuln_entries
		(id, modified, published, withdrawn, aliases, summary, review_status, modules) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, published = excluded.published,
		withdrawn = excluded.withdrawn, aliases = excluded.aliases, summary = excluded.summary,
		review_status = excluded.review_status, modules = excluded.modules`)
	if err != nil {
		return err
	}
	defer putEntry.Close()
	putMod, err := tx.PrepareContext(ctx, `INSERT INTO vuln_modules (module_path, vuln_id) VALUES (?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return err
	}
	defer putMod.Close()
	for _, e := range vs.Put {
		if _, err := putEntry.ExecContext(ctx, e.ID, normTime(e.Modified).Format(timeFormat), fmtNullTime(e.Published),
			fmtNullTime(e.Withdrawn), jsonText(e.Aliases), e.Summary, e.ReviewStatus, jsonText(e.Modules)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM vuln_modules WHERE vuln_id = ?`, e.ID); err != nil {
			return err
		}
		for _, m := range e.Modules {
			if _, err := putMod.ExecContext(ctx, m, e.ID); err != nil {
				return err
			}
		}
	}
	st := vs.State
	if _, err := tx.ExecContext(ctx, `INSERT INTO vulndb_state (id, source, db_modified, synced_at, attempted_at, last_error, refused)
		VALUES (1, ?, ?, ?, ?, '', ?)
		ON CONFLICT (id) DO UPDATE SET source = excluded.source, db_modified = excluded.db_modified,
		synced_at = excluded.synced_at, attempted_at = excluded.attempted_at, last_error = '', refused = excluded.refused`,
		st.Source, fmtNullTime(st.DBModified), fmtNullTime(st.SyncedAt), fmtNullTime(st.AttemptedAt), jsonText(st.Refused)); err != nil {
		return err
	}
	return tx.Commit()
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// VulnState implements [store.VulnDB].
func (s *Store) VulnState(ctx context.Context) (_ *store.VulnState, err error) {
	defer wrap(&err, "sqlite: vulndb state")
	st := &store.VulnState{}
	var dbMod, synced, attempted sql.NullString
	var refused string
	err = s.read.QueryRowContext(ctx, `SELECT source, db_modified, synced_at, attempted_at, last_error, refused
		FROM vulndb_state WHERE id = 1`).Scan(&st.Source, &dbMod, &synced, &attempted, &st.LastError, &refused)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	default:
		if st.DBModified, err = parseNullTime(dbMod); err != nil {
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
	}
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM vuln_entries`).Scan(&st.Entries); err != nil {
		return nil, err
	}
	return st, nil
}

// RecordVulnSyncError implements [store.VulnDB].
func (s *Store) RecordVulnSyncError(ctx context.Context, at time.Time, msg string) (err error) {
	defer wrap(&err, "sqlite: record vulndb sync error")
	_, err = s.write.ExecContext(ctx, `INSERT INTO vulndb_state (id, attempted_at, last_error) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET attempted_at = excluded.attempted_at, last_error = excluded.last_error`,
		normTime(at).Format(timeFormat), msg)
	return err
}

// PutFacts implements [store.VersionFacts].
func (s *Store) PutFacts(ctx context.Context, f *store.Facts) (err error) {
	defer wrap(&err, "sqlite: put facts %s", f.Module)
	if f.Module.Path == "" || f.Module.Version == "" {
		return errors.New("empty module path or version")
	}
	updated := f.UpdatedAt
	if updated.IsZero() {
		updated = s.now()
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	m := f.Module
	if _, err := tx.ExecContext(ctx, `INSERT INTO version_facts (module_path, version, licenses, licenses_known,
		retracted, rationale, deprecated, deprecation, published_at, published_source, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (module_path, version) DO UPDATE SET licenses = excluded.licenses,
		licenses_known = excluded.licenses_known, retracted = excluded.retracted, rationale = excluded.rationale,
		deprecated = excluded.deprecated, deprecation = excluded.deprecation, `+store.BetterPublishedSQL+`, updated_at = excluded.updated_at`,
		m.Path, m.Version, jsonText(f.Licenses), boolInt(f.LicensesKnown), boolInt(f.Retracted), f.Rationale,
		boolInt(f.Deprecated), f.Deprecation, fmtNullTime(f.Published), f.PublishedSource,
		normTime(updated).Format(timeFormat)); err != nil {
		return err
	}
	// The requirements and findings are written only where they changed: a
	// version's facts are put again when its zip follows its .mod, mostly
	// the same, and every row written is pages in the log.
	same, err := sameRequires(ctx, tx, m, f.Requires)
	if err != nil {
		return err
	}
	if !same {
		if _, err := tx.ExecContext(ctx, `DELETE FROM version_requires WHERE module_path = ? AND version = ?`, m.Path, m.Version); err != nil {
			return err
		}
	}
	if len(f.Requires) > 0 && !same {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO version_requires (module_path, version, req_path, req_version)
			VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, r := range f.Requires {
			if _, err := ins.ExecContext(ctx, m.Path, m.Version, r.Path, r.Version); err != nil {
				return err
			}
		}
	}
	want := store.FactsFindings(f)
	// Keep stored findings that are still wanted (with their LearntAt), drop the rest;
	// but a finding a re-evaluation learnt after these facts were computed
	// (f.UpdatedAt) is newer than them: it is kept.
	rows, err := tx.QueryContext(ctx, `SELECT via_path, via_version, vuln_id, fixed FROM vuln_findings
		WHERE module_path = ? AND version = ? AND NOT (at_ingest = 0 AND learnt_at > ?)`,
		m.Path, m.Version, normTime(updated).Format(timeFormat))
	if err != nil {
		return err
	}
	have := map[string]string{} // key -> fixed
	var drop []store.Finding
	for rows.Next() {
		var fd store.Finding
		if err := rows.Scan(&fd.Via.Path, &fd.Via.Version, &fd.VulnID, &fd.Fixed); err != nil {
			rows.Close()
			return err
		}
		fd.Module = m
		have[fd.Key()] = fd.Fixed
		drop = append(drop, fd)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, fd := range want {
		wanted[fd.Key()] = true
	}
	var remove []store.Finding
	for _, fd := range drop {
		if !wanted[fd.Key()] {
			remove = append(remove, fd)
		}
	}
	// A finding stored with the same fix is left as it is (the insert
	// would change nothing: it keeps LearntAt and sets only fixed).
	add := want[:0:0]
	for _, fd := range want {
		if fixed, ok := have[fd.Key()]; !ok || fixed != fd.Fixed {
			add = append(add, fd)
		}
	}
	if err := updateFindings(ctx, tx, add, remove, updated); err != nil {
		return err
	}
	return tx.Commit()
}

// sameRequires reports whether the stored requirements of m are reqs.
func sameRequires(ctx context.Context, tx *prepTx, m module.Version, reqs []module.Version) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT req_path, req_version FROM version_requires
		WHERE module_path = ? AND version = ?`, m.Path, m.Version)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	want := make(map[module.Version]bool, len(reqs))
	for _, r := range reqs {
		want[r] = true
	}
	n := 0
	for rows.Next() {
		var r module.Version
		if err := rows.Scan(&r.Path, &r.Version); err != nil {
			return false, err
		}
		if !want[r] {
			return false, rows.Close()
		}
		n++
	}
	return n == len(want), rows.Err()
}

func updateFindings(ctx context.Context, tx *prepTx, add, remove []store.Finding, now time.Time) error {
	if len(remove) > 0 {
		del, err := tx.PrepareContext(ctx, `DELETE FROM vuln_findings WHERE module_path = ? AND version = ?
			AND via_path = ? AND via_version = ? AND vuln_id = ?`)
		if err != nil {
			return err
		}
		defer del.Close()
		for _, f := range remove {
			if _, err := del.ExecContext(ctx, f.Module.Path, f.Module.Version, f.Via.Path, f.Via.Version, f.VulnID); err != nil {
				return err
			}
		}
	}
	if len(add) > 0 {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO vuln_findings (module_path, version, via_path, via_version,
			vuln_id, fixed, learnt_at, at_ingest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO UPDATE SET fixed = excluded.fixed`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, f := range add {
			learnt := f.LearntAt
			if learnt.IsZero() {
				learnt = now
			}
			if _, err := ins.ExecContext(ctx, f.Module.Path, f.Module.Version, f.Via.Path, f.Via.Version, f.VulnID,
				f.Fixed, normTime(learnt).Format(timeFormat), boolInt(f.AtIngest)); err != nil {
				return err
			}
		}
	}
	return nil
}

// UpdateFindings implements [store.VersionFacts].
func (s *Store) UpdateFindings(ctx context.Context, add, remove []store.Finding) (err error) {
	defer wrap(&err, "sqlite: update findings")
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := updateFindings(ctx, tx, add, remove, s.now()); err != nil {
		return err
	}
	return tx.Commit()
}

// Facts implements [store.VersionFacts].
func (s *Store) Facts(ctx context.Context, m module.Version) (_ *store.Facts, err error) {
	defer wrap(&err, "sqlite: facts %s", m)
	f := &store.Facts{Module: m}
	var licenses string
	var known, retracted, deprecated int
	var published sql.NullString
	var updated string
	err = s.read.QueryRowContext(ctx, `SELECT licenses, licenses_known, retracted, rationale, deprecated, deprecation,
		published_at, published_source, updated_at FROM version_facts WHERE module_path = ? AND version = ?`,
		m.Path, m.Version).Scan(&licenses, &known, &retracted, &f.Rationale, &deprecated, &f.Deprecation,
		&published, &f.PublishedSource, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	f.LicensesKnown, f.Retracted, f.Deprecated = known != 0, retracted != 0, deprecated != 0
	if err := json.Unmarshal([]byte(licenses), &f.Licenses); err != nil {
		return nil, err
	}
	if len(f.Licenses) == 0 {
		f.Licenses = nil
	}
	if f.Published, err = parseNullTime(published); err != nil {
		return nil, err
	}
	if f.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT req_path, req_version FROM version_requires
		WHERE module_path = ? AND version = ? ORDER BY req_path, req_version`, m.Path, m.Version)
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
	rows, err = s.read.QueryContext(ctx, `SELECT fd.via_path, fd.via_version, fd.vuln_id, fd.fixed, fd.learnt_at, fd.at_ingest,
		coalesce(e.aliases, a.aliases, '[]'), coalesce(e.summary, a.summary, ''),
		coalesce(e.review_status, CASE WHEN a.id IS NULL THEN '' ELSE 'REVIEWED' END), coalesce(e.withdrawn, a.withdrawn)
		FROM vuln_findings fd LEFT JOIN vuln_entries e ON e.id = fd.vuln_id
		LEFT JOIN advisory_entries a ON e.id IS NULL AND a.id = fd.vuln_id
		WHERE fd.module_path = ? AND fd.version = ? ORDER BY fd.via_path, fd.via_version, fd.vuln_id`, m.Path, m.Version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []store.FactsFinding
	for rows.Next() {
		var ff store.FactsFinding
		var learnt, aliases string
		var atIngest int
		var withdrawn sql.NullString
		if err := rows.Scan(&ff.Via.Path, &ff.Via.Version, &ff.Vuln.ID, &ff.Vuln.Fixed, &learnt, &atIngest,
			&aliases, &ff.Vuln.Summary, &ff.Vuln.ReviewStatus, &withdrawn); err != nil {
			return nil, err
		}
		ff.Vuln.AtIngest = atIngest != 0
		if ff.Vuln.LearntAt, err = parseTime(learnt); err != nil {
			return nil, err
		}
		if ff.Vuln.Withdrawn, err = parseNullTime(withdrawn); err != nil {
			return nil, err
		}
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
	defer wrap(&err, "sqlite: fact versions %s", path)
	rows, err := s.read.QueryContext(ctx, `SELECT version FROM version_facts WHERE module_path = ?`, path)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Dependents implements [store.VersionFacts].
func (s *Store) Dependents(ctx context.Context, path string) (_ []store.Requirement, err error) {
	defer wrap(&err, "sqlite: dependents of %s", path)
	rows, err := s.read.QueryContext(ctx, `SELECT module_path, version, req_version FROM version_requires WHERE req_path = ?`, path)
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
	defer wrap(&err, "sqlite: learnt findings")
	rows, err := s.read.QueryContext(ctx, `SELECT module_path, version, via_path, via_version, vuln_id, fixed, learnt_at
		FROM vuln_findings WHERE at_ingest = 0 AND learnt_at >= ?
		ORDER BY learnt_at, module_path, version, via_path, via_version, vuln_id`, normTime(since).Format(timeFormat))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Finding
	for rows.Next() {
		var f store.Finding
		var learnt string
		if err := rows.Scan(&f.Module.Path, &f.Module.Version, &f.Via.Path, &f.Via.Version, &f.VulnID, &f.Fixed, &learnt); err != nil {
			return nil, err
		}
		if f.LearntAt, err = parseTime(learnt); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// PutModuleNotes implements [store.VersionFacts].
func (s *Store) PutModuleNotes(ctx context.Context, n *store.ModuleNotes) (err error) {
	defer wrap(&err, "sqlite: put module notes %s", n.Path)
	updated := n.UpdatedAt
	if updated.IsZero() {
		updated = s.now()
	}
	_, err = s.write.ExecContext(ctx, `INSERT INTO module_notes (module_path, latest_version, retractions, deprecated, deprecation, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (module_path) DO UPDATE SET latest_version = excluded.latest_version,
		retractions = excluded.retractions, deprecated = excluded.deprecated, deprecation = excluded.deprecation,
		updated_at = excluded.updated_at`,
		n.Path, n.LatestVersion, jsonText(n.Retractions), boolInt(n.Deprecated), n.Deprecation, normTime(updated).Format(timeFormat))
	return err
}

// ModuleNotes implements [store.VersionFacts].
func (s *Store) ModuleNotes(ctx context.Context, path string) (_ *store.ModuleNotes, err error) {
	defer wrap(&err, "sqlite: module notes %s", path)
	n := &store.ModuleNotes{Path: path}
	var retractions, updated string
	var deprecated int
	err = s.read.QueryRowContext(ctx, `SELECT latest_version, retractions, deprecated, deprecation, updated_at
		FROM module_notes WHERE module_path = ?`, path).Scan(&n.LatestVersion, &retractions, &deprecated, &n.Deprecation, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	n.Deprecated = deprecated != 0
	if err := json.Unmarshal([]byte(retractions), &n.Retractions); err != nil {
		return nil, err
	}
	if len(n.Retractions) == 0 {
		n.Retractions = nil
	}
	if n.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return n, nil
}
