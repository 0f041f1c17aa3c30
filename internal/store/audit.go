package store

import (
	"context"
	"time"
)

// Audit event types.
const (
	AuditFetch    = "fetch"    // a protocol request modgate answered for a module
	AuditChecksum = "checksum" // a checksum mismatch or an unverifiable artifact
	AuditSecurity = "security" // the checksum database misbehaved (forked or rolled-back log)
	AuditAdmin    = "admin"    // an operator changed something (exemptions, tokens, checksums)
)

// Decisions recorded in audit events.
const (
	DecisionServed   = "served"
	DecisionBlocked  = "blocked"
	DecisionNotFound = "not_found"
	DecisionError    = "error"
)

// AuditEvent is one record of the append-only audit log.
type AuditEvent struct {
	// Seq is the record's position in the log, assigned by the store on append.
	Seq  int64
	Time time.Time // UTC
	Type string    // one of the Audit* constants

	// Who: the client.
	ClientToken string // token name once authentication exists
	ClientIP    string
	UserAgent   string

	// What.
	Module  string
	Version string
	Kind    string // list, latest, info, mod, zip, sumdb, or empty

	Decision string   // one of the Decision* constants, or free-form for admin events
	Reasons  []string // why: rule, advisory, hash mismatch, ...
	Source   string   // "cache" or the upstream that served the bytes
	Bytes    int64
	Duration time.Duration
	SBOM     string // id of the SBOM of what was served, if any

	// PrevHash and Hash chain the record to the one before it (hex SHA-256),
	// set by the writer that appends it.
	PrevHash string
	Hash     string
}

// Audit is the append-only audit log.
type Audit interface {
	// AppendAudit appends events in order, assigning each its Seq, and fills in
	// their chain hashes. It is atomic: all or none are appended.
	AppendAudit(ctx context.Context, events []*AuditEvent) error
}
