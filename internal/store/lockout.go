package store

import (
	"context"
	"time"
)

// AuthFailure is the count of failed authentications of one key, shared by
// every replica and kept across restarts, so that a client guessing
// credentials is slowed down fleet-wide (internal/auth decides what a count
// means; the store only counts).
//
// A key is a kind and a value: [AddressKey] for a client address and
// [TokenKey] for the stored tokens a presented token's prefix names.
type AuthFailure struct {
	Key string
	// Count is the number of failures counted since the count (re)started.
	Count int
	// Last is when the last counted failure happened (UTC); zero: none.
	Last time.Time
	// LockedUntil is when the key's lockout ends (UTC); zero or not after
	// the time asked about: not locked out.
	LockedUntil time.Time
}

// AddressKey is the failure key of a client address (or address block).
func AddressKey(addr string) string { return "addr:" + addr }

// TokenKey is the failure key of the tokens whose lookup prefix is prefix;
// [Tokens.TokensByPrefix] reports its lockout in [Token.LockedUntil].
func TokenKey(prefix string) string { return "token:" + prefix }

// AuthFailures counts failed authentications per key. Only failures write:
// a successful authentication reads nothing here (the lockout of a token's
// key comes with [Tokens.TokensByPrefix]).
type AuthFailures interface {
	// AuthFailure returns the state of key. A key with no recorded failure
	// is AuthFailure{Key: key} and no error.
	AuthFailure(ctx context.Context, key string) (AuthFailure, error)
	// AddAuthFailure counts one failure of key at now, unless key is locked
	// out at now (LockedUntil after now): then nothing changes and counted
	// is false. The count starts again from 1 when the last failure was
	// before restart. After counting, if lock(Count) > 0, the key is locked
	// out until now+lock(Count), unless it already is for longer. It returns
	// the key's state after the call. Failures counted at the same time by
	// several processes are each counted.
	AddAuthFailure(ctx context.Context, key string, now, restart time.Time, lock func(count int) time.Duration) (f AuthFailure, counted bool, err error)
	// PruneAuthFailures deletes the keys whose last failure and lockout end
	// are both before before, and returns how many it deleted.
	PruneAuthFailures(ctx context.Context, before time.Time) (int64, error)
}
