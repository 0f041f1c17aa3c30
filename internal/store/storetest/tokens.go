package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/modgate/modgate/internal/store"
)

// tokenTests are the conformance cases of the Tokens role.
var tokenTests = []testCase{
	{"TokenRoundTrip", testTokenRoundTrip},
	{"TokenNameUniqueAmongLive", testTokenNameUniqueAmongLive},
	{"TokenRevoke", testTokenRevoke},
	{"TokenTouch", testTokenTouch},
	{"TokenInvalid", testTokenInvalid},
	{"Session", testSession},
}

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func newToken(name, role, secret string) *store.Token {
	return &store.Token{Name: name, Role: role, Prefix: secret[:6], Hash: hashOf(secret)}
}

func testTokenRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if got, err := s.ListTokens(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ListTokens of an empty store = %v, %v; want none, nil", got, err)
	}
	created := time.Date(2025, 3, 1, 8, 0, 0, 123456789, time.FixedZone("UTC+5", 5*3600))
	in := []store.Token{
		{Name: "ci-payments", Role: "reader", Prefix: "abcdef", Hash: hashOf("a"), CreatedAt: created},
		{Name: "security", Role: "auditor", Prefix: "abcdef", Hash: hashOf("b"), CreatedAt: created},
		{Name: hostile, Role: hostile, Prefix: hostile, Hash: hashOf("c"), CreatedAt: created,
			LastUsed: created.Add(time.Hour)},
	}
	var want []store.Token
	var lastID int64
	for _, tok := range in {
		arg := tok
		got, err := s.CreateToken(ctx, &arg)
		if err != nil {
			t.Fatalf("CreateToken(%+v): %v", tok, err)
		}
		if diff := cmp.Diff(tok, arg); diff != "" {
			t.Errorf("CreateToken changed its argument (-before +after):\n%s", diff)
		}
		if got.ID <= lastID {
			t.Errorf("CreateToken assigned ID %d after %d, want increasing IDs", got.ID, lastID)
		}
		lastID = got.ID
		w := tok
		w.ID = got.ID
		w.CreatedAt = tok.CreatedAt.UTC().Truncate(time.Microsecond)
		if !tok.LastUsed.IsZero() {
			w.LastUsed = tok.LastUsed.UTC().Truncate(time.Microsecond)
		}
		if diff := cmp.Diff(w, *got); diff != "" {
			t.Errorf("CreateToken returned (-want +got):\n%s", diff)
		}
		want = append(want, w)
	}
	got, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatalf("ListTokens: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListTokens (-want +got):\n%s", diff)
	}
	for _, tok := range got {
		if !isUTC(tok.CreatedAt) {
			t.Errorf("token %d: CreatedAt %v not in UTC", tok.ID, tok.CreatedAt)
		}
	}
	byPrefix, err := s.TokensByPrefix(ctx, "abcdef")
	if err != nil {
		t.Fatalf("TokensByPrefix: %v", err)
	}
	if diff := cmp.Diff(want[:2], byPrefix); diff != "" {
		t.Errorf("TokensByPrefix(abcdef) (-want +got):\n%s", diff)
	}
	if none, err := s.TokensByPrefix(ctx, "nosuch"); err != nil || len(none) != 0 {
		t.Errorf("TokensByPrefix(nosuch) = %v, %v; want none, nil", none, err)
	}
	// The default CreatedAt is now.
	before := time.Now().Add(-time.Second)
	tok, err := s.CreateToken(ctx, newToken("now", "admin", "nowsecret"))
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if !isUTC(tok.CreatedAt) || tok.CreatedAt.Before(before) || tok.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("CreatedAt = %v, want about now, in UTC", tok.CreatedAt)
	}
}

func testTokenNameUniqueAmongLive(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	first, err := s.CreateToken(ctx, newToken("ci", "reader", "secret1"))
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if _, err := s.CreateToken(ctx, newToken("ci", "admin", "secret2")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateToken of a live name: got %v, want fs.ErrExist", err)
	}
	if _, err := s.RevokeToken(ctx, "ci", time.Now()); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	second, err := s.CreateToken(ctx, newToken("ci", "admin", "secret3"))
	if err != nil {
		t.Fatalf("CreateToken of a revoked name: %v", err)
	}
	if second.ID == first.ID {
		t.Errorf("the new token reused ID %d", first.ID)
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListTokens = %v, %v; want the revoked and the live token", list, err)
	}
}

