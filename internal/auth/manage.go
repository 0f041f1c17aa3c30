package auth

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// AuditLog is where token changes are recorded ([store.Audit] is one).
type AuditLog interface {
	AppendAudit(ctx context.Context, events []*store.AuditEvent) error
}

// CreateToken makes a token named name with role, stores its prefix and hash,
// records an admin audit record naming by (who asked; "" for the command line)
// and returns the token, to be shown once, and its record. A live token
// already named name is an error satisfying errors.Is(err, fs.ErrExist). If
// the audit record cannot be written the token is revoked again: a token
// nobody can account for must not work.
func CreateToken(ctx context.Context, st store.Tokens, log AuditLog, name string, role Role, by string) (string, *store.Token, error) {
	if err := CheckName(name); err != nil {
		return "", nil, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", nil, err
	}
	secret, prefix, hash, err := NewToken()
	if err != nil {
		return "", nil, err
	}
	t, err := st.CreateToken(ctx, &store.Token{Name: name, Role: string(role), Prefix: prefix, Hash: hash})
	if err != nil {
		return "", nil, err
	}
	if err := log.AppendAudit(ctx, []*store.AuditEvent{tokenAudit("token created", t, by)}); err != nil {
		if _, rerr := st.RevokeToken(ctx, name, time.Now()); rerr != nil {
			return "", nil, fmt.Errorf("audit record of token %q failed (%v), and so did revoking it: %w", name, err, rerr)
		}
		return "", nil, fmt.Errorf("token not created: its audit record failed: %w", err)
	}
	return secret, t, nil
}

// RevokeToken revokes the live token named name (its sessions end with it)
// and records an admin audit record naming by. No live token of that name is
// an error satisfying errors.Is(err, fs.ErrNotExist). Other replicas stop
// accepting it within their Options.CacheTTL.
func RevokeToken(ctx context.Context, st store.Tokens, log AuditLog, name, by string) (*store.Token, error) {
	t, err := st.RevokeToken(ctx, name, time.Now())
	if err != nil {
		return nil, err
	}
	if err := log.AppendAudit(ctx, []*store.AuditEvent{tokenAudit("token revoked", t, by)}); err != nil {
		return t, fmt.Errorf("token %q revoked, but its audit record failed: %w", name, err)
	}
	return t, nil
}

// tokenAudit is the audit record of a change to t: never the token itself.
func tokenAudit(decision string, t *store.Token, by string) *store.AuditEvent {
	via := "by: " + by
	if by == "" {
		via = "by: the command line (modgate token)"
	}
	return &store.AuditEvent{
		Type: store.AuditAdmin, Decision: decision, ClientToken: by,
		Reasons: []string{"token: " + t.Name, "role: " + t.Role, "prefix: " + t.Prefix, "id: " + strconv.FormatInt(t.ID, 10), via},
	}
}
