// Package blob keeps artifact bytes (module zips), content addressed: a blob's
// key is the lower-case hex SHA-256 of its bytes, so a blob that changed in
// storage no longer matches its name. Two stores implement [Store]: [Dir], a
// local directory (file://), and [S3], a bucket of any S3-compatible object
// store (s3://); [OpenURL] opens either. Both serve through the one verifying
// [Reader].
//
// A blob is written to a temporary file first (in the directory, or in a local
// spool for a bucket), checked, and only then put under its key (a rename, or a
// conditional create in the bucket), so a crash, a cancelled client or a
// truncated upstream body never leaves a partial blob under a real key.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Dir is a blob store in a local directory (which may be shared by replicas on a
// network file system: every write is a rename of a complete file).
//
// Layout below the root: <2 hex>/<key> for blobs, tmp/ for blobs being
// written (named after the process writing them, see [Dir.SweepTemp]), and
// quarantine/ for blobs that failed their check on read.
type Dir struct {
	root     string
	owner    owner                // this process's claim on its temporary files
	verified verifiedMemo[fileID] // blobs verified whole lately, by file identity
	syncs    backgroundSyncs      // blobs committed and not yet on stable storage
}

// DefaultVerifyTTL is how long a blob verified whole is served without hashing
// while its file is unchanged (see [Dir.SetVerifyTTL]).
const DefaultVerifyTTL = 10 * time.Minute

// Open returns the blob store rooted at dir, creating it if needed.
func Open(dir string) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: %w", dir, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, "tmp"), filepath.Join(abs, quarantineDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("blob store: %w", err)
		}
	}
	d := &Dir{root: abs}
	d.verified.ttl = DefaultVerifyTTL
	return d, nil
}

// SetVerifyTTL sets how long a blob verified whole is then served without
// hashing (with sendfile) while its file's identity (device, inode, size, mtime,
// ctime) is unchanged; zero hashes every serve. Call it before serving.
func (d *Dir) SetVerifyTTL(ttl time.Duration) { d.verified.ttl = ttl }

// ValidKey reports whether key has the form of a blob key (64 lower-case hex digits).
func ValidKey(key string) bool {
	if len(key) != sha256.Size*2 {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (d *Dir) path(key string) string {
	return filepath.Join(d.root, key[:2], key)
}

// Open opens the blob with the given key for reading. A missing blob gives an
// error satisfying errors.Is(err, fs.ErrNotExist).
func (d *Dir) Open(key string) (*os.File, error) {
	if !ValidKey(key) {
		return nil, fmt.Errorf("blob %q: invalid key: %w", key, fs.ErrNotExist)
	}
	return os.Open(d.path(key))
}

// Path returns the file path of the blob with the given key, for readers that
// need a path (such as zip scanners). The file must not be modified.
func (d *Dir) Path(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("blob %q: invalid key: %w", key, fs.ErrNotExist)
	}
	return d.path(key), nil
}

// Local returns the blob's own file (not verified: see [Store]); release does
// nothing.
func (d *Dir) Local(ctx context.Context, key string, size int64) (string, func(), error) {
	p, err := d.Path(key)
	if err != nil {
		return "", nil, err
	}
	if _, err := os.Stat(p); err != nil {
		return "", nil, fmt.Errorf("blob %s: %w", key, pathless(err))
	}
	return p, func() {}, nil
}

// Each calls fn for every blob in the directory, in no particular order.
func (d *Dir) Each(ctx context.Context, fn func(key string, size int64) error) error {
	shards, err := os.ReadDir(d.root)
	if err != nil {
		return storeErr("list", err)
	}
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(d.root, sh.Name()))
		if err != nil {
			return storeErr("list", err)
		}
		for _, e := range ents {
			key := e.Name()
			if !ValidKey(key) || key[:2] != sh.Name() || !e.Type().IsRegular() {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(key, info.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

// String is the store's URL.
func (d *Dir) String() string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(d.root)}).String()
}

// Create starts a new blob. Write its bytes to the returned Writer, then call
// Commit to keep it or Abort to drop it; exactly one of them must be called.
// Its temporary file is named after this process's owner id, so that
// [Dir.SweepTemp] in any process can tell whether its writer is still alive.
func (d *Dir) Create() (*Writer, error) {
	id, err := d.owner.claim(filepath.Join(d.root, "tmp"))
	if err != nil {
		return nil, storeErr("create", err)
	}
	f, err := os.CreateTemp(filepath.Join(d.root, "tmp"), tempPrefix+id+"-*")
	if err != nil {
		return nil, storeErr("create", err)
	}
	return &Writer{commit: d.commit, f: f, h: sha256.New()}, nil
}

// checkProbe is what Check writes: enough that a full disk refuses it.
const checkProbe = 64 << 10

// Check verifies that the store can create, write, sync and remove a file
// (for readiness probes): a full disk fails it with an error satisfying
// [NoSpace].
func (d *Dir) Check(ctx context.Context) error {
	if err := d.syncs.takeFailure(); err != nil {
		return fmt.Errorf("a stored blob could not be written to stable storage: %w", err)
	}
	w, err := d.Create()
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := w.Write(make([]byte, checkProbe)); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return storeErr("sync", err)
	}
	return w.Abort()
}

