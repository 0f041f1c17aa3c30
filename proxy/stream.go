package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/verify"
)

// A zip that is not cached yet is streamed to the client that asked for it
// while modgate downloads it, instead of after it was downloaded, checked and
// stored; but the client gets the complete file only once every check has
// passed:
//
//  1. What the policy can decide before the download (the version's
//     vulnerabilities, malware, min_age, deny lists) refuses with 403 before
//     anything is fetched, as for every zip.
//  2. The ingest writes the upstream's bytes to a temporary blob; the
//     requests waiting for it read that file behind the writer and send all
//     but its last streamHoldback bytes.
//  3. At the end of the download the ingest checks the zip (size caps, the
//     module zip rules, its h1: against the checksum database or the pin),
//     stores it and records its facts (licenses: the policy needs them); then
//     each request decides on the version with those facts and its size, and
//     only if it is allowed sends the held-back tail.
//  4. When a check fails or the policy blocks, a request that had sent part
//     of the body cuts the connection: the client sees a failed download
//     (the go command: unexpected EOF) and never the complete file, and
//     nothing was stored. A refusal (403), or a disk too full to store the
//     zip (507), is remembered for a minute, so asking again gets the answer
//     with its reason at once. A request that had sent nothing answers as
//     usual.
//
// The tail held back is the end of the zip, where its central directory and
// end record are: a zip reader finds its entries from there, so the prefix a
// cut client has is not a zip any tool opens (the go command deletes it).
// The SBOM is made after the answer (see [Server.sbomID]).

// streamHoldback is how much of the end of a zip is sent only after every
// check passed: more than a zip's end record (22 bytes plus a comment of up
// to 64 KiB), and the whole central directory of zips with fewer than about
// 700 files. Smaller zips are sent whole after the checks.
const streamHoldback = 64<<10 + 22

// cutRefusalTTL is how long a refusal found after part of a zip was streamed
// is answered from memory (with its reason, which the cut response could not
// carry) before the zip is downloaded and checked again.
const cutRefusalTTL = time.Minute

// zipStream is an ingest of one zip as it progresses, shared by the requests
// that stream it. Its zero value is not usable: see newZipStream.
type zipStream struct {
	mod module.Version

	mu      sync.Mutex
	changed chan struct{} // closed (and replaced) at every change
	path    string        // the temporary file; "" until the download starts
	size    int64         // announced size; -1 when unknown
	source  string        // the upstream
	written int64
	sum     string          // the SHA-256 of the whole download, once it ended
	ready   *store.Artifact // checked, stored, facts recorded
	err     error           // the ingest failed
	fed     bool            // an ingest writes to this stream
}

func newZipStream(m module.Version) *zipStream {
	return &zipStream{mod: m, changed: make(chan struct{}), size: -1}
}

// notify wakes every waiter; z.mu must be held.
func (z *zipStream) notify() {
	close(z.changed)
	z.changed = make(chan struct{})
}

// start says the download of the zip began into the file at path.
func (z *zipStream) start(path string, size int64, source string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.path, z.size, z.source, z.fed = path, size, source, true
	z.notify()
}

// Write counts bytes the ingest wrote to the file (it is called after they
// were written), so readers may read them.
func (z *zipStream) Write(p []byte) (int, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.written += int64(len(p))
	z.notify()
	return len(p), nil
}

// downloaded records the SHA-256 of the whole download.
func (z *zipStream) downloaded(sum string) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.sum = sum
}

// finish records how the ingest ended. Only the first call counts.
func (z *zipStream) finish(a *store.Artifact, err error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.ready != nil || z.err != nil {
		return
	}
	if a == nil && err == nil {
		err = errors.New("zip ingest ended without an answer")
	}
	z.ready, z.err = a, err
	z.notify()
}

// zipState is a snapshot of a zipStream.
type zipState struct {
	path, source  string
	sum           string
	size, written int64
	ready         *store.Artifact
	err           error
	fed           bool
}

func (z *zipStream) state() (zipState, <-chan struct{}) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return zipState{path: z.path, source: z.source, sum: z.sum, size: z.size, written: z.written, ready: z.ready, err: z.err, fed: z.fed}, z.changed
}

