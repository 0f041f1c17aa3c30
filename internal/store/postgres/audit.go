package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modgate/modgate/internal/store"
)

// AppendAudit implements [store.Audit]. It locks the one audit_chain row for
// the transaction, so appends from every replica take turns: each reads the
// head inside its transaction, chains its events to it, copies them in and
// moves the head, and the next appender sees the new head.
func (s *Store) AppendAudit(ctx context.Context, events []*store.AuditEvent) (err error) {
	defer wrap(&err, "postgres: append %d audit events", len(events))
	if len(events) == 0 {
		return nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if err := s.appendAudit(ctx, tx, events); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// AppendAuditSpooled implements [store.AuditSpools].
func (s *Store) AppendAuditSpooled(ctx context.Context, spool string, through int64, events []*store.AuditEvent) (err error) {
	defer wrap(&err, "postgres: append %d audit events of spool %q", len(events), spool)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if len(events) > 0 {
		if err := s.appendAudit(ctx, tx, events); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit_spools (spool, through) VALUES ($1, $2)
		ON CONFLICT (spool) DO UPDATE SET through = greatest(audit_spools.through, excluded.through)`, spool, through); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// AuditSpoolMark implements [store.AuditSpools].
func (s *Store) AuditSpoolMark(ctx context.Context, spool string) (through int64, err error) {
	defer wrap(&err, "postgres: audit spool %q", spool)
	err = s.pool.QueryRow(ctx, `SELECT through FROM audit_spools WHERE spool = $1`, spool).Scan(&through)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return through, err
}

// appendAudit appends events to the chain inside tx, holding the chain row's
// lock until tx ends.
func (s *Store) appendAudit(ctx context.Context, tx pgx.Tx, events []*store.AuditEvent) error {
	var seq int64
	var prev string
	if err := tx.QueryRow(ctx, `SELECT head_seq, head_hash FROM audit_chain WHERE id = 1 FOR UPDATE`).
		Scan(&seq, &prev); err != nil {
		return fmt.Errorf("audit chain head: %w", err)
	}
	now := s.now()
	rows := make([][]any, len(events))
	for i, e := range events {
		seq++
		store.SealAudit(e, seq, prev, now)
		prev = e.Hash
		reasons := e.Reasons
		if reasons == nil {
			reasons = []string{}
		}
		rows[i] = []any{e.Seq, e.Time, e.Type, e.ClientToken, e.ClientIP, e.UserAgent, e.Module, e.Version,
			e.Kind, e.Decision, reasons, e.Source, e.Bytes, int64(e.Duration), e.SBOM, e.PrevHash, e.Hash}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_log"}, auditColumns, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_chain SET head_seq = $1, head_hash = $2 WHERE id = 1`, seq, prev); err != nil {
		return err
	}
	return nil
}

var auditColumns = []string{"seq", "at", "type", "client_token", "client_ip", "user_agent", "module", "version",
	"kind", "decision", "reasons", "source", "bytes", "duration_ns", "sbom", "prev_hash", "hash"}

// AuditEvents implements [store.Audit].
func (s *Store) AuditEvents(ctx context.Context, q store.AuditQuery) (_ []*store.AuditEvent, err error) {
	defer wrap(&err, "postgres: audit events")
	where, args := auditWhere(q)
	args = append(args, q.PageLimit())
	rows, err := s.pool.Query(ctx, `SELECT `+strings.Join(auditColumns, ", ")+` FROM audit_log`+where+
		fmt.Sprintf(` ORDER BY seq LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.AuditEvent
	for rows.Next() {
		e := new(store.AuditEvent)
		var dur int64
		if err := rows.Scan(&e.Seq, &e.Time, &e.Type, &e.ClientToken, &e.ClientIP, &e.UserAgent, &e.Module,
			&e.Version, &e.Kind, &e.Decision, &e.Reasons, &e.Source, &e.Bytes, &dur, &e.SBOM,
			&e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.Time = e.Time.UTC()
		e.Duration = time.Duration(dur)
		if len(e.Reasons) == 0 {
			e.Reasons = nil
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// auditWhere returns the WHERE clause (with a leading space, or empty) and
// arguments selecting q's records. The client condition repeats
// the non-empty test on client_token, so the partial index on tokens applies.
func auditWhere(q store.AuditQuery) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) {
		for _, arg := range a {
			args = append(args, arg)
			cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(args)), 1)
		}
		conds = append(conds, cond)
	}
	if q.AfterSeq > 0 {
		add("seq > ?", q.AfterSeq)
	}
	if q.ThroughSeq > 0 {
		add("seq <= ?", q.ThroughSeq)
	}
	if !q.Since.IsZero() {
		add("at >= ?", normTime(q.Since))
	}
	if !q.Until.IsZero() {
		add("at < ?", normTime(q.Until))
	}
	if q.Module != "" {
		add("module = ?", q.Module)
	}
	if q.Version != "" {
		add("version = ?", q.Version)
	}
	if q.Client != "" {
		add("((client_token = ? AND client_token <> '') OR client_ip = ?)", q.Client, q.Client)
	}
	if q.Decision != "" {
		add("decision = ?", q.Decision)
	}
	if q.Type != "" {
		add("type = ?", q.Type)
	}
	if q.Kind != "" {
		add("kind = ?", q.Kind)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// AuditChain implements [store.Audit].
func (s *Store) AuditChain(ctx context.Context) (_ store.AuditChain, err error) {
	defer wrap(&err, "postgres: audit chain")
	var c store.AuditChain
	var at *time.Time
	err = s.pool.QueryRow(ctx, `SELECT head_seq, head_hash, anchor_seq, anchor_hash, anchor_at FROM audit_chain WHERE id = 1`).
		Scan(&c.HeadSeq, &c.HeadHash, &c.AnchorSeq, &c.AnchorHash, &at)
	if at != nil {
		c.AnchorTime = at.UTC()
	}
	return c, err
}

// PruneAudit implements [store.Audit]. It holds the audit_chain row lock, so
// appends wait for it: keep limit small.
func (s *Store) PruneAudit(ctx context.Context, before time.Time, limit int) (_ int64, err error) {
	defer wrap(&err, "postgres: prune audit")
	if limit <= 0 {
		limit = 10000
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	var anchor int64
	if err := tx.QueryRow(ctx, `SELECT anchor_seq FROM audit_chain WHERE id = 1 FOR UPDATE`).Scan(&anchor); err != nil {
		return 0, err
	}
	// The last record of the prefix to delete: the record before the first
	// one that is not older than before, among the next max+1.
	var last int64
	var hash string
	var at time.Time
	err = tx.QueryRow(ctx, `
		WITH next AS (SELECT seq, at, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2),
		     keep AS (SELECT min(seq) AS seq FROM next WHERE at >= $3)
		SELECT seq, at, hash FROM next
		WHERE seq < coalesce((SELECT seq FROM keep), 9223372036854775807)
		ORDER BY seq DESC LIMIT 1`, anchor, limit, normTime(before)).Scan(&last, &at, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `DELETE FROM audit_log WHERE seq <= $1`, last)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_chain SET anchor_seq = $1, anchor_hash = $2, anchor_at = $3 WHERE id = 1`,
		last, hash, at); err != nil {
		return 0, err
	}
	return tag.RowsAffected(), tx.Commit(ctx)
}

// PutAuditCheckpoint implements [store.AuditCheckpoints].
func (s *Store) PutAuditCheckpoint(ctx context.Context, c *store.AuditCheckpoint) (err error) {
	defer wrap(&err, "postgres: put audit checkpoint %d", c.Size)
	if c.Time.IsZero() {
		c.Time = s.now()
	}
	c.Time = normTime(c.Time)
	_, err = s.pool.Exec(ctx, `INSERT INTO audit_checkpoints (size, head_hash, at, note) VALUES ($1, $2, $3, $4)`,
		c.Size, c.Hash, c.Time, c.Note)
	return err
}

const checkpointColumns = `size, head_hash, at, note`

func scanCheckpoint(row pgx.Row) (*store.AuditCheckpoint, error) {
	var c store.AuditCheckpoint
	if err := row.Scan(&c.Size, &c.Hash, &c.Time, &c.Note); err != nil {
		return nil, err
	}
	c.Time = c.Time.UTC()
	return &c, nil
}

// LatestAuditCheckpoint implements [store.AuditCheckpoints].
func (s *Store) LatestAuditCheckpoint(ctx context.Context) (_ *store.AuditCheckpoint, err error) {
	defer wrap(&err, "postgres: latest audit checkpoint")
	c, err := scanCheckpoint(s.pool.QueryRow(ctx,
		`SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY id DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	return c, err
}

// AuditCheckpoints implements [store.AuditCheckpoints].
func (s *Store) AuditCheckpoints(ctx context.Context, afterSize, throughSize int64) (_ []*store.AuditCheckpoint, err error) {
	defer wrap(&err, "postgres: audit checkpoints")
	rows, err := s.pool.Query(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints
		WHERE size > $1 AND size <= $2 ORDER BY size, at, id`, afterSize, throughSize)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.AuditCheckpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
