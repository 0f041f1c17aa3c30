package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"sync"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// The embedded database serves one process, so leases coordinate its
// goroutines only; the rows, generations and fencing are those of the
// PostgreSQL driver, and watchers are woken in process.

// TakeLease implements [store.Leases].
func (s *Store) TakeLease(ctx context.Context, key, holder string, ttl time.Duration) (_ *store.Lease, err error) {
	defer wrap(&err, "sqlite: take lease %q", key)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	now := normTime(s.now())
	var gen int64
	if err := tx.QueryRowContext(ctx,
		`UPDATE fetch_lease_generation SET n = n + 1 WHERE id = 1 RETURNING n`).Scan(&gen); err != nil {
		return nil, err
	}
	l := &store.Lease{Key: key, Generation: gen, Holder: holder, Expires: now.Add(ttl).Truncate(time.Microsecond)}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO fetch_leases (key, generation, holder, taken_at, expires_at) VALUES (?, ?, ?, ?, ?)
		 ON CONFLICT (key) DO UPDATE
		   SET generation = excluded.generation, holder = excluded.holder,
		       taken_at = excluded.taken_at, expires_at = excluded.expires_at
		   WHERE fetch_leases.expires_at < excluded.taken_at`,
		key, gen, holder, now.Format(timeFormat), l.Expires.Format(timeFormat))
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return nil, err // held by another, in force
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return l, nil
}

// RenewLease implements [store.Leases].
func (s *Store) RenewLease(ctx context.Context, l *store.Lease, ttl time.Duration) (err error) {
	defer wrap(&err, "sqlite: renew lease %q", l.Key)
	exp := normTime(s.now().Add(ttl))
	res, err := s.write.ExecContext(ctx,
		`UPDATE fetch_leases SET expires_at = ? WHERE key = ? AND generation = ?`,
		exp.Format(timeFormat), l.Key, l.Generation)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return store.ErrLeaseLost
	}
	l.Expires = exp
	return nil
}

// CompleteLease implements [store.Leases].
func (s *Store) CompleteLease(ctx context.Context, l *store.Lease, r store.LeaseResult) (_ *store.Artifact, err error) {
	defer wrap(&err, "sqlite: complete lease %q", l.Key)
	if r.Artifact != nil {
		if err := r.Artifact.Validate(); err != nil {
			return nil, err
		}
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM fetch_leases WHERE key = ? AND generation = ?`, l.Key, l.Generation)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, store.ErrLeaseLost
	}
	now := normTime(s.now())
	var stored *store.Artifact
	if a := r.Artifact; a != nil {
		created := a.CreatedAt
		if created.IsZero() {
			created = now
		}
		created = normTime(created)
		res, err := tx.ExecContext(ctx,
			`INSERT INTO artifacts (module_path, version, kind, sha256, size, data, upstream, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			 ON CONFLICT (module_path, version, kind) DO NOTHING`,
			a.Module.Path, a.Module.Version, string(a.Kind), a.SHA256, a.Size, a.Data, a.Upstream,
			created.Format(timeFormat))
		if err != nil {
			return nil, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			stored = &store.Artifact{Module: a.Module, Kind: a.Kind}
			var createdText string
			var null bool
			err := tx.QueryRowContext(ctx,
				`SELECT sha256, size, data, data IS NULL, upstream, created_at FROM artifacts
				 WHERE module_path = ? AND version = ? AND kind = ?`,
				a.Module.Path, a.Module.Version, string(a.Kind)).
				Scan(&stored.SHA256, &stored.Size, &stored.Data, &null, &stored.Upstream, &createdText)
			if err != nil {
				return nil, err
			}
			if stored.Data == nil && !null {
				stored.Data = []byte{}
			}
			if stored.CreatedAt, err = parseTime(createdText); err != nil {
				return nil, err
			}
		} else {
			c := *a
			c.Data = clone(a.Data)
			c.CreatedAt = created
			stored = &c
		}
	}
	if r.Missing != "" {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO fetch_misses (key, reason, expires_at) VALUES (?, ?, ?)
			 ON CONFLICT (key) DO UPDATE SET reason = excluded.reason, expires_at = excluded.expires_at`,
			l.Key, r.Missing, normTime(now.Add(r.MissingTTL)).Format(timeFormat)); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM fetch_misses WHERE expires_at < ?`,
			now.Add(-time.Minute).Format(timeFormat)); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.watch.wake(l.Key)
	return stored, nil
}

// ReleaseLease implements [store.Leases].
func (s *Store) ReleaseLease(ctx context.Context, l *store.Lease) (err error) {
	defer wrap(&err, "sqlite: release lease %q", l.Key)
	res, err := s.write.ExecContext(ctx, `DELETE FROM fetch_leases WHERE key = ? AND generation = ?`, l.Key, l.Generation)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.watch.wake(l.Key)
	}
	return nil
}

// Missing implements [store.Leases].
func (s *Store) Missing(ctx context.Context, key string) (_ string, err error) {
	defer wrap(&err, "sqlite: missing %q", key)
	var reason string
	err = s.read.QueryRowContext(ctx, `SELECT reason FROM fetch_misses WHERE key = ? AND expires_at > ?`,
		key, normTime(s.now()).Format(timeFormat)).Scan(&reason)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fs.ErrNotExist
	}
	return reason, err
}

// WatchLease implements [store.Leases] in process.
func (s *Store) WatchLease(ctx context.Context, key string) (<-chan struct{}, func()) {
	return s.watch.add(key)
}

// watchers wakes the in-process watchers of lease keys.
type watchers struct {
	mu sync.Mutex
	m  map[string]map[chan struct{}]struct{}
}

func (w *watchers) add(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.m == nil {
		w.m = make(map[string]map[chan struct{}]struct{})
	}
	if w.m[key] == nil {
		w.m[key] = make(map[chan struct{}]struct{})
	}
	w.m[key][ch] = struct{}{}
	w.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			delete(w.m[key], ch)
			if len(w.m[key]) == 0 {
				delete(w.m, key)
			}
		})
	}
}

func (w *watchers) wake(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
