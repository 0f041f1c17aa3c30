package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Audit event types.
const (
	AuditFetch    = "fetch"    // a protocol request modgate answered for a module
	AuditChecksum = "checksum" // a checksum mismatch or an unverifiable artifact
	AuditSecurity = "security" // the checksum database misbehaved (forked or rolled-back log)
	AuditAdmin    = "admin"    // an operator changed something (exemptions, tokens, checksums, pruning)
	AuditUpstream = "upstream" // a recheck found a version withdrawn upstream, back again, or its origin changed
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
	// Seq is the record's position in the log, assigned by the store on append:
	// 1, 2, 3, ... with no gaps, one sequence for every replica.
	Seq  int64
	Time time.Time // UTC, microseconds; set by the store on append if zero
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
	Reasons  []string // why: rule, advisory, hash mismatch, ...; empty reads back nil
	Source   string   // "cache" or the upstream that served the bytes
	Bytes    int64
	Duration time.Duration
	SBOM     string // id of the SBOM of what was served, if any

	// PrevHash and Hash chain the record to the one before it (lower-case hex
	// SHA-256, see [AuditHash]), set by the store when it appends the record.
	// The first record's PrevHash is empty.
	PrevHash string
	Hash     string
}

// AuditQuery selects audit records. Every non-zero field narrows the
// selection; the zero AuditQuery selects every record.
type AuditQuery struct {
	Since time.Time // records with Time >= Since
	Until time.Time // records with Time < Until
	// Module and Version match exactly (Version only together with Module or alone).
	Module  string
	Version string
	// Client matches ClientToken or ClientIP exactly.
	Client   string
	Decision string
	Type     string
	// Kind matches the artifact kind exactly ("zip", "mod", "info", ...).
	Kind string
	// AfterSeq selects records with Seq > AfterSeq: the cursor of keyset
	// pagination (pass the last Seq of the previous page).
	AfterSeq int64
	// ThroughSeq, if positive, selects records with Seq <= ThroughSeq.
	ThroughSeq int64
	// Limit is the most records one call returns: 0 means 1000, and more than
	// MaxAuditPage means MaxAuditPage.
	Limit int
}

// MaxAuditPage is the most records [Audit.AuditEvents] returns at once.
const MaxAuditPage = 10000

// PageLimit returns q.Limit as the drivers apply it.
func (q AuditQuery) PageLimit() int {
	switch {
	case q.Limit <= 0:
		return 1000
	case q.Limit > MaxAuditPage:
		return MaxAuditPage
	}
	return q.Limit
}

// AuditChain is the state of the chain kept beside the records: its head (the
// last record appended) and its anchor (the last record pruned). A verifier
// starts at the anchor and must end at the head, so removing records at either
// end of the log shows.
type AuditChain struct {
	HeadSeq    int64  // Seq of the last record appended; 0 if none ever was
	HeadHash   string // its Hash
	AnchorSeq  int64  // Seq of the last record pruned; 0 if none was
	AnchorHash string // its Hash: the PrevHash of record AnchorSeq+1
	// AnchorTime is the Time of the last record pruned (zero if none).
	AnchorTime time.Time
}

// Audit is the append-only audit log: one hash chain in the database, shared
// by every replica.
type Audit interface {
	// AppendAudit appends events in order, assigning each its Seq, normalising
	// it as [SealAudit] describes and filling in its chain hashes: it changes
	// the events in place. It is atomic: all or none are appended. Appends from
	// any number of goroutines and processes on one database form one chain.
	// Appending no events does nothing.
	AppendAudit(ctx context.Context, events []*AuditEvent) error
	// AuditEvents returns up to q.PageLimit() records matching q in Seq
	// order, or none (nil, nil). Page through a selection by passing the last
	// Seq returned as the next query's AfterSeq.
	AuditEvents(ctx context.Context, q AuditQuery) ([]*AuditEvent, error)
	// AuditChain returns the chain's head and anchor.
	AuditChain(ctx context.Context) (AuditChain, error)
	// PruneAudit deletes the oldest records while each has Time before
	// before, at most max of them (max <= 0 means 10000), stopping at the
	// first record that is not older, so the records kept are always a
	// contiguous suffix of the chain. It moves the anchor to the last record
	// deleted, in the same transaction. It returns how many it deleted; call
	// it until that is 0.
	PruneAudit(ctx context.Context, before time.Time, max int) (int64, error)
}

// AuditSpools keeps how far each audit spool is in the log. A spool is one
// process's write-ahead file of audit records, acknowledged to their requests
// before they are appended (see internal/audit); its records are numbered 1,
// 2, 3, ... and appended in order.
type AuditSpools interface {
	// AppendAuditSpooled is AppendAudit that also records, in the same
	// transaction, that spool's records up to number through are appended
	// (through never moves back). A spool replayed after a crash appends
	// only records after [AuditSpools.AuditSpoolMark], each once.
	AppendAuditSpooled(ctx context.Context, spool string, through int64, events []*AuditEvent) error
	// AuditSpoolMark returns the highest through recorded for spool, or 0.
	AuditSpoolMark(ctx context.Context, spool string) (int64, error)
}