type streamKey struct{}

// withStream gives the ingest of m's zip the stream to feed.
func withStream(ctx context.Context, z *zipStream) context.Context {
	return context.WithValue(ctx, streamKey{}, z)
}

// streamOf returns the stream the ingest of m's zip feeds, nil if none.
func streamOf(ctx context.Context, m module.Version) *zipStream {
	z, _ := ctx.Value(streamKey{}).(*zipStream)
	if z == nil || z.mod != m {
		return nil
	}
	return z
}

// ingesting reports whether m's zip is being ingested by this process: its
// fetch may have stored it already, but not ended (its facts are being
// recorded).
func (s *Server) ingesting(m module.Version) bool {
	z, ok := s.streams.Load(artifactKey(m, store.KindZip))
	if !ok {
		return false
	}
	st, _ := z.(*zipStream).state()
	return st.ready == nil && st.err == nil
}

// streamable reports whether a zip request may be streamed as it is
// fetched: a plain GET of the whole file that may fetch.
func streamable(r *http.Request, req request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Range") == "" && !req.noFetch
}

// streamZip fetches m's zip, which is not cached, streaming it to w as it
// is downloaded (see the top of this file). served is false when nothing
// was written: a is then the stored artifact for the usual path to serve
// (a small zip, or a fetch this request joined that was not streamed), or
// err the refusal or failure to answer. When served is true the response
// is complete, or err is an *abortError and the response must be cut.
func (s *Server) streamZip(ctx context.Context, w http.ResponseWriter, m module.Version, who client) (a *store.Artifact, served bool, err error) {
	key := artifactKey(m, store.KindZip)
	if r, ok := s.memo.get(refusedKey(key)).(*refusedZip); ok && s.now().Sub(r.at) < r.ttl {
		return nil, false, r.err
	}
	if err := s.cuts.get(key, s.now()); err != nil {
		return nil, false, err
	}
	if err := s.missed(key); err != nil {
		return nil, false, err
	}
	s.opts.Metrics.cache(string(store.KindZip), false)
	z := newZipStream(m)
	if old, loaded := s.streams.LoadOrStore(key, z); loaded {
		z = old.(*zipStream) // another request's fetch of it is in flight
	} else {
		defer s.streams.CompareAndDelete(key, z)
	}
	ch := s.flight(withClient(ctx, who), key, func(ctx context.Context) (any, error) {
		a, err := s.fetchOnce(withStream(ctx, z), m, store.KindZip, key)
		err = s.diskFull(m, store.KindZip, err)
		z.finish(a, err)
		return a, err
	})
	cw, _ := w.(*countingWriter)
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var sent int64
	headers := false
	var st zipState
	for {
		var changed <-chan struct{}
		st, changed = z.state()
		if st.ready != nil || st.err != nil {
			break
		}
		if f == nil && st.path != "" {
			if f, err = os.Open(st.path); err != nil {
				f = nil // the ingest moved on already: wait for its end
				st.path = ""
			}
		}
		if upto := st.written - streamHoldback; f != nil && upto > sent {
			if !headers {
				h := w.Header()
				h.Set("Content-Type", "application/zip")
				h.Set("Cache-Control", "no-cache")
				if st.size >= 0 {
					h.Set("Content-Length", strconv.FormatInt(st.size, 10))
				}
				if cw != nil {
					cw.source = st.source
				}
				w.WriteHeader(http.StatusOK)
				headers = true
			}
			n, err := io.Copy(w, io.NewSectionReader(f, sent, upto-sent))
			sent += n
			if err != nil {
				return nil, true, &abortError{err: err}
			}
			http.NewResponseController(w).Flush()
			continue
		}
		select {
		case <-changed:
		case res := <-ch:
			// The fetch ended. One that fed z finished it before; one
			// that did not (this request joined a fetch that was not
			// streamed) ends z with its result.
			ch = nil
			a, _ := res.Val.(*store.Artifact)
			z.finish(a, res.Err)
		case <-ctx.Done():
			if headers {
				return nil, true, &abortError{err: ctx.Err()}
			}
			return nil, false, ctx.Err()
		}
	}
	if st.err != nil {
		err := st.err
		if code := statusOf(err); headers && (code == http.StatusForbidden || code == http.StatusInsufficientStorage) {
			s.cuts.put(key, err, s.now())
		} else if zipErr := (*verify.ZipError)(nil); errors.As(err, &zipErr) {
			s.memo.put(refusedKey(key), &refusedZip{err: err, at: s.now(), ttl: refusalTTL}, int64(len(err.Error())))
		}
		if headers {
			return nil, true, &abortError{err: err}
		}
		return nil, false, err
	}
	a = st.ready
	s.memo.putArtifact(key, a)
	if !headers {
		return a, false, nil // a small zip: served from its blob as usual
	}
	var tail io.ReaderAt = f
	if st.sum != a.SHA256 {
		// The record stored is another replica's: it took the fetch over
		// while this one stalled. The client has this replica's first
		// bytes; when they are the stored zip's first bytes, the rest
		// comes from the stored zip (which matches its key), so the client
		// gets exactly the zip that was verified. Else the response is cut
		// and the client asks again.
		path, release, err := s.opts.Blobs.Local(ctx, a.SHA256, a.Size)
		if err != nil {
			return nil, true, &abortError{err: err}
		}
		defer release()
		g, err := os.Open(path)
		if err != nil {
			return nil, true, &abortError{err: err}
		}
		defer g.Close()
		if same, err := samePrefix(f, g, sent); err != nil || !same || sent > a.Size {
			return nil, true, &abortError{err: fmt.Errorf("%s@%s: the .zip stored is another fetch's and differs from the bytes sent; retry", m.Path, m.Version)}
		}
		tail = g
	}
	// The version is decided now, on the facts the ingest recorded (its
	// clone check too) and the zip's size: only an allowed zip gets its tail.
	if err := s.checkZip(ctx, a, nil); err != nil {
		s.cuts.put(key, err, s.now())
		return nil, true, &abortError{err: err}
	}
	if err := s.enforce(ctx, w, m, a.Size); err != nil {
		s.cuts.put(key, err, s.now())
		return nil, true, &abortError{err: err}
	}
	if _, err := io.Copy(w, io.NewSectionReader(tail, sent, a.Size-sent)); err != nil {
		return nil, true, &abortError{err: err}
	}
	http.NewResponseController(w).Flush()
	if cw != nil {
		cw.source = a.Upstream
		cw.sbom = s.sbomID(ctx, m) // after the answer: it may wait for the SBOM being made
	}
	return a, true, nil
}

