package blob

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Blob is a blob opened for serving: its Content is checked against its key
// as it is read (see [Reader]). Close it when done.
type Blob struct {
	d    *Dir
	key  string
	f    *os.File
	r    *Reader
	info fs.FileInfo
	// id is the file's identity when opened (ok if known), and start the
	// time it was opened: see memo.go.
	id     fileID
	idOK   bool
	start  time.Time
	direct bool // verified whole lately and unchanged since: served as is
}

// OpenBlob opens the blob key, expected to hold size bytes, for serving. A
// missing blob gives an error satisfying errors.Is(err, fs.ErrNotExist). A
// blob whose size on disk differs from size gives the Blob (so that it can be
// quarantined) and an *IntegrityError: no byte of it needs to be read.
func (d *Dir) OpenBlob(key string, size int64) (*Blob, error) {
	f, err := d.Open(key)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	b := &Blob{d: d, key: key, f: f, info: info, r: NewReader(f, key, size), start: time.Now()}
	if info.Size() != size {
		b.r.err = &IntegrityError{Key: key, Size: size, Got: fmt.Sprintf("%d bytes", info.Size())}
		return b, b.r.err
	}
	b.id, b.idOK = identify(info)
	b.direct = b.idOK && d.verified.ok(key, b.id, b.start)
	return b, nil
}

// Content is what to serve (with http.ServeContent): the blob's bytes, its
// final chunk held back until the whole blob is verified; or, for a blob
// verified whole lately whose file is unchanged since, the file itself (so
// that it is sent with sendfile).
func (b *Blob) Content() io.ReadSeeker {
	if b.direct {
		return b.f
	}
	return b.r
}

// Verify checks the whole blob now (before a partial read such as an HTTP
// Range), without moving the read position.
func (b *Blob) Verify() error {
	if b.direct {
		return nil
	}
	return b.r.Verify()
}

// Err is the *IntegrityError found while reading, if any.
func (b *Blob) Err() error { return b.r.Err() }

// Close closes the blob. A blob found whole and unchanged is remembered as
// verified (see memo.go).
func (b *Blob) Close() error {
	if !b.direct && b.idOK && b.r.Verified() && b.start.UnixNano()-b.id.ctime >= int64(verifyMargin) {
		if now, err := b.f.Stat(); err == nil {
			if id, ok := identify(now); ok && id == b.id {
				b.d.verified.put(b.key, b.id, b.start)
			}
		}
	}
	return b.f.Close()
}

// Quarantine moves the blob out of the store into its quarantine directory
// (for an operator to inspect), unless the file under the key is no longer the
// one this Blob read (already quarantined, or replaced by a fresh copy). It
// returns the quarantined file's name relative to the store's root ("" if
// nothing was moved).
func (b *Blob) Quarantine() (string, error) {
	b.d.verified.drop(b.key)
	p := b.d.path(b.key)
	now, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !os.SameFile(now, b.info)) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	name := b.key + "." + strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := os.Rename(p, filepath.Join(b.d.root, quarantineDir, name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil // another request moved it first
		}
		return "", fmt.Errorf("blob %s: quarantine: %w", b.key, err)
	}
	syncDir(filepath.Dir(p))
	return quarantineDir + "/" + name, nil
}

// quarantineDir holds the blobs that failed their check, below the root.
const quarantineDir = "quarantine"

// Quarantined returns how many blobs sit in the quarantine directory: blobs
// that failed their check and were taken out of service, kept until an
// operator has looked at them and removed them.
func (d *Dir) Quarantined() (int, error) {
	ents, err := os.ReadDir(filepath.Join(d.root, quarantineDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	return len(ents), nil
}

// QuarantineBytes keeps data, bytes that failed their check somewhere other
// than the blob store (an .info or .mod read from the database), in the
// quarantine directory for an operator to inspect. kind must be a short word
// of the caller's (such as "mod"); it returns the file's name relative to the
// store's root.
func (d *Dir) QuarantineBytes(kind string, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	name := kind + "-" + hex.EncodeToString(sum[:]) + "." + strconv.FormatInt(time.Now().UnixNano(), 10)
	p := filepath.Join(d.root, quarantineDir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		os.Remove(p)
		return "", fmt.Errorf("blob store: quarantine: %w", pathless(err))
	}
	return quarantineDir + "/" + name, nil
}
