// Package postgres implements [store.Store] on PostgreSQL, for fleets of modgate
// replicas that share one database.
//
// A Store holds two connection pools (github.com/jackc/pgx/v5/pgxpool): one for
// queries and one only for the connections that hold advisory locks. A lock
// holds its connection until unlock, so with one pool, goroutines waiting for
// locks could take every connection and starve the lock holders, who need a
// connection to finish their work and unlock.
//
// Open applies the migrations of package migrations with goose while holding a
// session-level advisory lock, so replicas that start at once migrate one after
// the other.
//
// Errors never contain the DSN's password.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/migrations"
)

// Advisory lock keys are 64-bit FNV-1a hashes of a namespace and a name, so
// features that take advisory locks for their own reasons do not collide.
const (
	nsLocker     = "modgate/store.Locker\x00"
	nsMigrations = "modgate/migrations\x00"
	nsZipFiles   = "modgate/zip_files\x00"
)

// AdvisoryKey returns the bigint key of the PostgreSQL advisory lock that
// [Store.Lock] takes for key: the FNV-1a hash of a fixed namespace and key.
// It is exported for operators and tests that look at pg_locks.
func AdvisoryKey(key string) int64 { return advisoryKey(nsLocker, key) }

func advisoryKey(namespace, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(namespace))
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// Option configures [Open].
type Option func(*config)

type config struct {
	now          func() time.Time
	maxLockConns int32
}

// WithClock makes the store use now for the times it sets (CreatedAt and
// FetchedAt left zero by the caller). The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithMaxLockConns caps how many locks the store holds or waits for at once;
// each takes a connection of its own. Further Lock calls wait for a free
// connection. The default, for n <= 0 too, is 32. The query pool is sized by
// the DSN's pool_max_conns (pgxpool's default: max(4, number of CPUs)).
func WithMaxLockConns(n int32) Option {
	return func(c *config) { c.maxLockConns = n }
}

// Store is a [store.Store] on a PostgreSQL database. It is safe for concurrent use.
type Store struct {
	pool  *pgxpool.Pool // queries
	locks *pgxpool.Pool // connections holding advisory locks
	now   func() time.Time
	// listen is the one LISTEN connection for fetch lease ends (leases.go).
	listen listener
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (a libpq keyword/value string or a
// postgres:// URL, as accepted by pgxpool.ParseConfig), applies pending
// migrations and returns a Store. The caller must Close it.
func Open(ctx context.Context, dsn string, opts ...Option) (_ *Store, err error) {
	defer wrap(&err, "postgres: open")
	cfg := config{now: time.Now, maxLockConns: 32}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxLockConns <= 0 {
		cfg.maxLockConns = 32
	}
	poolCfg, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	lockCfg := poolCfg.Copy()
	lockCfg.MaxConns = cfg.maxLockConns
	lockCfg.MinConns = 0
	lockCfg.MaxConnIdleTime = time.Minute
	// When a Lock's ctx ends while it waits in pg_advisory_lock, ask the
	// server to cancel the wait (the default only breaks the connection,
	// which leaves the server-side backend queued for the lock until it
	// gets it).
	lockCfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 5 * time.Second}
	}

	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, err
	}
	locks, err := pgxpool.NewWithConfig(ctx, lockCfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, locks: locks, now: cfg.now}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := migrate(ctx, pool); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Migrate applies every pending migration to the database named by dsn. Open
// does the same; Migrate is for `modgate migrate` and test templates.
func Migrate(ctx context.Context, dsn string) (err error) {
	defer wrap(&err, "postgres: migrate")
	poolCfg, err := parseDSN(dsn)
	if err != nil {
		return err
	}
	poolCfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

// parseDSN parses dsn without ever quoting it in an error: pgx redacts
// passwords only on a best-effort basis.
func parseDSN(dsn string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("invalid DSN (not shown, as it may hold a password): want a postgres:// URL or libpq key=value pairs")
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "modgate"
	}
	return cfg, nil
}

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrations.FS, "postgres")
	if err != nil {
		return err
	}
	// Replicas starting at once take turns: goose holds this session lock
	// while it migrates, polling for it every second for up to 10 minutes.
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(advisoryKey(nsMigrations, "goose")),
		lock.WithLockTimeout(1, 600),
		lock.WithUnlockTimeout(1, 60),
	)
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// closeLockWait is how long Close waits for held locks to be unlocked.
const closeLockWait = 10 * time.Second

// Close closes both pools, after waiting for queries in flight to end and for
// held locks to be unlocked. If locks are still held after a while, Close
// returns an error and leaves their connections to close when they are
// unlocked (which releases the locks on the server).
func (s *Store) Close() error {
	s.listen.close()
	s.pool.Close()
	closed := make(chan struct{})
	go func() {
		s.locks.Close()
		close(closed)
	}()
	select {
	case <-closed:
		return nil
	case <-time.After(closeLockWait):
		return fmt.Errorf("postgres: close: %d locks still held after %v; they are released when unlocked",
			s.locks.Stat().AcquiredConns(), closeLockWait)
	}
}

