package proxy

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/verify"
)

// Read-ahead: artifacts fetched and checked before the client asks for them,
// where the go command's next request is known.
//
// The go command runs at most GOMAXPROCS fetches at once (2 on a two-core
// runner), so a cold build is a chain of requests, each waiting for modgate's
// round trip to its upstream and for its checks. Two of its next requests are
// certain, and modgate starts them as soon as it sees what announces them:
//
//   - A go.mod without a go directive of 1.17 or later is "unpruned": the go
//     command loads the go.mod of every version it requires, right after it.
//     When modgate fetches such a go.mod, it fetches the go.mod files it
//     requires (and so on, for those that are unpruned too). The go command
//     skips the requirements of a pruned go.mod (go 1.17+), and so does this.
//   - `go mod download` (the usual first step of a CI job or a Dockerfile)
//     asks for the .info of every module of the build list, then for each
//     .zip. When a client asks for a version's .info, modgate fetches its
//     .zip, unless the policy already refuses the version before download.
//
// A read-ahead fetch is the fetch a client's request would make, through the
// same routes and upstreams, with every check (checksum database, zip rules,
// facts); a client that asks while it runs joins it (and streams the zip). It
// serves nothing: every client request is still decided, answered and
// audited on its own. At most readAheadWorkers run at once per kind, oldest
// first; what does not fit in readAheadQueue waits for nobody and is
// dropped (the client's own request fetches it). It is off with
// Options.NoReadAhead (--read-ahead=off); with Options.NoZipReadAhead
// (--read-ahead=mods) only go.mod files are read ahead. A read-ahead that fails leaves
// what a client's fetch would: a "not found" or a content refusal is
// remembered as for a client; other errors are logged and forgotten.

// readAheadWorkers is how many read-ahead fetches of one kind run at once.
// The go command runs GOMAXPROCS of its own; a zip read ahead is mostly the
// CPU of its checks, a go.mod mostly round trips.
var readAheadWorkers = map[store.Kind]int{store.KindZip: 2, store.KindMod: 8}

// readAheadQueue bounds the fetches of one kind waiting for a worker.
const readAheadQueue = 4096

// readAheadSeenCap bounds the artifacts remembered as considered already,
// and those remembered as fetched ahead and not served yet (a few MiB).
const readAheadSeenCap = 20000

// readAhead queues and runs the fetches ahead. Its zero value is not usable:
// see newReadAhead.
type readAhead struct {
	queues map[store.Kind]*aheadQueue
	// seen are the artifacts considered already: each is considered once
	// per process, so a hot cached .info costs one look-up.
	seen *capSet[aheadKey]
	// unserved are the artifacts fetched ahead that no client was served
	// yet: the first request served one records the upstream it came from
	// as its source, as if it had fetched it. Past readAheadSeenCap of them
	// (versions read ahead that no client asked for) they are forgotten,
	// and their first request then says "cache".
	unserved *capSet[aheadKey]
}

func newReadAhead(bg *sync.WaitGroup) *readAhead {
	r := &readAhead{queues: map[store.Kind]*aheadQueue{},
		seen: newCapSet[aheadKey](readAheadSeenCap), unserved: newCapSet[aheadKey](readAheadSeenCap)}
	for kind, n := range readAheadWorkers {
		r.queues[kind] = &aheadQueue{workers: n, max: readAheadQueue, bg: bg}
	}
	return r
}

// firstServe reports whether key was fetched ahead and not served yet, and
// marks it served.
func (r *readAhead) firstServe(key aheadKey) bool {
	return r != nil && r.unserved.remove(key)
}

// aheadKey names an artifact in the read-ahead's memories: a struct, so a
// look-up on the request path allocates nothing.
type aheadKey struct {
	mod  module.Version
	kind store.Kind
}

// stop drops what waits and refuses what comes (at shutdown).
func (r *readAhead) stop() {
	for _, q := range r.queues {
		q.stop()
	}
}

// aheadQueue runs jobs oldest first, at most workers at once.
type aheadQueue struct {
	workers, max int
	bg           *sync.WaitGroup

	mu      sync.Mutex
	jobs    []func()
	running int
	stopped bool
}

// add queues job; false when the queue is full or stopped.
func (q *aheadQueue) add(job func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped || len(q.jobs) >= q.max {
		return false
	}
	q.jobs = append(q.jobs, job)
	if q.running < q.workers {
		q.running++
		q.bg.Add(1)
		go q.work()
	}
	return true
}

func (q *aheadQueue) work() {
	defer q.bg.Done()
	for {
		q.mu.Lock()
		if len(q.jobs) == 0 {
			q.running--
			q.mu.Unlock()
			return
		}
		job := q.jobs[0]
		q.jobs[0] = nil
		q.jobs = q.jobs[1:]
		q.mu.Unlock()
		job()
	}
}

func (q *aheadQueue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	q.jobs = nil
}

// readAheadTimeout bounds the look-ups a read-ahead makes before its fetch
// (which FetchTimeout bounds).
const readAheadTimeout = time.Minute

