package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxPrepared bounds the statements a handle keeps prepared. Queries are
// constant texts plus a few built from filters, so this is never reached in
// practice; past it, a query is parsed each time instead of growing the cache.
const maxPrepared = 512

// prepDB is a database/sql handle that prepares each query text once and
// reuses the prepared statement: SQLite parses and plans a statement on
// every prepare, which was over a second of a cold fill's CPU when every
// query was sent as text. It has the methods of [sql.DB] the store uses.
//
// The write handle has exactly one connection, and a statement prepared on
// the handle needs a connection, so a query first seen inside a transaction
// (which holds that connection) is prepared for the transaction only, and on
// the handle once the transaction has ended.
type prepDB struct {
	*sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newPrepDB(db *sql.DB) *prepDB {
	return &prepDB{DB: db, stmts: make(map[string]*sql.Stmt)}
}

// cached returns the statement prepared for q, or nil.
func (d *prepDB) cached(q string) *sql.Stmt {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stmts[q]
}

// stmt returns the statement for q, preparing it on the handle if needed,
// or nil when the handle keeps maxPrepared statements already (the caller
// then sends q as text). It must not be called while the caller holds a
// transaction of the write handle (it would wait for that transaction's
// connection).
func (d *prepDB) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	d.mu.Lock()
	st, full := d.stmts[q], len(d.stmts) >= maxPrepared
	d.mu.Unlock()
	if st != nil || full {
		return st, nil
	}
	st, err := d.DB.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.stmts[q]; old != nil { // prepared meanwhile by another goroutine
		st.Close()
		return old, nil
	}
	d.stmts[q] = st
	return st, nil
}

// ExecContext is [sql.DB.ExecContext] with q prepared once.
func (d *prepDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := d.stmt(ctx, q)
	if err != nil || st == nil {
		return d.DB.ExecContext(ctx, q, args...)
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext is [sql.DB.QueryContext] with q prepared once.
func (d *prepDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := d.stmt(ctx, q)
	if err != nil || st == nil {
		return d.DB.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext is [sql.DB.QueryRowContext] with q prepared once.
func (d *prepDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := d.stmt(ctx, q)
	if err != nil || st == nil {
		return d.DB.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// BeginTx is [sql.DB.BeginTx], returning a transaction that uses the
// handle's prepared statements.
func (d *prepDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*prepTx, error) {
	tx, err := d.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &prepTx{Tx: tx, db: d}, nil
}

// Close closes the prepared statements and the handle.
func (d *prepDB) Close() error {
	d.mu.Lock()
	for q, st := range d.stmts {
		st.Close()
		delete(d.stmts, q)
	}
	d.mu.Unlock()
	return d.DB.Close()
}

// prepTx is a transaction of a [prepDB]: it runs the handle's prepared
// statements on its connection (no parsing), and remembers the queries the
// handle has not prepared yet, to prepare them once it has ended.
type prepTx struct {
	*sql.Tx
	db    *prepDB
	ended bool
	later []string // queries to prepare on the handle after the transaction
}

// txStmt returns q as a statement of the transaction.
func (t *prepTx) txStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st := t.db.cached(q); st != nil {
		return t.Tx.StmtContext(ctx, st), nil
	}
	t.later = append(t.later, q)
	return t.Tx.PrepareContext(ctx, q)
}

// ExecContext is [sql.Tx.ExecContext] with q prepared once.
func (t *prepTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := t.txStmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext is [sql.Tx.QueryContext] with q prepared once.
func (t *prepTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := t.txStmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext is [sql.Tx.QueryRowContext] with q prepared once.
func (t *prepTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := t.txStmt(ctx, q)
	if err != nil {
		return t.Tx.QueryRowContext(ctx, q, args...) // reports the same error through the Row
	}
	return st.QueryRowContext(ctx, args...)
}

// PrepareContext returns q as a statement of the transaction, closed when
// it ends (closing it earlier is allowed and keeps the handle's statement).
func (t *prepTx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.txStmt(ctx, q)
}

// Commit commits the transaction, then prepares on the handle the queries
// it ran for the first time.
func (t *prepTx) Commit() error {
	err := t.Tx.Commit()
	t.end()
	return err
}

// Rollback rolls the transaction back (after Commit, it does nothing and
// returns [sql.ErrTxDone]), then prepares the queries it ran first.
func (t *prepTx) Rollback() error {
	err := t.Tx.Rollback()
	t.end()
	return err
}

func (t *prepTx) end() {
	if t.ended {
		return
	}
	t.ended = true
	for _, q := range t.later {
		// Best effort: a query that does not prepare is prepared (and
		// fails) again in its next transaction.
		t.db.stmt(context.Background(), q)
	}
	t.later = nil
}
