package postgres

import (
	"context"
	"errors"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// PutSBOM implements [store.SBOMs].
func (s *Store) PutSBOM(ctx context.Context, r *store.SBOMRecord) (err error) {
	defer wrap(&err, "postgres: put SBOM %s", r.Module)
	if err := r.Validate(); err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx,
		`INSERT INTO sboms (id, module_path, version, created_at, input)
		 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Module.Path, r.Module.Version, normTime(r.Created), r.Input)
	return err
}

// SBOM implements [store.SBOMs].
func (s *Store) SBOM(ctx context.Context, m module.Version) (_ *store.SBOMRecord, err error) {
	defer wrap(&err, "postgres: SBOM %s", m)
	return scanSBOM(s.pool.QueryRow(ctx,
		`SELECT id, module_path, version, created_at, input FROM sboms
		 WHERE module_path = $1 AND version = $2 ORDER BY created_at DESC, seq DESC LIMIT 1`,
		m.Path, m.Version))
}

// SBOMByID implements [store.SBOMs].
func (s *Store) SBOMByID(ctx context.Context, id string) (_ *store.SBOMRecord, err error) {
	defer wrap(&err, "postgres: SBOM %q", id)
	return scanSBOM(s.pool.QueryRow(ctx,
		`SELECT id, module_path, version, created_at, input FROM sboms WHERE id = $1`, id))
}

func scanSBOM(row pgx.Row) (*store.SBOMRecord, error) {
	var r store.SBOMRecord
	err := row.Scan(&r.ID, &r.Module.Path, &r.Module.Version, &r.Created, &r.Input)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	r.Created = r.Created.UTC()
	return &r, nil
}
