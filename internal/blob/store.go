package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Store is where zip blobs live: a local directory ([Dir], file://) or a bucket
// of an S3-compatible object store ([S3], s3://). Every method is safe for
// concurrent use, also by several processes sharing the store.
//
// Errors: a blob that is not in the store gives an error satisfying
// errors.Is(err, fs.ErrNotExist), and only then (a store that cannot be reached
// or refuses a request gives an *UnavailableError, never "not found", so that
// nothing is taken for missing while the store is down); the store's own disk
// full gives an error satisfying [NoSpace]; bytes that do not match their key
// give an *IntegrityError.
type Store interface {
	// Create starts a new blob, written to a local temporary file; see
	// [Writer]. Its Commit keeps it under its key, never overwriting a blob
	// already there.
	Create() (*Writer, error)
	// OpenBlob opens the blob key, expected to hold size bytes, for serving
	// through the verifying reader (see [Blob]). A blob whose size differs
	// gives the Blob (so that it can be quarantined) and an *IntegrityError.
	// ctx bounds the reads of the Blob's content.
	OpenBlob(ctx context.Context, key string, size int64) (*Blob, error)
	// Local returns the path of a local file with the blob's bytes, for
	// readers that need a file (zip checks and scanners); call release when
	// done with it, and do not modify the file. A directory store returns
	// the blob's own file (as trusted as the directory); a bucket copies the
	// object to a temporary file through the verifying reader, so the copy
	// matches key (else an *IntegrityError).
	Local(ctx context.Context, key string, size int64) (path string, release func(), err error)
	// Each calls fn for every blob in the store (not the quarantined ones),
	// in no particular order, until fn returns an error.
	Each(ctx context.Context, fn func(key string, size int64) error) error
	// Check reports whether the store can be used now (for readiness
	// probes): a directory writes and syncs a probe file, a bucket is listed
	// (and the local spool written).
	Check(ctx context.Context) error
	// Quarantined returns how many items sit in the quarantine: blobs that
	// failed their check and were taken out of service, kept until an
	// operator has looked at them and removed them.
	Quarantined(ctx context.Context) (int, error)
	// QuarantineBytes keeps data, bytes that failed their check somewhere
	// other than the store (an .info or .mod read from the database), in the
	// quarantine for an operator to inspect. kind must be a short word of
	// the caller's (such as "mod"); it returns the item's name.
	QuarantineBytes(ctx context.Context, kind string, data []byte) (string, error)
	// SweepTemp removes the local temporary files of writers that died (see
	// [Dir.SweepTemp]); it returns how many it removed.
	SweepTemp(minAge time.Duration) (int, error)
	// String is the store's URL, without credentials (safe to log).
	String() string
}

var (
	_ Store = (*Dir)(nil)
	_ Store = (*S3)(nil)
)

// UnavailableError is a request the blob store could not answer: unreachable,
// timed out, refused (credentials, permissions), a server error, a missing
// bucket. It is modgate's storage failing, not the module missing: the proxy
// answers 503 and marks nothing missing.
type UnavailableError struct {
	Store string // the store's URL, without credentials
	Op    string // get, put, list, copy, delete, ...
	// Reason is a short description of the cause (no endpoint, no
	// credentials), for clients.
	Reason string
	Err    error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("blob store %s unavailable: %s: %s", e.Store, e.Op, e.Reason)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Verify reads the blob key of s through the verifying reader and reports
// whether it holds exactly size bytes with that SHA-256 (an *IntegrityError
// if not).
func Verify(ctx context.Context, s Store, key string, size int64) error {
	b, err := s.OpenBlob(ctx, key, size)
	if b != nil {
		defer b.Close()
	}
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, b.r); err != nil {
		return err
	}
	if !b.r.Verified() {
		return errors.New("blob " + key + ": not verified whole")
	}
	return nil
}

// VerifyFile checks that the file at path holds exactly size bytes whose
// SHA-256 is key (an *IntegrityError if not).
func VerifyFile(path, key string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("blob %s: %w", key, pathless(err))
	}
	defer f.Close()
	r := NewReader(f, key, size)
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return nil
}
