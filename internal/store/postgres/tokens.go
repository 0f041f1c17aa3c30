package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modgate/modgate/internal/store"
)

const tokenColumns = `id, name, role, prefix, hash, created_at, last_used_at, revoked_at`

// CreateToken implements [store.Tokens].
func (s *Store) CreateToken(ctx context.Context, t *store.Token) (_ *store.Token, err error) {
	defer wrap(&err, "postgres: create token %q", t.Name)
	if err := t.Validate(); err != nil {
		return nil, err
	}
	out := *t
	if out.CreatedAt.IsZero() {
		out.CreatedAt = time.Now()
	}
	out.CreatedAt, out.LastUsed, out.RevokedAt = normTime(out.CreatedAt), normZero(out.LastUsed), normZero(out.RevokedAt)
	err = s.pool.QueryRow(ctx,
		`INSERT INTO tokens (name, role, prefix, hash, created_at, last_used_at, revoked_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING id`,
		out.Name, out.Role, out.Prefix, out.Hash, out.CreatedAt, nullTime(out.LastUsed), nullTime(out.RevokedAt)).Scan(&out.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("a live token is named %q: %w", t.Name, fs.ErrExist)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// TokensByPrefix implements [store.Tokens].
func (s *Store) TokensByPrefix(ctx context.Context, prefix string) (_ []store.Token, err error) {
	defer wrap(&err, "postgres: tokens by prefix")
	rows, err := s.pool.Query(ctx,
		`SELECT t.id, t.name, t.role, t.prefix, t.hash, t.created_at, t.last_used_at, t.revoked_at, f.locked_until
		 FROM tokens t LEFT JOIN auth_failures f ON f.key = 'token:' || t.prefix
		 WHERE t.prefix = $1 ORDER BY t.id`, prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var locked *time.Time
		t, err := scanToken(rows, &locked)
		if err != nil {
			return nil, err
		}
		t.LockedUntil = fromNullTime(locked)
		out = append(out, *t)
	}
	return out, rows.Err()
}

// ListTokens implements [store.Tokens].
func (s *Store) ListTokens(ctx context.Context) (_ []store.Token, err error) {
	defer wrap(&err, "postgres: list tokens")
	return s.queryTokens(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY id`)
}

func (s *Store) queryTokens(ctx context.Context, q string, args ...any) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, q, args...)
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
	defer wrap(&err, "postgres: revoke token %q", name)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	t, err := scanToken(tx.QueryRow(ctx,
		`UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL RETURNING `+tokenColumns,
		normTime(at), name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE token_id = $1`, t.ID); err != nil {
		return nil, err
	}
	return t, tx.Commit(ctx)
}

// TouchToken implements [store.Tokens].
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) (err error) {
	defer wrap(&err, "postgres: touch token %d", id)
	_, err = s.pool.Exec(ctx,
		`UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)`,
		normTime(at), id)
	return err
}

// CreateSession implements [store.Tokens].
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) (err error) {
	defer wrap(&err, "postgres: create session")
	if err := sess.Validate(); err != nil {
		return err
	}
	created := sess.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	created = normTime(created)
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < $1`, created); err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx,
		`INSERT INTO sessions (hash, token_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		sess.Hash, sess.TokenID, created, normTime(sess.ExpiresAt))
	return err
}

// SessionToken implements [store.Tokens].
func (s *Store) SessionToken(ctx context.Context, hash string, now time.Time) (_ *store.Token, err error) {
	defer wrap(&err, "postgres: session")
	t, err := scanToken(s.pool.QueryRow(ctx,
		`SELECT t.id, t.name, t.role, t.prefix, t.hash, t.created_at, t.last_used_at, t.revoked_at
		 FROM sessions s JOIN tokens t ON t.id = s.token_id
		 WHERE s.hash = $1 AND s.expires_at > $2 AND t.revoked_at IS NULL`,
		hash, normTime(now)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	return t, err
}

// DeleteSession implements [store.Tokens].
func (s *Store) DeleteSession(ctx context.Context, hash string) (err error) {
	defer wrap(&err, "postgres: delete session")
	_, err = s.pool.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash)
	return err
}

// scanToken scans the columns of tokenColumns, then into extra.
func scanToken(row pgx.Row, extra ...any) (*store.Token, error) {
	var t store.Token
	var used, revoked *time.Time
	if err := row.Scan(append([]any{&t.ID, &t.Name, &t.Role, &t.Prefix, &t.Hash, &t.CreatedAt, &used, &revoked}, extra...)...); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	if used != nil {
		t.LastUsed = used.UTC()
	}
	if revoked != nil {
		t.RevokedAt = revoked.UTC()
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
