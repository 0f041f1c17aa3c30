package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/modgate/modgate/internal/store"
)

const tokenColumns = `id, name, role, prefix, hash, created_at, last_used_at, revoked_at`

// CreateToken implements [store.Tokens].
func (s *Store) CreateToken(ctx context.Context, t *store.Token) (_ *store.Token, err error) {
	defer wrap(&err, "sqlite: create token %q", t.Name)
	if err := t.Validate(); err != nil {
		return nil, err
	}
	out := *t
	if out.CreatedAt.IsZero() {
		out.CreatedAt = time.Now()
	}
	out.CreatedAt, out.LastUsed, out.RevokedAt = normTime(out.CreatedAt), normZero(out.LastUsed), normZero(out.RevokedAt)
	err = s.write.QueryRowContext(ctx,
		`INSERT INTO tokens (name, role, prefix, hash, created_at, last_used_at, revoked_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
		out.Name, out.Role, out.Prefix, out.Hash, out.CreatedAt.Format(timeFormat),
		nullTime(out.LastUsed), nullTime(out.RevokedAt)).Scan(&out.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("a live token is named %q: %w", t.Name, fs.ErrExist)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// TokensByPrefix implements [store.Tokens].
func (s *Store) TokensByPrefix(ctx context.Context, prefix string) (_ []store.Token, err error) {
	defer wrap(&err, "sqlite: tokens by prefix")
	rows, err := s.read.QueryContext(ctx,
		`SELECT t.id, t.name, t.role, t.prefix, t.hash, t.created_at, t.last_used_at, t.revoked_at, f.locked_until
		 FROM tokens t LEFT JOIN auth_failures f ON f.key = 'token:' || t.prefix
		 WHERE t.prefix = ? ORDER BY t.id`, prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var locked sql.NullString
		t, err := scanToken(rows, &locked)
		if err != nil {
			return nil, err
		}
		if locked.Valid {
			if t.LockedUntil, err = parseTime(locked.String); err != nil {
				return nil, err
			}
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// ListTokens implements [store.Tokens].
func (s *Store) ListTokens(ctx context.Context) (_ []store.Token, err error) {
	defer wrap(&err, "sqlite: list tokens")
	return s.queryTokens(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY id`)
}

func (s *Store) queryTokens(ctx context.Context, q string, args ...any) ([]store.Token, error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// RevokeToken implements [store.Tokens].
func (s *Store) RevokeToken(ctx context.Context, name string, at time.Time) (_ *store.Token, err error) {
	defer wrap(&err, "sqlite: revoke token %q", name)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	t, err := scanToken(tx.QueryRowContext(ctx,
		`UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL RETURNING `+tokenColumns,
		normTime(at).Format(timeFormat), name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_id = ?`, t.ID); err != nil {
		return nil, err
	}
	return t, tx.Commit()
}

// TouchToken implements [store.Tokens].
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) (err error) {
	defer wrap(&err, "sqlite: touch token %d", id)
	ts := normTime(at).Format(timeFormat)
	_, err = s.write.ExecContext(ctx,
		`UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, ts, id, ts)
	return err
}

// CreateSession implements [store.Tokens].
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) (err error) {
	defer wrap(&err, "sqlite: create session")
	if err := sess.Validate(); err != nil {
		return err
	}
	created := sess.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = normTime(created)
	if _, err := s.write.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at < ?`, created.Format(timeFormat)); err != nil {
		return err
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO sessions (hash, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		sess.Hash, sess.TokenID, created.Format(timeFormat), normTime(sess.ExpiresAt).Format(timeFormat))
	return err
}

// SessionToken implements [store.Tokens].
func (s *Store) SessionToken(ctx context.Context, hash string, now time.Time) (_ *store.Token, err error) {
	defer wrap(&err, "sqlite: session")
	t, err := scanToken(s.read.QueryRowContext(ctx,
		`SELECT t.id, t.name, t.role, t.prefix, t.hash, t.created_at, t.last_used_at, t.revoked_at
		 FROM sessions s JOIN tokens t ON t.id = s.token_id
		 WHERE s.hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL`,
		hash, normTime(now).Format(timeFormat)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	return t, err
}

// DeleteSession implements [store.Tokens].
func (s *Store) DeleteSession(ctx context.Context, hash string) (err error) {
	defer wrap(&err, "sqlite: delete session")
	_, err = s.write.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash)
	return err
}

// scanToken scans the columns of tokenColumns, then into extra.
func scanToken(row interface{ Scan(...any) error }, extra ...any) (*store.Token, error) {
	var t store.Token
	var created string
	var used, revoked sql.NullString
	if err := row.Scan(append([]any{&t.ID, &t.Name, &t.Role, &t.Prefix, &t.Hash, &created, &used, &revoked}, extra...)...); err != nil {
		return nil, err
	}
	var err error
	if t.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if used.Valid {
		if t.LastUsed, err = parseTime(used.String); err != nil {
			return nil, err
		}
	}
	if revoked.Valid {
		if t.RevokedAt, err = parseTime(revoked.String); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// normZero is normTime that keeps the zero time zero.
func normZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return normTime(t)
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Format(timeFormat)
}
