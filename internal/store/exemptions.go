package store

import (
	"context"
	"errors"
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

// Validate reports whether the store may keep e: a Module and an ExpiresAt.
// (What the fields mean is checked by policy.CheckExemption before they get
// here; the store keeps the strings verbatim.)
func (e *Exemption) Validate() error {
	switch {
	case e.Module == "":
		return errors.New("exemption without a module")
	case e.ExpiresAt.IsZero():
		return errors.New("exemption without an expiry")
	}
	return nil
}

// Exemptions keeps the exemptions, shared by every replica. Removing one
// deletes it: the audit log, not this role, keeps the history. IDs are
// assigned in increasing order and never reused.
type Exemptions interface {
	// AddExemption stores e (ID assigned, CreatedAt set to now if zero; times
	// kept in UTC to the microsecond) and returns the stored record; e itself
	// is not changed. It fails if e.Validate does.
	AddExemption(ctx context.Context, e *Exemption) (*Exemption, error)
	// ListExemptions returns every exemption not removed, expired ones
	// included (callers compare ExpiresAt with their clock), ordered by ID.
	ListExemptions(ctx context.Context) ([]Exemption, error)
	// RemoveExemption deletes the exemption; fs.ErrNotExist if there is none.
	RemoveExemption(ctx context.Context, id int64) (*Exemption, error)
}
