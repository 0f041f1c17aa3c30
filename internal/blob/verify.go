package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// IntegrityError reports a blob whose bytes do not match its key: changed,
// truncated, extended or replaced behind the store's back.
type IntegrityError struct {
	Key  string // the key (expected lower-case hex SHA-256)
	Size int64  // the expected size
	// Got describes what was found instead ("sha256 ...", "N bytes").
	Got string
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("blob %s: content does not match its key (want %d bytes with that sha256, found %s)", e.Key, e.Size, e.Got)
}

// Reader reads a blob while checking it against its key, for any blob store:
// it wraps the store's io.ReadSeeker (a local file, an object store's ranged
// reader) and is itself an io.ReadSeeker, so it can be handed to
// http.ServeContent.
//
// A whole-blob read from offset 0 is hashed as it streams; the Read that would
// return the final bytes returns them only once the SHA-256 of the whole blob
// matched the key (and the source proved to end there). On a mismatch that
// Read returns an *IntegrityError instead, so a consumer that copies the blob
// somewhere (an HTTP response with a Content-Length) never has the complete
// wrong bytes: it has a prefix, one chunk short.
//
// A read that does not start at offset 0 or skips ahead (an HTTP Range) cannot
// be verified as it streams: the Reader then first hashes the whole blob from
// the source (one extra pass) and serves from it only if it matched. A reader
// that stops early (a Range from 0 that ends before the end) would see bytes no
// hash vouched for yet: call [Reader.Verify] before such reads.
//
// Reader is not safe for concurrent use.
type Reader struct {
	src  io.ReadSeeker
	key  string
	size int64

	off      int64 // where the next Read reads, as the caller sees it
	srcOff   int64 // where src is positioned
	h        hash.Hash
	hashed   int64 // bytes 0..hashed of the blob went into h, in order
	verified bool
	err      error // a sticky *IntegrityError (or the read error of a verify pass)
}

// NewReader returns a Reader of src, which must hold exactly size bytes whose
// SHA-256 (lower-case hex) is key, positioned at offset 0.
func NewReader(src io.ReadSeeker, key string, size int64) *Reader {
	return &Reader{src: src, key: key, size: size, h: sha256.New()}
}

// Verified reports whether the whole blob was found to match its key.
func (r *Reader) Verified() bool { return r.verified }

// Err returns the *IntegrityError found so far, if any (also after a Read that
// returned it was swallowed by a consumer such as http.ServeContent).
func (r *Reader) Err() error {
	var ie *IntegrityError
	if errors.As(r.err, &ie) {
		return r.err
	}
	return nil
}

// Seek implements io.Seeker against the expected size (not the source's:
// a truncated source is found when read).
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("blob: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("blob: negative position")
	}
	r.off = offset
	return offset, nil
}

// Read implements io.Reader, holding back the blob's final bytes until they are
// verified.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.off >= r.size {
		if r.size == 0 && !r.verified {
			if r.err = r.finish(); r.err != nil {
				return 0, r.err
			}
		}
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !r.verified && r.off != r.hashed {
		// Not a continuation of the in-order stream: verify it all first.
		if err := r.Verify(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > r.size-r.off {
		p = p[:r.size-r.off]
	}
	if r.srcOff != r.off {
		if _, err := r.src.Seek(r.off, io.SeekStart); err != nil {
			return 0, err
		}
		r.srcOff = r.off
	}
	n, err := r.src.Read(p)
	r.srcOff += int64(n)
	if r.verified {
		r.off += int64(n)
		if err == io.EOF && r.off < r.size {
			// Shorter than when it was verified: changed since.
			r.err = &IntegrityError{Key: r.key, Size: r.size, Got: fmt.Sprintf("%d bytes", r.off)}
			return n, r.err
		}
		if err == io.EOF {
			err = nil
		}
		return n, err
	}
	r.h.Write(p[:n])
	r.hashed += int64(n)
	if r.hashed == r.size {
		// The final bytes: release them only if the whole blob matches.
		if ierr := r.finish(); ierr != nil {
			r.err = ierr
			return 0, ierr
		}
		r.off += int64(n)
		return n, nil
	}
	if err == io.EOF || (err == nil && n == 0) {
		r.err = &IntegrityError{Key: r.key, Size: r.size, Got: fmt.Sprintf("%d bytes", r.hashed)}
		return 0, r.err
	}
	r.off += int64(n)
	return n, err
}

// finish checks, after the expected size was hashed, that the source ends
// there and that the hash matches.
func (r *Reader) finish() error {
	var one [1]byte
	m, _ := io.ReadFull(r.src, one[:])
	r.srcOff += int64(m)
	if m > 0 {
		return &IntegrityError{Key: r.key, Size: r.size, Got: "more bytes"}
	}
	if got := hex.EncodeToString(r.h.Sum(nil)); got != r.key {
		return &IntegrityError{Key: r.key, Size: r.size, Got: "sha256 " + got}
	}
	r.verified = true
	return nil
}

// Verify reads the whole blob from its source and checks it against its key,
// without moving the read position. After a nil result every read is served
// from the source as is (it was verified whole a moment ago); after an
// *IntegrityError every Read fails.
func (r *Reader) Verify() error {
	if r.verified || r.err != nil {
		return r.err
	}
	if _, err := r.src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r.srcOff = 0
	r.h.Reset()
	n, err := io.Copy(r.h, io.LimitReader(r.src, r.size))
	r.srcOff = n
	r.hashed = n
	if err != nil {
		return err
	}
	if n < r.size {
		r.err = &IntegrityError{Key: r.key, Size: r.size, Got: fmt.Sprintf("%d bytes", n)}
		return r.err
	}
	if err := r.finish(); err != nil {
		r.err = err
		return err
	}
	return nil
}
