package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// PutCapabilities implements [store.Capabilities].
func (s *Store) PutCapabilities(ctx context.Context, f *store.CapabilityFacts) (err error) {
	defer wrap(&err, "postgres: put capabilities %s", f.Module)
	if err := f.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx,
		`INSERT INTO version_capabilities (module_path, version, base, failed, computed_at, facts)
		 VALUES ($1, $2, $3, $4, $5, $6)
		 ON CONFLICT (module_path, version) DO UPDATE SET base = excluded.base, failed = excluded.failed,
		   computed_at = excluded.computed_at, facts = excluded.facts`,
		f.Module.Path, f.Module.Version, f.Base, f.Failed != "", normTime(f.ComputedAt), string(data))
	return err
}

// CapabilityFacts implements [store.Capabilities].
func (s *Store) CapabilityFacts(ctx context.Context, m module.Version) (_ *store.CapabilityFacts, err error) {
	defer wrap(&err, "postgres: capabilities %s", m)
	var data string
	err = s.pool.QueryRow(ctx,
		`SELECT facts FROM version_capabilities WHERE module_path = $1 AND version = $2`, m.Path, m.Version).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
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
	defer wrap(&err, "postgres: capability versions of %s", path)
	rows, err := s.pool.Query(ctx,
		`SELECT version FROM version_capabilities WHERE module_path = $1 AND NOT failed`, path)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