// unpruned reports whether the go command loads the go.mod files f requires
// when it loads f: f has no go directive, or one older than 1.17 (the go
// command's module graph pruning, golang.org/ref/mod#graph-pruning).
func unpruned(f *modfile.File) bool {
	if f.Go == nil {
		return true
	}
	major, rest, _ := strings.Cut(f.Go.Version, ".")
	minor, _, _ := strings.Cut(rest, ".")
	// "1.21rc1": the minor version's digits.
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return false // not a version the go command accepts: no guess
	}
	return ma < 1 || ma == 1 && mi < 17
}

// readAheadRequirements fetches ahead the go.mod files an unpruned go.mod f
// requires (see the top of this file); who asked for f.
func (s *Server) readAheadRequirements(f *modfile.File, who client) {
	if s.ahead == nil || f == nil || !unpruned(f) {
		return
	}
	for _, m := range requirementsOf(f) {
		key := aheadKey{m, store.KindMod}
		if !s.ahead.seen.add(key) {
			continue
		}
		s.ahead.queues[store.KindMod].add(func() {
			ctx, cancel := context.WithTimeout(withClient(context.Background(), who), readAheadTimeout)
			defer cancel()
			if _, err := s.cachedArtifact(ctx, m, store.KindMod); !errors.Is(err, fs.ErrNotExist) {
				return // cached, or the store failed
			}
			s.ahead.unserved.add(key)
			_, _, err := s.artifact(ctx, m, store.KindMod, false, who)
			s.opts.Metrics.readAhead(string(store.KindMod), outcome(err))
			if err != nil {
				s.ahead.unserved.remove(key) // it fetched nothing
				if !errors.Is(err, fs.ErrNotExist) {
					s.log.Debug("read-ahead of a go.mod failed", "module", m.Path, "version", m.Version, "err", err.Error())
				}
			}
		})
	}
}

// readAheadZip fetches ahead the .zip of m, whose .info a client asked for
// (see the top of this file).
func (s *Server) readAheadZip(m module.Version, who client) {
	if s.ahead == nil || s.opts.NoZipReadAhead || !s.ahead.seen.add(aheadKey{m, store.KindZip}) || semver.Canonical(m.Version) != m.Version {
		return
	}
	s.ahead.queues[store.KindZip].add(func() {
		ctx, cancel := context.WithTimeout(withClient(context.Background(), who), readAheadTimeout)
		defer cancel()
		if err := s.fetchZipAhead(ctx, m); err != nil {
			s.log.Debug("read-ahead of a zip failed", "module", m.Path, "version", m.Version, "err", err.Error())
		}
	})
}

// fetchZipAhead fetches, checks and stores m's zip as a client's streamed
// request would (stream.go), feeding a stream that client requests arriving
// meanwhile join. Nothing is fetched when the zip is cached, known missing
// or refused, or when the policy refuses the version before download.
func (s *Server) fetchZipAhead(ctx context.Context, m module.Version) error {
	key := artifactKey(m, store.KindZip)
	if _, err := s.cachedArtifact(ctx, m, store.KindZip); !errors.Is(err, fs.ErrNotExist) {
		return err // cached (nil), or the store failed
	}
	if r, ok := s.memo.get(refusedKey(key)).(*refusedZip); ok && s.now().Sub(r.at) < r.ttl {
		return nil
	}
	if s.cuts.get(key, s.now()) != nil || s.missed(key) != nil {
		return nil
	}
	c, _, err := s.decision(ctx, m, 0)
	if err != nil {
		return err
	}
	if c.d.Blocked {
		return nil // refused before download, as the client's request will be
	}
	z := newZipStream(m)
	if _, loaded := s.streams.LoadOrStore(key, z); loaded {
		return nil // a client's fetch is in flight
	}
	defer s.streams.CompareAndDelete(key, z)
	s.ahead.unserved.add(aheadKey{m, store.KindZip})
	res := <-s.flight(ctx, key, func(ctx context.Context) (any, error) {
		a, err := s.fetchOnce(withStream(ctx, z), m, store.KindZip, key)
		err = s.diskFull(m, store.KindZip, err)
		z.finish(a, err)
		return a, err
	})
	a, _ := res.Val.(*store.Artifact)
	z.finish(a, res.Err) // a fetch this joined that was not streamed
	s.opts.Metrics.readAhead(string(store.KindZip), outcome(res.Err))
	if res.Err != nil {
		s.ahead.unserved.remove(aheadKey{m, store.KindZip}) // it fetched nothing
		if zipErr := (*verify.ZipError)(nil); errors.As(res.Err, &zipErr) {
			s.memo.put(refusedKey(key), &refusedZip{err: res.Err, at: s.now(), ttl: refusalTTL}, int64(len(res.Err.Error())))
		}
		return res.Err
	}
	s.memo.putArtifact(key, a)
	return nil
}

// outcome is a read-ahead's result for its metric.
func outcome(err error) string {
	if err != nil {
		return "failed"
	}
	return "fetched"
}
