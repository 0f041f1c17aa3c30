package store

import (
	"context"
	"time"
)

// Exemption waives policy findings for a module's versions until it expires.
type Exemption struct {
	ID int64 // assigned by the store
	// Module is a module path, or a path pattern in GOPRIVATE syntax
	// ("corp.example.com/*").
	Module string
	// Versions is "" for every version, an exact version ("v1.2.3"), or a
	// range of comparisons joined by commas (">=v1.2.0,<v1.3.0").
	Versions string
	// Rule is "" for every rule, a rule name ("vulnerabilities", "min_age",
	// "licenses.deny", ...) or an advisory id or alias (GO-..., CVE-..., GHSA-...).
	Rule      string
	Reason    string
	GrantedBy string
	CreatedAt time.Time // UTC, set by the store if zero
	ExpiresAt time.Time // UTC, required: expired exemptions stop applying by themselves
}

// Exemptions keeps the exemptions, shared by every replica.
type Exemptions interface {
	// AddExemption stores e (ID and CreatedAt assigned) and returns it.
	AddExemption(ctx context.Context, e *Exemption) (*Exemption, error)
	// ListExemptions returns every exemption not removed, expired ones
	// included (callers compare ExpiresAt with their clock), ordered by ID.
	ListExemptions(ctx context.Context) ([]Exemption, error)
	// RemoveExemption deletes the exemption; fs.ErrNotExist if there is none.
	RemoveExemption(ctx context.Context, id int64) (*Exemption, error)
}
