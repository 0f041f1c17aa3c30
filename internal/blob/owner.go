package blob

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/modgate/modgate/internal/filelock"
)

// Temporary files are owned by the process writing them, so that a sweeper in
// any process sharing the directory can remove the files of writers that died
// (kill -9, a crash, a power cut) at once, without waiting for an age that must
// exceed the longest possible download:
//
//   - a process that writes takes an owner id and holds an exclusive lock
//     (flock) on tmp/owner-<id>.lock for as long as it lives;
//   - its temporary files are tmp/blob-<id>-<random>;
//   - a sweeper that can take the lock of owner-<id>.lock knows the owner is
//     gone (the kernel releases a dead process's locks) and removes the owner's
//     files, then the lock file.
//
// Files that name no live lock file (left by older versions, or seen in a
// directory listing that raced with their owner's start) are removed only once
// older than the sweep's minimum age. Where file locks are not available, every
// owner counts as alive and only the age applies.

const (
	tempPrefix = "blob-"
	lockPrefix = "owner-"
	lockSuffix = ".lock"
)

// owner is this process's claim on its temporary files.
type owner struct {
	mu sync.Mutex
	id string
	f  *os.File // holds the lock; never closed while the process lives
}

// claim returns this process's owner id, creating and locking its lock file in
// dir on first use.
func (o *owner) claim(dir string) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f != nil {
		return o.id, nil
	}
	for range 10 {
		var b [8]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		p := filepath.Join(dir, lockPrefix+id+lockSuffix)
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		ok, err := filelock.TryLock(f)
		if err != nil {
			f.Close()
			os.Remove(p)
			return "", err
		}
		// A sweeper may have taken the fresh file for a dead owner's and
		// removed it: start again with another id.
		if !ok || !stillAt(f, p) {
			f.Close()
			continue
		}
		o.id, o.f = id, f
		return id, nil
	}
	return "", errors.New("cannot claim an owner id for temporary files")
}

// stillAt reports whether path names the file f has open.
func stillAt(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// SweepTemp removes temporary files that no live process owns: at once those of
// owners whose lock is free (the process that wrote them is gone), and, once
// older than minAge, those that name no owner lock file. It never removes this
// process's own files, nor those of another live process. It returns how many
// files it removed. Call it at start and periodically.
func (d *Dir) SweepTemp(minAge time.Duration) (int, error) {
	dir := filepath.Join(d.root, "tmp")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	d.owner.mu.Lock()
	self := d.owner.id
	d.owner.mu.Unlock()
	owners := map[string]bool{} // id -> has a lock file
	files := map[string][]string{}
	var orphans []fs.DirEntry
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, lockPrefix) && strings.HasSuffix(name, lockSuffix):
			owners[strings.TrimSuffix(strings.TrimPrefix(name, lockPrefix), lockSuffix)] = true
		case strings.HasPrefix(name, tempPrefix):
			id, _, ok := strings.Cut(strings.TrimPrefix(name, tempPrefix), "-")
			if !ok {
				orphans = append(orphans, e) // an older version's name: blob-<random>
				continue
			}
			files[id] = append(files[id], name)
		}
	}
	removed := 0
	var errs []error
	for id := range owners {
		if id == self {
			continue
		}
		n, err := d.sweepOwner(dir, id, files[id])
		removed += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	for id, names := range files {
		if owners[id] && filelock.Supported {
			continue
		}
		for _, name := range names {
			if info, err := os.Stat(filepath.Join(dir, name)); err == nil && time.Since(info.ModTime()) >= minAge {
				if os.Remove(filepath.Join(dir, name)) == nil {
					removed++
				}
			}
		}
	}
	for _, e := range orphans {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) >= minAge {
			if os.Remove(filepath.Join(dir, e.Name())) == nil {
				removed++
			}
		}
	}
	return removed, errors.Join(errs...)
}

// sweepOwner removes the files of owner id if its lock is free.
func (d *Dir) sweepOwner(dir, id string, names []string) (int, error) {
	if !filelock.Supported {
		return 0, nil
	}
	p := filepath.Join(dir, lockPrefix+id+lockSuffix)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil // swept by another process meanwhile
		}
		return 0, err
	}
	defer f.Close() // releases the lock, after the lock file is gone
	ok, err := filelock.TryLock(f)
	if err != nil || !ok || !stillAt(f, p) {
		return 0, err // alive (or swept meanwhile)
	}
	removed := 0
	for _, name := range names {
		if err := os.Remove(filepath.Join(dir, name)); err == nil {
			removed++
		}
	}
	// Files the dead owner created after the listing above cannot exist; but
	// list again in case the listing raced with its last writes.
	if more, err := filepath.Glob(filepath.Join(dir, tempPrefix+id+"-*")); err == nil {
		for _, m := range more {
			if os.Remove(m) == nil {
				removed++
			}
		}
	}
	return removed, os.Remove(p)
}
