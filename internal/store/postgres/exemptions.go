package postgres

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modgate/modgate/internal/store"
)

const exemptionColumns = `id, module, versions, rule, reason, granted_by, created_at, expires_at`

// AddExemption implements [store.Exemptions].
func (s *Store) AddExemption(ctx context.Context, e *store.Exemption) (_ *store.Exemption, err error) {
	defer wrap(&err, "postgres: add exemption for %s", e.Module)
	if err := e.Validate(); err != nil {
		return nil, err
	}
	out := *e
	if out.CreatedAt.IsZero() {
		out.CreatedAt = time.Now()
	}
	out.CreatedAt, out.ExpiresAt = normTime(out.CreatedAt), normTime(out.ExpiresAt)
	err = s.pool.QueryRow(ctx,
		`INSERT INTO exemptions (module, versions, rule, reason, granted_by, created_at, expires_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		out.Module, out.Versions, out.Rule, out.Reason, out.GrantedBy, out.CreatedAt, out.ExpiresAt).Scan(&out.ID)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListExemptions implements [store.Exemptions].
func (s *Store) ListExemptions(ctx context.Context) (_ []store.Exemption, err error) {
	defer wrap(&err, "postgres: list exemptions")
	rows, err := s.pool.Query(ctx, `SELECT `+exemptionColumns+` FROM exemptions ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Exemption
	for rows.Next() {
		e, err := scanExemption(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, rows.Err()
}

// RemoveExemption implements [store.Exemptions].
func (s *Store) RemoveExemption(ctx context.Context, id int64) (_ *store.Exemption, err error) {
	defer wrap(&err, "postgres: remove exemption %d", id)
	e, err := scanExemption(s.pool.QueryRow(ctx,
		`DELETE FROM exemptions WHERE id = $1 RETURNING `+exemptionColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	return e, err
}

func scanExemption(row pgx.Row) (*store.Exemption, error) {
	var e store.Exemption
	if err := row.Scan(&e.ID, &e.Module, &e.Versions, &e.Rule, &e.Reason, &e.GrantedBy, &e.CreatedAt, &e.ExpiresAt); err != nil {
		return nil, err
	}
	e.CreatedAt, e.ExpiresAt = e.CreatedAt.UTC(), e.ExpiresAt.UTC()
	return &e, nil
}
