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
}

// Validate reports whether c is a record the store may keep.
func (c *Checksum) Validate() error {
	switch {
	case c.Module.Path == "" || c.Module.Version == "":
		return errors.New("empty module path or version")
	case c.Kind != KindZip && c.Kind != KindMod:
		return fmt.Errorf("invalid checksum kind %q (want zip or mod)", c.Kind)
	case !strings.HasPrefix(c.Hash, "h1:") || len(c.Hash) < 4:
		return fmt.Errorf("invalid hash %q (want h1:...)", c.Hash)
	case c.Source == "":
		return errors.New("empty checksum source")
	}
	return nil
}

// Sums is the checksum store: known-good hashes of module artifacts.
type Sums interface {
	// Checksum returns the recorded hash of m's artifact of kind k, or an error
	// satisfying errors.Is(err, fs.ErrNotExist).
	Checksum(ctx context.Context, m module.Version, k Kind) (*Checksum, error)
	// PutChecksum records c unless a hash for the same module, version and kind
	// is recorded already, and returns the recorded one (the first writer wins;
	// the caller compares hashes to detect a mismatch).
	PutChecksum(ctx context.Context, c *Checksum) (*Checksum, error)
	// EachChecksum calls fn for every recorded hash, ordered by module path,
	// version and kind, until fn returns an error (which it returns).
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
}
