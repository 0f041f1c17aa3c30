package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// PutCapabilities implements [store.Capabilities].
func (s *Store) PutCapabilities(ctx context.Context, f *store.CapabilityFacts) (err error) {
	defer wrap(&err, "sqlite: put capabilities %s", f.Module)
	if err := f.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO version_capabilities (module_path, version, base, failed, computed_at, facts)
		 VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (module_path, version) DO UPDATE SET base = excluded.base, failed = excluded.failed,
		   computed_at = excluded.computed_at, facts = excluded.facts`,
		f.Module.Path, f.Module.Version, f.Base, f.Failed != "", normTime(f.ComputedAt).Format(timeFormat), string(data))
	return err
}

// CapabilityFacts implements [store.Capabilities].
func (s *Store) CapabilityFacts(ctx context.Context, m module.Version) (_ *store.CapabilityFacts, err error) {
	defer wrap(&err, "sqlite: capabilities %s", m)
	var data string
	err = s.read.QueryRowContext(ctx,
		`SELECT facts FROM version_capabilities WHERE module_path = ? AND version = ?`, m.Path, m.Version).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	var f store.CapabilityFacts
	if err := json.Unmarshal([]byte(data), &f); err != nil {
		return nil, err
	}
	f.Module = m
	return &f, nil
}

// CapabilityVersions implements [store.Capabilities].
func (s *Store) CapabilityVersions(ctx context.Context, path string) (_ []string, err error) {
	defer wrap(&err, "sqlite: capability versions of %s", path)
	rows, err := s.read.QueryContext(ctx,
		`SELECT version FROM version_capabilities WHERE module_path = ? AND failed = 0`, path)
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
