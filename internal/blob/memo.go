package blob

import (
	"sync"
	"time"
)

// Hashing every byte served costs a copy through user space (sendfile is lost)
// and the SHA-256: about half a static server's throughput. So a blob verified
// whole is remembered by the identity of the file it was read from (device,
// inode, size, mtime, ctime), and served as is (with sendfile) while that
// identity holds, for at most the memo's TTL; then it is hashed again.
//
// What this covers: any change made through the file system (a write in place,
// a truncation, a replacement by rename or copy) changes the identity (the
// kernel sets ctime on every change, and no system call sets it back), so the
// next serve hashes the blob and finds the change. A blob is remembered only if
// its ctime was at least verifyMargin older than the start of its verification
// and unchanged after it, so that the coarse clock behind ctime cannot hide a
// change made around the verification.
//
// What it does not cover, for up to the TTL: bytes changed below the file
// system (a raw write to the block device, silent media corruption that the page
// cache has not seen), a change made while the system clock was set back to the
// original ctime, and a change made during a serve that is already streaming
// with sendfile (that serve sends what is on disk; the next one hashes it).
// Setting the TTL to zero hashes every serve.

// verifyMargin is how much older than the start of a verification a blob's
// ctime must be for the verification to be remembered (a variable for tests).
var verifyMargin = time.Second

// maxVerified bounds the memo (about 150 bytes an entry).
const maxVerified = 1 << 16

type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // UnixNano
}

// verifiedMemo remembers blobs verified whole, by key and by what identifies
// the stored version that was verified: a file's identity (fileID) in a
// directory, an object's ETag in a bucket.
type verifiedMemo[ID comparable] struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]verifiedEntry[ID]
}

type verifiedEntry[ID comparable] struct {
	id ID
	at time.Time
}

// ok reports whether key was verified whole as the version id, within the TTL.
func (v *verifiedMemo[ID]) ok(key string, id ID, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, found := v.m[key]
	if !found {
		return false
	}
	if e.id != id || now.Sub(e.at) >= v.ttl {
		delete(v.m, key)
		return false
	}
	return true
}

func (v *verifiedMemo[ID]) put(key string, id ID, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ttl <= 0 {
		return
	}
	if v.m == nil {
		v.m = map[string]verifiedEntry[ID]{}
	}
	if len(v.m) >= maxVerified {
		for k, e := range v.m { // drop the expired, else an arbitrary half
			if at.Sub(e.at) >= v.ttl || len(v.m) >= maxVerified/2 {
				delete(v.m, k)
			}
		}
	}
	v.m[key] = verifiedEntry[ID]{id: id, at: at}
}

func (v *verifiedMemo[ID]) drop(key string) {
	v.mu.Lock()
	delete(v.m, key)
	v.mu.Unlock()
}
