package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Tokens look like "mgt_" followed by 43 base64url characters: 32 random
// bytes, so guessing one is hopeless and a fast hash (SHA-256) is the right
// way to store it (a slow password hash protects low-entropy secrets; a token
// has none to protect). The first PrefixLen characters after "mgt_" are kept
// in the clear as the row's lookup key and shown by `modgate token list`, so
// a leaked token can be recognised; 43-8 characters (208 bits) stay secret.
const (
	tokenMark = "mgt_"
	secretLen = 43 // base64url of 32 bytes, unpadded
	PrefixLen = 8
)

// NewToken returns a new random token, its lookup prefix and its hash. The
// token is shown once; only prefix and hash are stored.
func NewToken() (token, prefix, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", "", fmt.Errorf("new token: %w", err)
	}
	token = tokenMark + base64.RawURLEncoding.EncodeToString(b[:])
	prefix, _ = Prefix(token)
	return token, prefix, Hash(token), nil
}

// Prefix returns the lookup prefix of token, and false if token is not
// shaped like one modgate issues (then no stored token can match it).
func Prefix(token string) (string, bool) {
	secret, ok := strings.CutPrefix(token, tokenMark)
	if !ok || len(secret) != secretLen {
		return "", false
	}
	for _, c := range []byte(secret) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return secret[:PrefixLen], true
}

// Hash returns the lower-case hex SHA-256 of s, as tokens and session
// cookies are stored.
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// CheckName reports whether name may name a token: 1 to 64 characters among
// letters, digits, '.', '_', '-' and '@'. Names appear in audit records, logs
// and listings, and conventionally as the user name in GOPROXY URLs and
// .netrc, so they stay plain.
func CheckName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("token name %q: want 1 to 64 characters", name)
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("._-@", c)) {
			return fmt.Errorf("token name %q: only letters, digits, '.', '_', '-' and '@' are allowed", name)
		}
	}
	return nil
}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if rank(r) == 0 {
		return "", fmt.Errorf("role %q: want reader, auditor or admin", s)
	}
	return r, nil
}