// cutRefusals remembers, for cutRefusalTTL, the refusals that cut a streamed
// response, whatever the memo's size (it may be off).
type cutRefusals struct {
	mu sync.Mutex
	m  map[string]*refusedZip
}

func (c *cutRefusals) put(key string, err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*refusedZip{}
	}
	if len(c.m) >= 1024 {
		for k, r := range c.m {
			if now.Sub(r.at) >= r.ttl {
				delete(c.m, k)
			}
		}
	}
	c.m[key] = &refusedZip{err: err, at: now, ttl: cutRefusalTTL}
}

// get returns the refusal remembered for key, nil if none (or expired).
func (c *cutRefusals) get(key string, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[key]
	if !ok {
		return nil
	}
	if now.Sub(r.at) >= r.ttl {
		delete(c.m, key)
		return nil
	}
	return r.err
}

// samePrefix reports whether the first n bytes of a and b are the same.
func samePrefix(a, b io.ReaderAt, n int64) (bool, error) {
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for off := int64(0); off < n; {
		k := min(int64(len(bufA)), n-off)
		if _, err := a.ReadAt(bufA[:k], off); err != nil {
			return false, err
		}
		if _, err := b.ReadAt(bufB[:k], off); err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil // b is shorter
			}
			return false, err
		}
		if !bytes.Equal(bufA[:k], bufB[:k]) {
			return false, nil
		}
		off += k
	}
	return true, nil
}