func testTokenRevoke(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	tok, err := s.CreateToken(ctx, newToken("ci", "reader", "secret1"))
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	at := time.Date(2025, 5, 1, 0, 0, 0, 999999999, time.FixedZone("X", 3600))
	got, err := s.RevokeToken(ctx, "ci", at)
	if err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	want := *tok
	want.RevokedAt = at.UTC().Truncate(time.Microsecond)
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("RevokeToken returned (-want +got):\n%s", diff)
	}
	if _, err := s.RevokeToken(ctx, "ci", at); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RevokeToken of a revoked token: got %v, want fs.ErrNotExist", err)
	}
	if _, err := s.RevokeToken(ctx, "nosuch", at); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RevokeToken of an unknown token: got %v, want fs.ErrNotExist", err)
	}
	list, err := s.TokensByPrefix(ctx, tok.Prefix)
	if err != nil || len(list) != 1 || list[0].RevokedAt.IsZero() {
		t.Errorf("TokensByPrefix after revoking = %+v, %v; want the revoked token", list, err)
	}
}

func testTokenTouch(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	tok, err := s.CreateToken(ctx, newToken("ci", "reader", "secret1"))
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	t1 := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{t1, t1.Add(-time.Hour)} { // an older time does not win
		if err := s.TouchToken(ctx, tok.ID, at); err != nil {
			t.Fatalf("TouchToken: %v", err)
		}
	}
	if err := s.TouchToken(ctx, tok.ID+1000, t1); err != nil {
		t.Errorf("TouchToken of an unknown id: %v", err)
	}
	list, err := s.ListTokens(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListTokens = %v, %v", list, err)
	}
	if !list[0].LastUsed.Equal(t1) || !isUTC(list[0].LastUsed) {
		t.Errorf("LastUsed = %v, want %v", list[0].LastUsed, t1)
	}
}

func testTokenInvalid(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for name, tok := range map[string]store.Token{
		"no name":   {Role: "reader", Prefix: "p", Hash: hashOf("x")},
		"no role":   {Name: "n", Prefix: "p", Hash: hashOf("x")},
		"no prefix": {Name: "n", Role: "reader", Hash: hashOf("x")},
		"bad hash":  {Name: "n", Role: "reader", Prefix: "p", Hash: "secret"},
	} {
		if _, err := s.CreateToken(ctx, &tok); err == nil {
			t.Errorf("CreateToken(%s) succeeded", name)
		}
	}
	if err := s.CreateSession(ctx, &store.Session{Hash: "cookie", TokenID: 1, ExpiresAt: time.Now()}); err == nil {
		t.Errorf("CreateSession with a bad hash succeeded")
	}
	if list, _ := s.ListTokens(ctx); len(list) != 0 {
		t.Errorf("invalid tokens were stored: %v", list)
	}
}

func testSession(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	tok, err := s.CreateToken(ctx, newToken("alice", "admin", "secret1"))
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	now := time.Now()
	live := &store.Session{Hash: hashOf("cookie1"), TokenID: tok.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	expired := &store.Session{Hash: hashOf("cookie2"), TokenID: tok.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}
	for _, sess := range []*store.Session{expired, live} {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	got, err := s.SessionToken(ctx, live.Hash, now)
	if err != nil {
		t.Fatalf("SessionToken: %v", err)
	}
	if diff := cmp.Diff(tok, got); diff != "" {
		t.Errorf("SessionToken (-want +got):\n%s", diff)
	}
	for name, h := range map[string]string{"expired": expired.Hash, "unknown": hashOf("nosuch")} {
		if _, err := s.SessionToken(ctx, h, now); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("SessionToken(%s) = %v, want fs.ErrNotExist", name, err)
		}
	}
	if _, err := s.SessionToken(ctx, live.Hash, now.Add(2*time.Hour)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SessionToken after expiry = %v, want fs.ErrNotExist", err)
	}
	// Logout deletes the session; deleting again is fine.
	for range 2 {
		if err := s.DeleteSession(ctx, live.Hash); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
	}
	if _, err := s.SessionToken(ctx, live.Hash, now); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SessionToken after DeleteSession = %v, want fs.ErrNotExist", err)
	}
	// Revoking the token ends its sessions.
	again := &store.Session{Hash: hashOf("cookie3"), TokenID: tok.ID, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, again); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if _, err := s.RevokeToken(ctx, "alice", now); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if _, err := s.SessionToken(ctx, again.Hash, now); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SessionToken of a revoked token = %v, want fs.ErrNotExist", err)
	}
}
