package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modgate/modgate/internal/store"
)

// leaseChannel is the NOTIFY channel on which lease ends are announced. The
// payload is [leaseTopic] of the key, never the key itself (module paths are
// hostile and could exceed NOTIFY's payload limit).
const leaseChannel = "modgate_fetch_leases"

// leaseTopic names key in notifications: a hex SHA-256 prefix.
func leaseTopic(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// micros is d in whole microseconds, at least 1, for interval arithmetic.
func micros(d time.Duration) int64 { return max(int64(d/time.Microsecond), 1) }

// TakeLease implements [store.Leases]. Expiry is on the database's clock, so
// replicas whose clocks differ agree on it.
func (s *Store) TakeLease(ctx context.Context, key, holder string, ttl time.Duration) (_ *store.Lease, err error) {
	defer wrap(&err, "postgres: take lease %q", key)
	l := &store.Lease{Key: key, Holder: holder}
	err = s.pool.QueryRow(ctx,
		`INSERT INTO fetch_leases (key, generation, holder, taken_at, expires_at)
		 VALUES ($1, nextval('fetch_lease_generation'), $2, now(), now() + $3 * interval '1 microsecond')
		 ON CONFLICT (key) DO UPDATE
		   SET generation = EXCLUDED.generation, holder = EXCLUDED.holder,
		       taken_at = EXCLUDED.taken_at, expires_at = EXCLUDED.expires_at
		   WHERE fetch_leases.expires_at < now()
		 RETURNING generation, expires_at`,
		key, holder, micros(ttl)).Scan(&l.Generation, &l.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil // held by another, in force
	}
	if err != nil {
		return nil, err
	}
	l.Expires = l.Expires.UTC()
	return l, nil
}

// RenewLease implements [store.Leases].
func (s *Store) RenewLease(ctx context.Context, l *store.Lease, ttl time.Duration) (err error) {
	defer wrap(&err, "postgres: renew lease %q", l.Key)
	var exp time.Time
	err = s.pool.QueryRow(ctx,
		`UPDATE fetch_leases SET expires_at = now() + $3 * interval '1 microsecond'
		 WHERE key = $1 AND generation = $2 RETURNING expires_at`,
		l.Key, l.Generation, micros(ttl)).Scan(&exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrLeaseLost
	}
	if err != nil {
		return err
	}
	l.Expires = exp.UTC()
	return nil
}

// CompleteLease implements [store.Leases]: the lease row is deleted first,
// which fences a holder that was taken over (its generation matches no row)
// and serialises with a concurrent takeover on the row's lock.
func (s *Store) CompleteLease(ctx context.Context, l *store.Lease, r store.LeaseResult) (_ *store.Artifact, err error) {
	defer wrap(&err, "postgres: complete lease %q", l.Key)
	if r.Artifact != nil {
		if err := r.Artifact.Validate(); err != nil {
			return nil, err
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tag, err := tx.Exec(ctx, `DELETE FROM fetch_leases WHERE key = $1 AND generation = $2`, l.Key, l.Generation)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, store.ErrLeaseLost
	}
	var stored *store.Artifact
	if a := r.Artifact; a != nil {
		created := a.CreatedAt
		if created.IsZero() {
			created = s.now()
		}
		created = normTime(created)
		tag, err := tx.Exec(ctx,
			`INSERT INTO artifacts (module_path, version, kind, sha256, size, data, upstream, created_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			 ON CONFLICT (module_path, version, kind) DO NOTHING`,
			a.Module.Path, a.Module.Version, string(a.Kind), a.SHA256, a.Size, a.Data, a.Upstream, created)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 0 {
			stored = &store.Artifact{Module: a.Module, Kind: a.Kind}
			err := tx.QueryRow(ctx,
				`SELECT sha256, size, data, upstream, created_at FROM artifacts
				 WHERE module_path = $1 AND version = $2 AND kind = $3`,
				a.Module.Path, a.Module.Version, string(a.Kind)).
				Scan(&stored.SHA256, &stored.Size, &stored.Data, &stored.Upstream, &stored.CreatedAt)
			if err != nil {
				return nil, err
			}
			stored.CreatedAt = stored.CreatedAt.UTC()
		} else {
			c := *a
			if a.Data != nil {
				c.Data = append([]byte{}, a.Data...)
			}
			c.CreatedAt = created
			stored = &c
		}
	}
	if r.Missing != "" {
		if _, err := tx.Exec(ctx,
			`INSERT INTO fetch_misses (key, reason, expires_at) VALUES ($1, $2, now() + $3 * interval '1 microsecond')
			 ON CONFLICT (key) DO UPDATE SET reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at`,
			l.Key, r.Missing, micros(r.MissingTTL)); err != nil {
			return nil, err
		}
		// Keep the table to what is in force (and a little more).
		if _, err := tx.Exec(ctx,
			`DELETE FROM fetch_misses WHERE key IN (
			   SELECT key FROM fetch_misses WHERE expires_at < now() - interval '1 minute' LIMIT 100)`); err != nil {
			return nil, err
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, leaseChannel, leaseTopic(l.Key)); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return stored, nil
}

// ReleaseLease implements [store.Leases].
func (s *Store) ReleaseLease(ctx context.Context, l *store.Lease) (err error) {
	defer wrap(&err, "postgres: release lease %q", l.Key)
	_, err = s.pool.Exec(ctx,
		`WITH gone AS (DELETE FROM fetch_leases WHERE key = $1 AND generation = $2 RETURNING key)
		 SELECT pg_notify($3, $4) FROM gone`,
		l.Key, l.Generation, leaseChannel, leaseTopic(l.Key))
	return err
}

// Missing implements [store.Leases].
func (s *Store) Missing(ctx context.Context, key string) (_ string, err error) {
	defer wrap(&err, "postgres: missing %q", key)
	var reason string
	err = s.pool.QueryRow(ctx,
		`SELECT reason FROM fetch_misses WHERE key = $1 AND expires_at > now()`, key).Scan(&reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fs.ErrNotExist
	}
	return reason, err
}

// WatchLease implements [store.Leases] with one LISTEN connection per Store,
// opened on first use and shared by every watcher: never a connection per
// key. It waits (up to 2 seconds) for LISTEN to be in effect, so that an end
// announced after WatchLease returns is delivered.
func (s *Store) WatchLease(ctx context.Context, key string) (<-chan struct{}, func()) {
	return s.listen.watch(ctx, s, leaseTopic(key))
}

// listener is a Store's one LISTEN connection and its watchers.
type listener struct {
	mu       sync.Mutex
	watchers map[string]map[chan struct{}]struct{} // by topic
	started  bool
	ready    chan struct{} // closed while LISTEN is in effect; replaced when it breaks
	stop     context.CancelFunc
	done     chan struct{}
}

func (ln *listener) watch(ctx context.Context, s *Store, topic string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	ln.mu.Lock()
	if ln.watchers == nil {
		ln.watchers = make(map[string]map[chan struct{}]struct{})
	}
	set := ln.watchers[topic]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		ln.watchers[topic] = set
	}
	set[ch] = struct{}{}
	if !ln.started {
		ln.started = true
		ln.ready = make(chan struct{})
		lctx, cancel := context.WithCancel(context.Background())
		ln.stop, ln.done = cancel, make(chan struct{})
		go ln.run(lctx, s)
	}
	ready := ln.ready
	ln.mu.Unlock()
	select {
	case <-ready:
	case <-ctx.Done():
	case <-time.After(2 * time.Second): // polling covers it
	}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			ln.mu.Lock()
			defer ln.mu.Unlock()
			delete(ln.watchers[topic], ch)
			if len(ln.watchers[topic]) == 0 {
				delete(ln.watchers, topic)
			}
		})
	}
}

// run holds the LISTEN connection until ctx ends, reconnecting after a
// failure (every watcher is woken then, as ends may have been missed).
func (ln *listener) run(ctx context.Context, s *Store) {
	defer close(ln.done)
	for ctx.Err() == nil {
		err := ln.listenOnce(ctx, s)
		ln.mu.Lock()
		select {
		case <-ln.ready:
			ln.ready = make(chan struct{})
		default:
		}
		for _, set := range ln.watchers {
			for ch := range set {
				wake(ch)
			}
		}
		ln.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (ln *listener) listenOnce(ctx context.Context, s *Store) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+leaseChannel); err != nil {
		return err
	}
	ln.mu.Lock()
	close(ln.ready)
	ln.mu.Unlock()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("waiting for lease notifications: %w", err)
		}
		ln.mu.Lock()
		for ch := range ln.watchers[n.Payload] {
			wake(ch)
		}
		ln.mu.Unlock()
	}
}

// close stops the listener, if it runs.
func (ln *listener) close() {
	ln.mu.Lock()
	stop, done := ln.stop, ln.done
	ln.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// wake signals ch without blocking (it holds at most one signal).
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