// Error is a failure of the blob store's own disk (as opposed to the reader
// that fed a Writer). Its message names no file system path.
type Error struct {
	Op  string // create, write, sync, close, rename
	Err error
}

func (e *Error) Error() string {
	if NoSpace(e.Err) {
		return "blob store: " + e.Op + ": no space left on its disk (" + e.Err.Error() + ")"
	}
	return "blob store: " + e.Op + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// NoSpace reports whether err says the disk or the quota is full.
func NoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// storeErr makes err an *Error without the paths of *fs.PathError and
// *os.LinkError (which would show the server's layout to clients).
func storeErr(op string, err error) error {
	return &Error{Op: op, Err: pathless(err)}
}

// pathless returns the cause of a path error, keeping errors.Is working.
func pathless(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

// Writer is a blob being written, always to a local temporary file (so that it
// can be checked before it is kept). It is not safe for concurrent use.
type Writer struct {
	// commit keeps the complete, closed-or-open temporary file under key in
	// its store; on an error the caller removes the temporary file.
	commit func(w *Writer, key string) error
	f      *os.File
	h      hash.Hash
	n      int64
	done   bool
}

// Write appends p to the blob. Its errors are *Error.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		return n, storeErr("write", err)
	}
	return n, nil
}

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.n }

// Sum is the hex SHA-256 of the bytes written so far: the key Commit will use.
func (w *Writer) Sum() string { return hex.EncodeToString(w.h.Sum(nil)) }

// TempPath is the path of the file being written, for checks that need to read
// it (such as zip validation) before it is committed. It must not be modified.
func (w *Writer) TempPath() string { return w.f.Name() }

// Commit keeps the blob under its content key (moved into the directory, or
// uploaded to the bucket), returning the key and size. If a blob with the same
// key exists already it is kept (same bytes, by construction: it is never
// overwritten) and the temporary file is removed.
func (w *Writer) Commit() (key string, size int64, err error) {
	if w.done {
		return "", 0, errors.New("blob: writer already finished")
	}
	w.done = true
	key = w.Sum()
	name := w.f.Name()
	defer func() {
		w.f.Close()
		if err != nil {
			os.Remove(name)
		}
	}()
	if err := w.commit(w, key); err != nil {
		return "", 0, err
	}
	return key, w.n, nil
}

// commit renames the temporary file under key. Its bytes are written to
// stable storage in the background (see [backgroundSyncs]), not before the
// blob is kept: the embedded database commits without waiting for the disk
// too (WAL, synchronous=NORMAL), so a crash of the process loses nothing and
// a power failure may lose the last moments of both; a blob cut short by one
// fails the verifying reader and is fetched again (see [Blob]). Waiting for
// the disk here took 9 ms at the median and 44 ms at the 90th percentile of
// a cold fill's zips, on the path of every first answer.
func (d *Dir) commit(w *Writer, key string) error {
	name := w.f.Name()
	if err := w.f.Close(); err != nil {
		return storeErr("close", err)
	}
	final := d.path(key)
	if _, err := os.Stat(final); err == nil {
		os.Remove(name)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return storeErr("mkdir", err)
	}
	if err := os.Chmod(name, 0o644); err != nil {
		return storeErr("chmod", err)
	}
	if err := os.Rename(name, final); err != nil {
		return storeErr("rename", err)
	}
	d.syncs.later(final)
	return nil
}

// backgroundSyncs writes committed blobs, and the directory entries that
// name them, to stable storage after their commit, a few at a time.
type backgroundSyncs struct {
	once    sync.Once
	sem     chan struct{}
	pending sync.WaitGroup
	mu      sync.Mutex
	failed  error // the first failure since Check last reported one
}

// syncConcurrency bounds the background syncs run at once.
const syncConcurrency = 4

// later syncs the file at path and its directory in the background.
func (b *backgroundSyncs) later(path string) {
	b.once.Do(func() { b.sem = make(chan struct{}, syncConcurrency) })
	b.pending.Add(1)
	go func() {
		defer b.pending.Done()
		b.sem <- struct{}{}
		defer func() { <-b.sem }()
		err := syncFile(path)
		if err == nil {
			err = syncDir(filepath.Dir(path))
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) { // removed meanwhile: nothing to keep
			b.mu.Lock()
			if b.failed == nil {
				b.failed = storeErr("sync", err)
			}
			b.mu.Unlock()
		}
	}()
}

// Wait blocks until every blob committed so far is on stable storage.
func (d *Dir) Wait() { d.syncs.pending.Wait() }

// takeFailure returns, once, the first background sync that failed.
func (b *backgroundSyncs) takeFailure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.failed
	b.failed = nil
	return err
}

var syncFile = func(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Abort drops the blob. It is safe to call after Commit (then it does nothing).
func (w *Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// syncDir makes a rename durable. EINVAL (a file system that cannot sync
// directories) is not a failure.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// Verify re-hashes the blob named key and reports whether its bytes still match.
func (d *Dir) Verify(key string) error {
	f, err := d.Open(key)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("blob %s: %w", key, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != key {
		return fmt.Errorf("blob %s: content changed on disk (now sha256 %s)", key, got)
	}
	return nil
}
