package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/module"
)

// Checksum sources.
const (
	// SourceSumDB prefixes the name of the checksum database that vouched for a
	// hash ("sumdb:sum.golang.org").
	SourceSumDB = "sumdb:"
	// SourceTOFU marks a private module's hash recorded the first time it was
	// fetched (trust on first use).
	SourceTOFU = "tofu"
	// SourceGoSum prefixes the file a hash was imported from ("go.sum:/path").
	SourceGoSum = "go.sum:"
)

// Checksum is the known-good h1: hash of a module version's zip or go.mod. Once
// recorded it never changes: every later ingest of that artifact must match it.
type Checksum struct {
	Module module.Version
	Kind   Kind   // KindZip or KindMod
	Hash   string // "h1:..." as in go.sum
	// Source says who vouched for the hash: SourceSumDB+name, SourceTOFU, or
	// SourceGoSum+file.
	Source string
	// Upstream is where the bytes came from when the hash was recorded ("" for
	// imports); Client is who asked for them.
	Upstream string
	Client   string
	// CreatedAt is when the hash was recorded (UTC, set by the store if zero).
	CreatedAt time.Time
	// Corrupt is set by [Sums.EachChecksum] on a row that is not a record
	// the store could have written (edited behind modgate's back): such a
	// pin vouches for nothing. The other fields hold what could be read.
	Corrupt *CorruptChecksumError
}

// CorruptChecksumError reports a row of the checksum store that cannot be read
// as a record the store could have written: a column that does not parse, a
// hash that is not "h1:" and base64, an empty source. Only an edit behind
// modgate's back makes one, so its pin vouches for nothing.
type CorruptChecksumError struct {
	Module module.Version
	Kind   Kind
	Detail string // which column is wrong and how
}

func (e *CorruptChecksumError) Error() string {
	return fmt.Sprintf("checksum store row %s %s .%s cannot be read: %s", e.Module.Path, e.Module.Version, e.Kind, e.Detail)
}

// CheckStored checks a row read back from the checksum store (c, and
// timeErr, the driver's failure to read its created_at, if any) and returns
// a *CorruptChecksumError if it is not a record the store could have written.
func CheckStored(c *Checksum, timeErr error) *CorruptChecksumError {
	var detail string
	if err := c.Validate(); err != nil {
		detail = err.Error()
	} else if timeErr != nil {
		detail = "created_at: " + timeErr.Error()
	}
	if detail == "" {
		return nil
	}
	return &CorruptChecksumError{Module: c.Module, Kind: c.Kind, Detail: detail}
}