// Artifact implements [store.Artifacts].
func (s *Store) Artifact(ctx context.Context, m module.Version, k store.Kind) (_ *store.Artifact, err error) {
	defer wrap(&err, "postgres: artifact %s %s", m, k)
	a := &store.Artifact{Module: m, Kind: k}
	err = s.pool.QueryRow(ctx,
		`SELECT sha256, size, data, upstream, created_at FROM artifacts
		 WHERE module_path = $1 AND version = $2 AND kind = $3`,
		m.Path, m.Version, string(k)).
		Scan(&a.SHA256, &a.Size, &a.Data, &a.Upstream, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, nil
}

// PutArtifact implements [store.Artifacts].
func (s *Store) PutArtifact(ctx context.Context, a *store.Artifact) (_ *store.Artifact, err error) {
	defer wrap(&err, "postgres: put artifact %s %s", a.Module, a.Kind)
	if err := a.Validate(); err != nil {
		return nil, err
	}
	created := a.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	created = normTime(created)
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO artifacts (module_path, version, kind, sha256, size, data, upstream, created_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		 ON CONFLICT (module_path, version, kind) DO NOTHING`,
		a.Module.Path, a.Module.Version, string(a.Kind), a.SHA256, a.Size, a.Data, a.Upstream, created)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		// The first writer won. ON CONFLICT waited for its transaction to
		// commit, so the row is visible now.
		return s.Artifact(ctx, a.Module, a.Kind)
	}
	stored := *a
	if a.Data != nil {
		stored.Data = append([]byte{}, a.Data...)
	}
	stored.CreatedAt = created
	return &stored, nil
}

// DropArtifact implements [store.Artifacts].
func (s *Store) DropArtifact(ctx context.Context, m module.Version, k store.Kind, sha256 string) (err error) {
	defer wrap(&err, "postgres: drop artifact %s %s", m, k)
	_, err = s.pool.Exec(ctx,
		`DELETE FROM artifacts WHERE module_path = $1 AND version = $2 AND kind = $3 AND sha256 = $4`,
		m.Path, m.Version, string(k), sha256)
	return err
}

// Meta implements [store.Metadata].
func (s *Store) Meta(ctx context.Context, path string, kind store.MetaKind) (_ *store.Meta, err error) {
	defer wrap(&err, "postgres: meta %s %s", path, kind)
	m := &store.Meta{Path: path, Kind: kind}
	err = s.pool.QueryRow(ctx,
		`SELECT data, fetched_at FROM meta WHERE path = $1 AND kind = $2`, path, string(kind)).
		Scan(&m.Data, &m.FetchedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if m.Data == nil {
		m.Data = []byte{}
	}
	m.FetchedAt = m.FetchedAt.UTC()
	return m, nil
}

// PutMeta implements [store.Metadata].
func (s *Store) PutMeta(ctx context.Context, m *store.Meta) (err error) {
	defer wrap(&err, "postgres: put meta %s %s", m.Path, m.Kind)
	if m.Kind == "" {
		return errors.New("empty kind")
	}
	fetched := m.FetchedAt
	if fetched.IsZero() {
		fetched = s.now()
	}
	data := m.Data
	if data == nil {
		data = []byte{}
	}
	_, err = s.pool.Exec(ctx,
		`INSERT INTO meta (path, kind, data, fetched_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (path, kind) DO UPDATE SET data = excluded.data, fetched_at = excluded.fetched_at`,
		m.Path, string(m.Kind), data, normTime(fetched))
	return err
}

// Tile implements [store.Tiles].
func (s *Store) Tile(ctx context.Context, db, path string) (_ []byte, err error) {
	defer wrap(&err, "postgres: tile %s/%s", db, path)
	var data []byte
	err = s.pool.QueryRow(ctx,
		`SELECT data FROM sumdb_tiles WHERE db = $1 AND path = $2`, db, path).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

// PutTile implements [store.Tiles].
func (s *Store) PutTile(ctx context.Context, db, path string, data []byte) (err error) {
	defer wrap(&err, "postgres: put tile %s/%s", db, path)
	if data == nil {
		data = []byte{}
	}
	_, err = s.pool.Exec(ctx,
		`INSERT INTO sumdb_tiles (db, path, data, created_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (db, path) DO NOTHING`,
		db, path, data, normTime(s.now()))
	return err
}

// Lock implements [store.Locker] with a session-level advisory lock, keyed by
// [AdvisoryKey], on a connection of its own that is held until unlock. It
// excludes every Store on the same database, in any process.
//
// If ctx ends while Lock waits, the wait is cancelled on the server and the
// connection is closed, so whatever the race, no lock outlives the call.
// Session locks are reentrant per connection, which cannot matter here: no two
// Lock calls share a connection.
func (s *Store) Lock(ctx context.Context, key string) (_ func(), err error) {
	defer wrap(&err, "postgres: lock %q", key)
	id := AdvisoryKey(key)
	conn, err := s.locks.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, id); err != nil {
		// Maybe the lock was granted just as the wait was cancelled:
		// ending the session releases it for certain.
		discard(conn)
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { release(conn, id) }) }, nil
}

// release unlocks advisory lock id held by conn's session and returns conn to
// its pool.
func release(conn *pgxpool.Conn, id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var released bool
	err := conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1)`, id).Scan(&released)
	if err != nil || !released {
		// The connection broke (the server already released the
		// lock) or is confused: end the session to be sure.
		discard(conn)
		return
	}
	conn.Release()
}

// discard closes conn's session and removes it from its pool.
func discard(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := conn.Hijack()
	c.Close(ctx)
}

// normTime returns t in UTC truncated to microseconds, which PostgreSQL keeps
// (it would round instead, and the two drivers must agree).
func normTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// wrap prefixes *errp, if not nil, with a description of the operation. It keeps
// the error chain, so errors.Is(err, fs.ErrNotExist) still works.
func wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		var pe *pgconn.PgError
		if errors.As(*errp, &pe) && pe.Code == "53100" { // disk_full
			*errp = fmt.Errorf("%w: %w", store.ErrNoSpace, *errp)
		}
		*errp = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), *errp)
	}
}
