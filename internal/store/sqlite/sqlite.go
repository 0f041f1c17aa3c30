// Package sqlite implements [store.Store] on an embedded SQLite database (the
// pure-Go modernc.org/sqlite driver), the default for a single modgate process.
//
// The database runs in WAL mode, so readers never wait for the writer. SQLite
// allows one writer at a time; to keep concurrent writers from failing with
// SQLITE_BUSY, a Store sends every write through a pool of exactly one
// connection (writes queue in database/sql instead of in SQLite's busy handler)
// and every read through a separate pool of query-only connections. A busy
// timeout still covers other processes that open the same file, such as
// `modgate migrate` or the sqlite3 shell.
//
// Times are stored as fixed-width UTC text with microsecond precision, the same
// precision PostgreSQL keeps, so both drivers return identical records.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/pressly/goose/v3"
	"golang.org/x/mod/module"
	"modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/migrations"
)

// timeFormat is how times are stored: UTC, fixed width, microseconds.
const timeFormat = "2006-01-02T15:04:05.000000Z"

// busyTimeout is how long a connection waits for a lock held by another
// connection (in practice another process) before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// Option configures [Open].
type Option func(*config)

type config struct {
	now      func() time.Time
	maxReads int
}

// WithClock makes the store use now for the times it sets (CreatedAt and
// FetchedAt left zero by the caller). The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithMaxReaders sets how many read connections the store opens at most. The
// default, for n <= 0 too, is max(4, GOMAXPROCS).
func WithMaxReaders(n int) Option {
	return func(c *config) { c.maxReads = n }
}

