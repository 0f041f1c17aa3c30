package store

import (
	"context"
	"errors"
	"time"
)

// Token is the record of an API token. The secret itself is never stored:
// Hash is the SHA-256 of the whole token, and Prefix a short, non-secret part
// of it that finds the row (and lets an operator recognise a leaked token).
type Token struct {
	ID     int64  // assigned by the store, never reused
	Name   string // unique among live (not revoked) tokens
	Role   string // "reader", "auditor" or "admin" (auth.Role); kept verbatim
	Prefix string // non-secret lookup key, e.g. the first characters of the token
	Hash   string // lower-case hex SHA-256 of the token
	// CreatedAt is when it was created (UTC, set by the store if zero).
	CreatedAt time.Time
	// LastUsed is the last recorded use (UTC); zero: never used.
	LastUsed time.Time
	// RevokedAt is when it was revoked (UTC); zero: live.
	RevokedAt time.Time
	// LockedUntil is when the lockout of TokenKey(Prefix) after failed
	// attempts ends (see [AuthFailures]), as TokensByPrefix reports it; zero
	// or past: not locked out. Other methods leave it zero, and CreateToken
	// ignores it.
	LockedUntil time.Time
}

// Validate reports whether the store may keep t: a name, a role, a prefix
// and a SHA-256 hash. (auth checks what names and roles mean.)
func (t *Token) Validate() error {
	switch {
	case t.Name == "":
		return errors.New("token without a name")
	case t.Role == "":
		return errors.New("token without a role")
	case t.Prefix == "":
		return errors.New("token without a prefix")
	case !isSHA256(t.Hash):
		return errors.New("token hash: want 64 lower-case hex digits")
	}
	return nil
}

// Session is a dashboard login: the SHA-256 of the random cookie value (the
// cookie itself is never stored) and the token that logged in.
type Session struct {
	Hash      string    // lower-case hex SHA-256 of the cookie value
	TokenID   int64     // the token the session acts as
	CreatedAt time.Time // UTC, set by the store if zero
	ExpiresAt time.Time // UTC, required
}

// Tokens keeps API tokens and dashboard sessions, shared by every replica.
// Revoking a token keeps its row (token list shows it) and ends its sessions.
type Tokens interface {
	// CreateToken stores t (ID assigned, CreatedAt set to now if zero, times in
	// UTC to the microsecond) and returns the stored record; t is not changed.
	// It fails with an error satisfying errors.Is(err, fs.ErrExist) when a
	// live token already has t.Name, and fails if t.Validate does.
	CreateToken(ctx context.Context, t *Token) (*Token, error)
	// TokensByPrefix returns the tokens, live and revoked, whose Prefix is
	// prefix, ordered by ID, each with the LockedUntil of TokenKey(prefix)
	// (in the same query: authentication reads nothing more); none is
	// (nil, nil).
	TokensByPrefix(ctx context.Context, prefix string) ([]Token, error)
	// ListTokens returns every token, revoked ones included, ordered by ID.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks the live token named name revoked at at, deletes its
	// sessions, and returns the record; fs.ErrNotExist if no live token has
	// that name.
	RevokeToken(ctx context.Context, name string, at time.Time) (*Token, error)
	// TouchToken records that token id was used at at (kept if later than the
	// recorded time). An unknown id is not an error.
	TouchToken(ctx context.Context, id int64, at time.Time) error

	// CreateSession stores s; it fails if s.Hash is not a SHA-256 or
	// s.ExpiresAt is zero. Sessions expired before s.CreatedAt may be deleted
	// on the way.
	CreateSession(ctx context.Context, s *Session) error
	// SessionToken returns the live token of the session whose Hash is hash
	// and which has not expired at now; fs.ErrNotExist otherwise (unknown,
	// expired, deleted or its token revoked).
	SessionToken(ctx context.Context, hash string, now time.Time) (*Token, error)
	// DeleteSession deletes the session; deleting an unknown one is not an error.
	DeleteSession(ctx context.Context, hash string) error
}

// Validate reports whether the store may keep s.
func (s *Session) Validate() error {
	switch {
	case !isSHA256(s.Hash):
		return errors.New("session hash: want 64 lower-case hex digits")
	case s.ExpiresAt.IsZero():
		return errors.New("session without an expiry")
	}
	return nil
}
