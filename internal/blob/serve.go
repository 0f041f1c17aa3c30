package blob

import (
	"context"
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
// as it is read (see [Reader]), whatever store it comes from. Close it when
// done.
type Blob struct {
	key string
	src source
	r   *Reader
}

// source is a store's side of an opened blob: its raw bytes, and what the
// store does around the verifying reader.
type source interface {
	io.ReadSeeker
	// direct returns what to serve as is, without hashing (a file verified
	// whole lately and unchanged since, for sendfile), or nil.
	direct() io.ReadSeeker
	// redirect returns a short-lived URL a client may fetch the blob from
	// directly, or "" (see [S3Options.Redirect]).
	redirect() string
	// done is called by Close; verified says whether the whole blob was
	// read and matched its key.
	done(verified bool) error
	// quarantine takes the stored version this source read out of service.
	quarantine() (string, error)
}

func newBlob(key string, size int64, src source) *Blob {
	return &Blob{key: key, src: src, r: NewReader(src, key, size)}
}

// Content is what to serve (with http.ServeContent): the blob's bytes, its
// final chunk held back until the whole blob is verified; or, for a blob
// verified whole lately whose file is unchanged since, the file itself (so
// that it is sent with sendfile).
func (b *Blob) Content() io.ReadSeeker {
	if d := b.src.direct(); d != nil {
		return d
	}
	return b.r
}

// Redirect returns a short-lived URL from which a client may download the
// blob itself, bypassing modgate, or "" when the blob must be served through
// its verifying reader. Only a bucket with redirects enabled gives one, and
// only for an object verified whole within the verify TTL and unchanged since
// (same ETag) when it was opened.
func (b *Blob) Redirect() string { return b.src.redirect() }

// Verify checks the whole blob now (before a partial read such as an HTTP
// Range), without moving the read position.
func (b *Blob) Verify() error {
	if b.src.direct() != nil {
		return nil
	}
	return b.r.Verify()
}

// Err is the *IntegrityError found while reading, if any.
func (b *Blob) Err() error { return b.r.Err() }

// Close closes the blob. A blob found whole and unchanged is remembered as
// verified (see memo.go).
func (b *Blob) Close() error { return b.src.done(b.r.Verified()) }

// Quarantine takes the blob out of the store into its quarantine (for an
// operator to inspect), unless what is stored under the key is no longer what
// this Blob read (already quarantined, or replaced by a fresh copy). It
// returns the quarantined item's name ("" if nothing was moved).
func (b *Blob) Quarantine() (string, error) { return b.src.quarantine() }

// fileSource is a blob of a Dir.
type fileSource struct {
	d    *Dir
	key  string
	f    *os.File
	info fs.FileInfo
	// id is the file's identity when opened (ok if known), and start the
	// time it was opened: see memo.go.
	id       fileID
	idOK     bool
	start    time.Time
	isDirect bool // verified whole lately and unchanged since: served as is
}

func (s *fileSource) Read(p []byte) (int, error)                { return s.f.Read(p) }
func (s *fileSource) Seek(off int64, whence int) (int64, error) { return s.f.Seek(off, whence) }
func (s *fileSource) redirect() string                          { return "" }

func (s *fileSource) direct() io.ReadSeeker {
	if s.isDirect {
		return s.f
	}
	return nil
}

// OpenBlob opens the blob key, expected to hold size bytes, for serving. A
// missing blob gives an error satisfying errors.Is(err, fs.ErrNotExist). A
// blob whose size on disk differs from size gives the Blob (so that it can be
// quarantined) and an *IntegrityError: no byte of it needs to be read.
func (d *Dir) OpenBlob(ctx context.Context, key string, size int64) (*Blob, error) {
	f, err := d.Open(key)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	src := &fileSource{d: d, key: key, f: f, info: info, start: time.Now()}
	b := newBlob(key, size, src)
	if info.Size() != size {
		b.r.err = &IntegrityError{Key: key, Size: size, Got: fmt.Sprintf("%d bytes", info.Size())}
		return b, b.r.err
	}
	src.id, src.idOK = identify(info)
	src.isDirect = src.idOK && d.verified.ok(key, src.id, src.start)
	return b, nil
}

func (s *fileSource) done(verified bool) error {
	if !s.isDirect && s.idOK && verified && s.start.UnixNano()-s.id.ctime >= int64(verifyMargin) {
		if now, err := s.f.Stat(); err == nil {
			if id, ok := identify(now); ok && id == s.id {
				s.d.verified.put(s.key, s.id, s.start)
			}
		}
	}
	return s.f.Close()
}

func (s *fileSource) quarantine() (string, error) {
	s.d.verified.drop(s.key)
	p := s.d.path(s.key)
	now, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !os.SameFile(now, s.info)) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	name := s.key + "." + strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := os.Rename(p, filepath.Join(s.d.root, quarantineDir, name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil // another request moved it first
		}
		return "", fmt.Errorf("blob %s: quarantine: %w", s.key, err)
	}
	syncDir(filepath.Dir(p))
	return quarantineDir + "/" + name, nil
}

// quarantineDir holds the blobs that failed their check, below the root (the
// prefix quarantine/ in a bucket).
const quarantineDir = "quarantine"

// Quarantined returns how many files sit in the quarantine directory.
func (d *Dir) Quarantined(ctx context.Context) (int, error) {
	ents, err := os.ReadDir(filepath.Join(d.root, quarantineDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	return len(ents), nil
}

// quarantineName names bytes of kind kept in the quarantine.
func quarantineName(kind string, data []byte) string {
	sum := sha256.Sum256(data)
	return kind + "-" + hex.EncodeToString(sum[:]) + "." + strconv.FormatInt(time.Now().UnixNano(), 10)
}

// QuarantineBytes keeps data in the quarantine directory; it returns the
// file's name relative to the store's root.
func (d *Dir) QuarantineBytes(ctx context.Context, kind string, data []byte) (string, error) {
	name := quarantineName(kind, data)
	p := filepath.Join(d.root, quarantineDir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		os.Remove(p)
		return "", fmt.Errorf("blob store: quarantine: %w", pathless(err))
	}
	return quarantineDir + "/" + name, nil
}