// Store is a [store.Store] backed by one SQLite file. It is safe for concurrent use.
type Store struct {
	write *prepDB // exactly one connection: SQLite has one writer
	read  *prepDB // query-only connections
	// getArtifact is the hot path's one query, prepared once: parsing it again
	// on every request cost half of a cached .info's time.
	getArtifact *sql.Stmt
	now         func() time.Time
	locks       *keyLocks
	watch       watchers // in-process watchers of fetch leases (leases.go)
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it and its parent directory if needed) the SQLite
// database at path, migrates it to the newest schema and returns a Store. The
// caller must Close it.
func Open(ctx context.Context, path string, opts ...Option) (_ *Store, err error) {
	defer wrap(&err, "sqlite: open %s", path)
	cfg := config{now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxReads <= 0 {
		cfg.maxReads = max(4, runtime.GOMAXPROCS(0))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	write, err := openDB(path, false)
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, err
	}
	read, err := openDB(path, true)
	if err != nil {
		write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(cfg.maxReads)
	read.SetMaxIdleConns(cfg.maxReads)
	get, err := read.PrepareContext(ctx, `SELECT sha256, size, data, data IS NULL, upstream, created_at
		FROM artifacts WHERE module_path = ? AND version = ? AND kind = ?`)
	if err != nil {
		read.Close()
		write.Close()
		return nil, err
	}
	return &Store{write: newPrepDB(write), read: newPrepDB(read), getArtifact: get, now: cfg.now, locks: newKeyLocks()}, nil
}

// Migrate creates the database at path if needed and applies every pending
// migration. Open does the same; Migrate is for `modgate migrate`.
func Migrate(ctx context.Context, path string) (err error) {
	defer wrap(&err, "sqlite: migrate %s", path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	db, err := openDB(path, false)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return migrate(ctx, db)
}

// openDB opens a database/sql handle on path with the connection settings every
// connection needs. It does no I/O: connections are opened on first use.
func openDB(path string, readOnly bool) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	// A file: URI, so that a path with '?' or '#' in it is not mistaken for
	// parameters; the driver strips the parameters starting with '_'.
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)") // durable in WAL mode except for the last commits on power loss
	// A 256 KiB page cache per connection instead of SQLite's 2 MiB: the
	// pages are in the OS page cache anyway (WAL mode reads them with
	// pread), and the embedded library never returns its heap, so each
	// connection's cache stayed resident at its peak. In cold fills of the
	// bench graph (5 connections) peak RSS went 120 -> 106-109 MiB with the
	// same proxy CPU.
	q.Add("_pragma", "cache_size(-256)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// Take the write lock at BEGIN, so a transaction never has to
		// upgrade a read lock (which fails at once with SQLITE_BUSY).
		q.Set("_txlock", "immediate")
		// Statement journals in memory, not in a temporary file: every
		// statement of a transaction that may fail a constraint after an
		// earlier write (a batch of PutZipFiles rows after its DELETE)
		// copies the pages it changes there first, and as a file that was
		// a pwrite per page (half of the clone index's insert time in a
		// cold fill). They hold one statement's pages.
		q.Add("_pragma", "temp_store(MEMORY)")
	}
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode()
	return sql.Open("sqlite", dsn)
}

func migrate(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrations.FS, "sqlite")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// Ping reports whether the database answers on both pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the database. Locks still held stay held in memory; nothing can
// use them after Close.
func (s *Store) Close() error {
	return errors.Join(s.getArtifact.Close(), s.read.Close(), s.write.Close())
}

// Artifact implements [store.Artifacts].
func (s *Store) Artifact(ctx context.Context, m module.Version, k store.Kind) (_ *store.Artifact, err error) {
	defer wrap(&err, "sqlite: artifact %s %s", m, k)
	return s.artifactFrom(ctx, m, k)
}

// PutArtifact implements [store.Artifacts].
func (s *Store) PutArtifact(ctx context.Context, a *store.Artifact) (_ *store.Artifact, err error) {
	defer wrap(&err, "sqlite: put artifact %s %s", a.Module, a.Kind)
	if err := a.Validate(); err != nil {
		return nil, err
	}
	created := a.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	created = normTime(created)
	res, err := s.write.ExecContext(ctx,
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
		// The first writer won; its row was committed before ours ran.
		return s.artifactFrom(ctx, a.Module, a.Kind)
	}
	stored := *a
	stored.Data = clone(a.Data)
	stored.CreatedAt = created
	return &stored, nil
}

// DropArtifact implements [store.Artifacts].
func (s *Store) DropArtifact(ctx context.Context, m module.Version, k store.Kind, sha256 string) (err error) {
	defer wrap(&err, "sqlite: drop artifact %s %s", m, k)
	_, err = s.write.ExecContext(ctx,
		`DELETE FROM artifacts WHERE module_path = ? AND version = ? AND kind = ? AND sha256 = ?`,
		m.Path, m.Version, string(k), sha256)
	return err
}

func (s *Store) artifactFrom(ctx context.Context, m module.Version, k store.Kind) (*store.Artifact, error) {
	a := &store.Artifact{Module: m, Kind: k}
	var created string
	var null bool
	err := s.getArtifact.QueryRowContext(ctx, m.Path, m.Version, string(k)).
		Scan(&a.SHA256, &a.Size, &a.Data, &null, &a.Upstream, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if a.Data == nil && !null {
		a.Data = []byte{} // the driver reads an empty BLOB as nil
	}
	if a.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return a, nil
}

// Meta implements [store.Metadata].
func (s *Store) Meta(ctx context.Context, path string, kind store.MetaKind) (_ *store.Meta, err error) {
	defer wrap(&err, "sqlite: meta %s %s", path, kind)
	m := &store.Meta{Path: path, Kind: kind}
	var fetched string
	err = s.read.QueryRowContext(ctx,
		`SELECT data, fetched_at FROM meta WHERE path = ? AND kind = ?`, path, string(kind)).
		Scan(&m.Data, &fetched)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	if m.Data == nil {
		m.Data = []byte{}
	}
	if m.FetchedAt, err = parseTime(fetched); err != nil {
		return nil, err
	}
	return m, nil
}

// PutMeta implements [store.Metadata].
func (s *Store) PutMeta(ctx context.Context, m *store.Meta) (err error) {
	defer wrap(&err, "sqlite: put meta %s %s", m.Path, m.Kind)
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
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO meta (path, kind, data, fetched_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (path, kind) DO UPDATE SET data = excluded.data, fetched_at = excluded.fetched_at`,
		m.Path, string(m.Kind), data, normTime(fetched).Format(timeFormat))
	return err
}

// Tile implements [store.Tiles].
func (s *Store) Tile(ctx context.Context, db, path string) (_ []byte, err error) {
	defer wrap(&err, "sqlite: tile %s/%s", db, path)
	var data []byte
	err = s.read.QueryRowContext(ctx,
		`SELECT data FROM sumdb_tiles WHERE db = ? AND path = ?`, db, path).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
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
	defer wrap(&err, "sqlite: put tile %s/%s", db, path)
	if data == nil {
		data = []byte{}
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO sumdb_tiles (db, path, data, created_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (db, path) DO NOTHING`,
		db, path, data, normTime(s.now()).Format(timeFormat))
	return err
}

// Lock implements [store.Locker] with an in-process lock: an embedded database
// serves one modgate process, so nothing else needs excluding.
func (s *Store) Lock(ctx context.Context, key string) (func(), error) {
	unlock, err := s.locks.lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock %q: %w", key, err)
	}
	return unlock, nil
}

// normTime returns t in UTC truncated to the microseconds the store keeps.
func normTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time: %w", err)
	}
	return t.UTC(), nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// wrap prefixes *errp, if not nil, with a description of the operation. It keeps
// the error chain, so errors.Is(err, fs.ErrNotExist) still works.
func wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		if diskFull(*errp) {
			*errp = fmt.Errorf("%w: %w", store.ErrNoSpace, *errp)
		}
		*errp = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), *errp)
	}
}

// diskFull reports whether err is SQLite's SQLITE_FULL (or an I/O error
// caused by a full disk or quota).
func diskFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