// SealAudit prepares e to be appended as record seq after a record whose hash
// is prev: it sets Seq and PrevHash, sets a zero Time to now, stores Time in
// UTC truncated to microseconds (what both databases keep), replaces invalid
// UTF-8 and NUL bytes in its strings with U+FFFD (PostgreSQL text holds
// neither), drops an empty Reasons, and sets Hash to [AuditHash] of the result.
// Every driver seals with this function, so the drivers build identical chains.
func SealAudit(e *AuditEvent, seq int64, prev string, now time.Time) {
	e.Seq = seq
	e.PrevHash = prev
	if e.Time.IsZero() {
		e.Time = now
	}
	NormalizeAudit(e)
	e.Hash = AuditHash(e)
}

// NormalizeAudit is the part of [SealAudit] that does not depend on the
// chain: it stores a non-zero Time in UTC truncated to microseconds, replaces
// invalid UTF-8 and NUL bytes in e's strings with U+FFFD and drops an empty
// Reasons. A normalized record is unchanged by it and by a round trip through
// JSON, so a copy kept outside the database (the audit spool) appends as the
// original would have.
func NormalizeAudit(e *AuditEvent) {
	if !e.Time.IsZero() {
		e.Time = e.Time.UTC().Truncate(time.Microsecond)
	}
	for _, p := range []*string{&e.Type, &e.ClientToken, &e.ClientIP, &e.UserAgent, &e.Module,
		&e.Version, &e.Kind, &e.Decision, &e.Source, &e.SBOM} {
		*p = cleanText(*p)
	}
	if len(e.Reasons) == 0 {
		e.Reasons = nil
		return
	}
	// The slice is replaced, never written to: a caller's (a decision's
	// reasons, shared by every request it answers) stays as it was.
	for i, s := range e.Reasons {
		if c := cleanText(s); c != s {
			r := slices.Clone(e.Reasons)
			for j := i; j < len(r); j++ {
				r[j] = cleanText(r[j])
			}
			e.Reasons = r
			return
		}
	}
}

func cleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s // the usual case, without ToValidUTF8's rune by rune scan
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}

// auditHashTag starts the hashed encoding of every record; a change of the
// encoding must change the tag.
const auditHashTag = "modgate audit record v1\n"

// AuditHash returns the chain hash of e: the lower-case hex SHA-256 of this
// canonical encoding of every field but Hash itself:
//
//	"modgate audit record v1\n"
//	int(Seq)
//	int(Time as Unix microseconds)
//	str(Type) str(ClientToken) str(ClientIP) str(UserAgent)
//	str(Module) str(Version) str(Kind) str(Decision)
//	int(len(Reasons)) str(Reasons[0]) ... str(Reasons[n-1])
//	str(Source) int(Bytes) int(Duration in nanoseconds) str(SBOM)
//	str(PrevHash)
//
// where int(x) is x as 8 bytes, big-endian two's complement, and str(s) is
// int(len(s)) followed by the bytes of s. Every field has a fixed position
// and every string its length, so no two different records encode alike.
// The hash of a record whose Time has more than microsecond precision is not
// the hash of the record the store keeps: seal records with [SealAudit].
func AuditHash(e *AuditEvent) string {
	// The encoding is built in one buffer and hashed at once: the hash.Hash
	// writes it replaces cost an allocation per field on the request path.
	var stack [512]byte
	b := append(stack[:0], auditHashTag...)
	b = appendInt(b, e.Seq)
	b = appendInt(b, e.Time.UnixMicro())
	for _, s := range [...]string{e.Type, e.ClientToken, e.ClientIP, e.UserAgent, e.Module, e.Version, e.Kind, e.Decision} {
		b = appendStr(b, s)
	}
	b = appendInt(b, int64(len(e.Reasons)))
	for _, s := range e.Reasons {
		b = appendStr(b, s)
	}
	b = appendStr(b, e.Source)
	b = appendInt(b, e.Bytes)
	b = appendInt(b, int64(e.Duration))
	b = appendStr(b, e.SBOM)
	b = appendStr(b, e.PrevHash)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func appendInt(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func appendStr(b []byte, s string) []byte {
	return append(appendInt(b, int64(len(s))), s...)
}

// AuditCheckpoint is a signed statement of the audit chain's size and head:
// the chain had Size records (Seq 1 to Size, pruned ones included) and record
// Size's Hash was Hash. Note is the signed text (golang.org/x/mod/sumdb/note
// format) that says so; internal/audit makes and checks it.
type AuditCheckpoint struct {
	Size int64
	Hash string
	// Time is when it was signed (UTC, microseconds; set by the store if zero).
	Time time.Time
	Note []byte
}

// AuditCheckpoints keeps the signed checkpoints of the audit chain, so the
// latest can be served and pruning can restate the records they name.
type AuditCheckpoints interface {
	// PutAuditCheckpoint stores c. Checkpoints are never replaced: storing
	// several of one size is allowed.
	PutAuditCheckpoint(ctx context.Context, c *AuditCheckpoint) error
	// LatestAuditCheckpoint returns the checkpoint stored last, or an error
	// satisfying errors.Is(err, fs.ErrNotExist) if there is none.
	LatestAuditCheckpoint(ctx context.Context) (*AuditCheckpoint, error)
	// AuditCheckpoints returns the checkpoints with afterSize < Size <=
	// throughSize, ordered by Size then Time, or none (nil, nil).
	AuditCheckpoints(ctx context.Context, afterSize, throughSize int64) ([]*AuditCheckpoint, error)
}
