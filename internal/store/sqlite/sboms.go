package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// PutSBOM implements [store.SBOMs].
func (s *Store) PutSBOM(ctx context.Context, r *store.SBOMRecord) (err error) {
	defer wrap(&err, "sqlite: put SBOM %s", r.Module)
	if err := r.Validate(); err != nil {
		return err
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO sboms (id, module_path, version, created_at, input)
		 VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Module.Path, r.Module.Version, normTime(r.Created).Format(timeFormat), r.Input)
	return err
}

// SBOM implements [store.SBOMs].
func (s *Store) SBOM(ctx context.Context, m module.Version) (_ *store.SBOMRecord, err error) {
	defer wrap(&err, "sqlite: SBOM %s", m)
	return s.scanSBOM(s.read.QueryRowContext(ctx,
		`SELECT id, module_path, version, created_at, input FROM sboms
		 WHERE module_path = ? AND version = ? ORDER BY created_at DESC, seq DESC LIMIT 1`,
		m.Path, m.Version))
}

// SBOMByID implements [store.SBOMs].
func (s *Store) SBOMByID(ctx context.Context, id string) (_ *store.SBOMRecord, err error) {
	defer wrap(&err, "sqlite: SBOM %q", id)
	return s.scanSBOM(s.read.QueryRowContext(ctx,
		`SELECT id, module_path, version, created_at, input FROM sboms WHERE id = ?`, id))
}

func (s *Store) scanSBOM(row *sql.Row) (*store.SBOMRecord, error) {
	var r store.SBOMRecord
	var created string
	err := row.Scan(&r.ID, &r.Module.Path, &r.Module.Version, &created, &r.Input)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	r.Input = clone(r.Input)
	if r.Created, err = parseTime(created); err != nil {
		return nil, err
	}
	return &r, nil
}
