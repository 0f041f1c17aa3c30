package proxy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/upstream"
)

// Defaults of the fleet's fetch coordination.
const (
	defaultLeaseTTL   = 30 * time.Second
	defaultMissingTTL = time.Minute
)

// fetchOnce fetches one artifact for the whole fleet: it takes the
// artifact's fetch lease and ingests, or, while another replica holds the
// lease, waits for its end (a notification, else a poll) and reads what that
// replica stored or remembered as missing. A holder that stopped renewing
// (killed, hung) is taken over once its lease expires.
func (s *Server) fetchOnce(ctx context.Context, m module.Version, kind store.Kind, key string) (*store.Artifact, error) {
	for {
		// Watch first, so that an end between the checks below and the wait
		// is not missed.
		ended, stop := s.opts.Store.WatchLease(ctx, key)
		l, err := s.opts.Store.TakeLease(ctx, key, s.replica, s.leaseTTL)
		if err != nil {
			stop()
			return nil, fmt.Errorf("%s@%s: taking the fetch lease of the .%s: %w", m.Path, m.Version, kind, err)
		}
		// Stored or found missing by the previous holder (maybe just before we
		// took the lease)?
		a, done, err := s.fetchedMeanwhile(ctx, m, kind, key)
		if done {
			stop()
			if l != nil {
				s.releaseLease(ctx, l)
			}
			return a, err
		}
		if l != nil {
			stop()
			return s.ingestLeased(ctx, l, m, kind, key)
		}
		wait := time.NewTimer(s.leasePoll)
		began, woken := time.Now(), "notify"
		select {
		case <-ended:
		case <-wait.C:
			woken = "poll"
		case <-ctx.Done():
			woken = "done"
		}
		wait.Stop()
		stop()
		s.log.Debug("fetch lease: waited for another replica's fetch", "key", key, "woken_by", woken, "waited", time.Since(began))
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s@%s: waiting for another replica's fetch of the .%s: %w", m.Path, m.Version, kind, err)
		}
	}
}

// fetchedMeanwhile reports (done true) whether the artifact is stored, or
// remembered as missing, by now.
func (s *Server) fetchedMeanwhile(ctx context.Context, m module.Version, kind store.Kind, key string) (*store.Artifact, bool, error) {
	a, err := s.storedArtifact(ctx, m, kind)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return a, true, err
	}
	if err := s.missed(key); err != nil {
		return nil, true, err
	}
	reason, err := s.opts.Store.Missing(ctx, key)
	switch {
	case err == nil:
		err := &upstreamError{err: &missingError{reason: reason}}
		s.memo.put(missKey(key), &missed{err: err, until: s.now().Add(s.missingTTL)}, int64(len(reason)))
		return nil, true, err
	case !errors.Is(err, fs.ErrNotExist):
		return nil, true, err
	}
	return nil, false, nil
}

// ingestLeased ingests under lease l, renewing it while it works, and
// completes it with the result in one transaction. When l was taken over
// meanwhile (this process hung for longer than the TTL) it writes nothing and
// serves what the new holder stores.
func (s *Server) ingestLeased(ctx context.Context, l *store.Lease, m module.Version, kind store.Kind, key string) (*store.Artifact, error) {
	wctx, cancel := context.WithCancelCause(ctx)
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		s.heartbeat(wctx, l, cancel)
	}()
	a, done, err := s.ingest(wctx, m, kind)
	cancel(nil)
	<-beat
	lost := errors.Is(context.Cause(wctx), store.ErrLeaseLost)
	if err != nil && !lost {
		if missing(err) && s.missingTTL > 0 {
			_, cerr := s.opts.Store.CompleteLease(context.WithoutCancel(ctx), l, store.LeaseResult{Missing: err.Error(), MissingTTL: s.missingTTL})
			if cerr == nil {
				s.memo.put(missKey(key), &missed{err: err, until: s.now().Add(s.missingTTL)}, int64(len(err.Error())))
				return nil, err
			}
			if !errors.Is(cerr, store.ErrLeaseLost) {
				s.log.Error("recording a version upstream does not have", "module", m.Path, "version", m.Version,
					"kind", string(kind), "err", cerr.Error())
				return nil, err
			}
			lost = true
		} else {
			s.releaseLease(ctx, l)
			return nil, err
		}
	}
	if !lost {
		stored, cerr := s.opts.Store.CompleteLease(context.WithoutCancel(ctx), l, store.LeaseResult{Artifact: a})
		if cerr == nil {
			s.log.Debug("fetch lease completed", "key", key, "generation", l.Generation)
			done(ctx, stored)
			return stored, nil
		}
		if !errors.Is(cerr, store.ErrLeaseLost) {
			s.releaseLease(ctx, l)
			return nil, fmt.Errorf("%s@%s: storing .%s: %w", m.Path, m.Version, kind, cerr)
		}
	}
	// Taken over: the holder that took over records the artifact; this
	// process records nothing (no row, no facts, no SBOM) and serves that.
	s.log.Warn("fetch lease taken over while this replica fetched (it stalled past --fetch-lease-ttl): using the other replica's result",
		"module", m.Path, "version", m.Version, "kind", string(kind), "generation", l.Generation)
	return s.fetchOnce(ctx, m, kind, key)
}

// heartbeat renews l every third of its TTL until ctx ends; when l was taken
// over it cancels ctx with store.ErrLeaseLost (the work is someone else's now).
func (s *Server) heartbeat(ctx context.Context, l *store.Lease, cancel context.CancelCauseFunc) {
	t := time.NewTicker(max(s.leaseTTL/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.opts.Store.RenewLease(ctx, l, s.leaseTTL)
		switch {
		case errors.Is(err, store.ErrLeaseLost):
			cancel(store.ErrLeaseLost)
			return
		case err != nil && ctx.Err() == nil:
			s.log.Warn("renewing a fetch lease", "key", l.Key, "err", err.Error())
		}
	}
}

func (s *Server) releaseLease(ctx context.Context, l *store.Lease) {
	if err := s.opts.Store.ReleaseLease(context.WithoutCancel(ctx), l); err != nil {
		// Not fatal: the lease expires after its TTL.
		s.log.Warn("releasing a fetch lease", "key", l.Key, "err", err.Error())
	}
}

// missing reports whether err is upstream's "not found" (404/410, or a
// version the VCS does not have) to be remembered; "off" is configuration,
// not an answer.
func missing(err error) bool {
	var up *upstreamError
	return errors.As(err, &up) && errors.Is(err, fs.ErrNotExist) && !errors.Is(err, upstream.ErrOff)
}

// missed is a "not found" remembered in memory.
type missed struct {
	err   error
	until time.Time
}

func missKey(key string) string { return "missing " + key }

// missed returns the "not found" remembered in memory for key, if in force.
func (s *Server) missed(key string) error {
	if e, ok := s.memo.get(missKey(key)).(*missed); ok && s.now().Before(e.until) {
		return e.err
	}
	return nil
}

// missingError is a "not found" another replica (or an earlier fetch) got
// from upstream, in its words.
type missingError struct{ reason string }

func (e *missingError) Error() string { return e.reason }
func (e *missingError) Unwrap() error { return fs.ErrNotExist }

// defaultReplica names this process in fetch leases.
func defaultReplica() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}
