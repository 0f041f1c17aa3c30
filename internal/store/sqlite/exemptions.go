package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"time"

	"github.com/modgate/modgate/internal/store"
)

const exemptionColumns = `id, module, versions, rule, reason, granted_by, created_at, expires_at`

// AddExemption implements [store.Exemptions].
func (s *Store) AddExemption(ctx context.Context, e *store.Exemption) (_ *store.Exemption, err error) {
	defer wrap(&err, "sqlite: add exemption for %s", e.Module)
	if err := e.Validate(); err != nil {
		return nil, err
	}
	out := *e
	if out.CreatedAt.IsZero() {
		out.CreatedAt = time.Now()
	}
	out.CreatedAt, out.ExpiresAt = normTime(out.CreatedAt), normTime(out.ExpiresAt)
	err = s.write.QueryRowContext(ctx,
		`INSERT INTO exemptions (module, versions, rule, reason, granted_by, created_at, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		out.Module, out.Versions, out.Rule, out.Reason, out.GrantedBy,
		out.CreatedAt.Format(timeFormat), out.ExpiresAt.Format(timeFormat)).Scan(&out.ID)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListExemptions implements [store.Exemptions].
func (s *Store) ListExemptions(ctx context.Context) (_ []store.Exemption, err error) {
	defer wrap(&err, "sqlite: list exemptions")
	rows, err := s.read.QueryContext(ctx, `SELECT `+exemptionColumns+` FROM exemptions ORDER BY id`)
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
	defer wrap(&err, "sqlite: remove exemption %d", id)
	e, err := scanExemption(s.write.QueryRowContext(ctx,
		`DELETE FROM exemptions WHERE id = ? RETURNING `+exemptionColumns, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	return e, err
}

func scanExemption(row interface{ Scan(...any) error }) (*store.Exemption, error) {
	var e store.Exemption
	var created, expires string
	if err := row.Scan(&e.ID, &e.Module, &e.Versions, &e.Rule, &e.Reason, &e.GrantedBy, &created, &expires); err != nil {
		return nil, err
	}
	var err error
	if e.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if e.ExpiresAt, err = parseTime(expires); err != nil {
		return nil, err
	}
	return &e, nil
}