// validHash reports whether h is "h1:" followed by standard base64.
func validHash(h string) bool {
	b64, ok := strings.CutPrefix(h, "h1:")
	if !ok || b64 == "" {
		return false
	}
	for i := 0; i < len(b64); i++ {
		switch c := b64[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

// short quotes s for an error message, cut to a readable length.
func short(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q...", s[:64])
	}
	return fmt.Sprintf("%q", s)
}

// Validate reports whether c is a record the store may keep.
func (c *Checksum) Validate() error {
	switch {
	case c.Module.Path == "" || c.Module.Version == "":
		return errors.New("empty module path or version")
	case c.Kind != KindZip && c.Kind != KindMod:
		return fmt.Errorf("invalid checksum kind %s (want zip or mod)", short(string(c.Kind)))
	case !validHash(c.Hash):
		return fmt.Errorf("invalid hash %s (want h1: and base64)", short(c.Hash))
	case c.Source == "":
		return errors.New("empty checksum source")
	}
	return nil
}

// Sums is the checksum store: known-good hashes of module artifacts.
type Sums interface {
	// Checksum returns the recorded hash of m's artifact of kind k, or an error
	// satisfying errors.Is(err, fs.ErrNotExist), or one wrapping a
	// *CorruptChecksumError if its row cannot be read (see [CheckStored]).
	Checksum(ctx context.Context, m module.Version, k Kind) (*Checksum, error)
	// PutChecksum records c unless a hash for the same module, version and kind
	// is recorded already, and returns the recorded one (the first writer wins;
	// the caller compares hashes to detect a mismatch). A hash it records is
	// appended to the audit log as [PinEvent] of the stored record in the same
	// transaction, so no pin exists that the audit chain does not name; a hash
	// recorded already appends nothing.
	PutChecksum(ctx context.Context, c *Checksum) (*Checksum, error)
	// EachChecksum calls fn for every recorded hash, ordered by module path,
	// version and kind, until fn returns an error (which it returns). A row
	// that cannot be read does not stop it: fn gets it with Corrupt set.
	EachChecksum(ctx context.Context, fn func(*Checksum) error) error
}

// ErrConflict reports a compare-and-swap whose expected old value was stale.
var ErrConflict = errors.New("write conflict")

// SumDBState keeps a checksum-database client's state (the latest verified
// signed tree head) in the database, so a forked or rolled-back log is noticed
// across restarts and across replicas.
type SumDBState interface {
	// SumDBConfig returns the stored value for key (such as
	// "sum.golang.org/latest"), or an error satisfying errors.Is(err, fs.ErrNotExist).
	SumDBConfig(ctx context.Context, key string) ([]byte, error)
	// SwapSumDBConfig replaces the value of key with new if it is still old (an
	// absent key counts as empty), else returns ErrConflict.
	SwapSumDBConfig(ctx context.Context, key string, old, new []byte) error

	// SumDBFork returns the recorded misbehaviour of checksum database db, or
	// an error satisfying errors.Is(err, fs.ErrNotExist) if none is recorded.
	SumDBFork(ctx context.Context, db string) (*SumDBFork, error)
	// PutSumDBFork records f unless a misbehaviour of f.DB is recorded
	// already (the first detection is kept), and returns the recorded one.
	PutSumDBFork(ctx context.Context, f *SumDBFork) (*SumDBFork, error)
	// ClearSumDBFork removes the record of db's misbehaviour and returns it,
	// or an error satisfying errors.Is(err, fs.ErrNotExist) if there was none.
	ClearSumDBFork(ctx context.Context, db string) (*SumDBFork, error)
}

// SumDBFork is the durable record that a checksum database was caught
// misbehaving (a forked or rolled-back log). While it exists, modgate refuses
// every artifact it would verify against that database; an operator clears it.
type SumDBFork struct {
	DB     string // the database's name, such as "sum.golang.org"
	Detail string // what the sumdb client reported
	// DetectedAt is when it was first detected (UTC, set by the store if zero).
	DetectedAt time.Time
}

// DecisionPinned is the Decision of a [PinEvent].
const DecisionPinned = "pinned"

// pinHashPrefix starts the first reason of a [PinEvent].
const pinHashPrefix = "hash "

// PinEvent returns the audit record of c's being recorded in the checksum
// store: Type AuditChecksum, Decision DecisionPinned, the module, version and
// kind (zip or mod), Source the upstream the bytes came from, and Reasons
// "hash h1:...", "vouched for by ..." (the checksum database, the imported
// file, or "first use via <upstream>") and, if known, "asked by <client>";
// a proxy client's "address" or "token (address)" also fills ClientIP and
// ClientToken.
// [Pin] reads it back.
func PinEvent(c *Checksum) *AuditEvent {
	var by string
	switch {
	case strings.HasPrefix(c.Source, SourceSumDB):
		by = "checksum database " + strings.TrimPrefix(c.Source, SourceSumDB)
	case strings.HasPrefix(c.Source, SourceGoSum):
		by = "import of " + strings.TrimPrefix(c.Source, SourceGoSum)
	case c.Source == SourceTOFU:
		by = "first use via " + c.Upstream
	default:
		by = c.Source
	}
	e := &AuditEvent{Type: AuditChecksum, Decision: DecisionPinned, Module: c.Module.Path,
		Version: c.Module.Version, Kind: string(c.Kind), Source: c.Upstream,
		Reasons: []string{pinHashPrefix + c.Hash, "vouched for by " + by}}
	if c.Client != "" {
		e.Reasons = append(e.Reasons, "asked by "+c.Client)
		if !strings.HasPrefix(c.Source, SourceGoSum) {
			// A client of the proxy: "address" or "token (address)".
			e.ClientIP = c.Client
			if tok, ip, ok := strings.Cut(strings.TrimSuffix(c.Client, ")"), " ("); ok && strings.HasSuffix(c.Client, ")") {
				e.ClientToken, e.ClientIP = tok, ip
			}
		}
	}
	return e
}

// Pin reads a [PinEvent] back: the module, kind and hash it recorded. ok is
// false for every other record.
func Pin(e *AuditEvent) (m module.Version, k Kind, hash string, ok bool) {
	if e.Type != AuditChecksum || e.Decision != DecisionPinned || len(e.Reasons) == 0 {
		return m, k, "", false
	}
	hash, ok = strings.CutPrefix(e.Reasons[0], pinHashPrefix)
	return module.Version{Path: e.Module, Version: e.Version}, Kind(e.Kind), hash, ok
}
