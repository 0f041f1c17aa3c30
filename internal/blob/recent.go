package blob

import (
	"os"
	"sync"
	"time"
)

// recentFiles keeps the spool files of the blobs a bucket store uploaded
// lately, so that the readers of a new zip (facts, capabilities, the clone
// index) read the local copy instead of downloading the object again. At most
// recentMax files are kept, for at most recentTTL; a file handed out is
// removed only once every reader released it. The files stay named after this
// process in the spool's tmp/, so a crash leaves nothing the sweep misses.
type recentFiles struct {
	mu sync.Mutex
	m  map[string]*recentFile
}

type recentFile struct {
	path string
	size int64
	at   time.Time
	refs int
	gone bool // evicted: removed at the last release
}

const (
	recentMax = 16
	recentTTL = 2 * time.Minute
)

func (r *recentFiles) add(key, path string, size int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]*recentFile{}
	}
	if old := r.m[key]; old != nil {
		r.evict(key, old)
	}
	r.m[key] = &recentFile{path: path, size: size, at: time.Now()}
	r.expire(time.Now())
}

// get hands out the file of key if it is kept and has size bytes.
func (r *recentFiles) get(key string, size int64) (string, func(), bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(time.Now())
	f := r.m[key]
	if f == nil || f.size != size {
		return "", nil, false
	}
	f.refs++
	var once sync.Once
	return f.path, func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			f.refs--
			if f.gone && f.refs == 0 {
				os.Remove(f.path)
			}
		})
	}, true
}

// expire evicts what is too old, then the oldest beyond recentMax.
func (r *recentFiles) expire(now time.Time) {
	for k, f := range r.m {
		if now.Sub(f.at) >= recentTTL {
			r.evict(k, f)
		}
	}
	for len(r.m) > recentMax {
		var oldestKey string
		var oldest *recentFile
		for k, f := range r.m {
			if oldest == nil || f.at.Before(oldest.at) {
				oldestKey, oldest = k, f
			}
		}
		r.evict(oldestKey, oldest)
	}
}

func (r *recentFiles) evict(key string, f *recentFile) {
	delete(r.m, key)
	f.gone = true
	if f.refs == 0 {
		os.Remove(f.path)
	}
}
