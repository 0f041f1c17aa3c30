package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/modgate/modgate/internal/store"
)

const auditColumns = `seq, at, type, client_token, client_ip, user_agent, module, version, kind, decision,
	reasons, source, bytes, duration_ns, sbom, prev_hash, hash`

// AppendAudit implements [store.Audit]. Writes go through the store's one
// write connection, and its transactions begin IMMEDIATE (taking SQLite's
// write lock), so appends take turns even with another process on the file.
func (s *Store) AppendAudit(ctx context.Context, events []*store.AuditEvent) (err error) {
	defer wrap(&err, "sqlite: append %d audit events", len(events))
	if len(events) == 0 {
		return nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.appendAudit(ctx, tx, events); err != nil {
		return err
	}
	return tx.Commit()
}

// AppendAuditSpooled implements [store.AuditSpools].
func (s *Store) AppendAuditSpooled(ctx context.Context, spool string, through int64, events []*store.AuditEvent) (err error) {
	defer wrap(&err, "sqlite: append %d audit events of spool %q", len(events), spool)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if len(events) > 0 {
		if err := s.appendAudit(ctx, tx, events); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_spools (spool, through) VALUES (?, ?)
		ON CONFLICT (spool) DO UPDATE SET through = max(through, excluded.through)`, spool, through); err != nil {
		return err
	}
	return tx.Commit()
}

// AuditSpoolMark implements [store.AuditSpools].
func (s *Store) AuditSpoolMark(ctx context.Context, spool string) (through int64, err error) {
	defer wrap(&err, "sqlite: audit spool %q", spool)
	err = s.read.QueryRowContext(ctx, `SELECT through FROM audit_spools WHERE spool = ?`, spool).Scan(&through)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return through, err
}

// appendAudit appends events to the chain inside tx, which must be a
// transaction on the write connection.
func (s *Store) appendAudit(ctx context.Context, tx *prepTx, events []*store.AuditEvent) error {
	var seq int64
	var prev string
	if err := tx.QueryRowContext(ctx, `SELECT head_seq, head_hash FROM audit_chain WHERE id = 1`).Scan(&seq, &prev); err != nil {
		return err
	}
	now := s.now()
	args := make([]any, 0, min(len(events), auditInsertRows[0])*auditFields)
	// A batch's records mostly repeat one another's reasons (the requests
	// one cached decision answered): the JSON of the last is reused when
	// the next record's reasons are equal to them.
	var lastReasons []string
	lastJSON := "[]"
	for rest := events; len(rest) > 0; {
		// The records go in with as few statements as the batch allows
		// (a 64-row INSERT, then 16, 4, 1): each statement is prepared
		// once, and a row costs its bound values rather than a call.
		n := auditInsertRows[len(auditInsertRows)-1]
		for _, rows := range auditInsertRows {
			if len(rest) >= rows {
				n = rows
				break
			}
		}
		args = args[:0]
		for _, e := range rest[:n] {
			seq++
			store.SealAudit(e, seq, prev, now)
			prev = e.Hash
			if !slices.Equal(e.Reasons, lastReasons) {
				lastJSON = "[]"
				if len(e.Reasons) > 0 {
					b, err := json.Marshal(e.Reasons)
					if err != nil {
						return err
					}
					lastJSON = string(b)
				}
				lastReasons = e.Reasons
			}
			rj := lastJSON
			args = append(args, e.Seq, e.Time.Format(timeFormat), e.Type, e.ClientToken, e.ClientIP,
				e.UserAgent, e.Module, e.Version, e.Kind, e.Decision, rj, e.Source, e.Bytes, int64(e.Duration),
				e.SBOM, e.PrevHash, e.Hash)
		}
		if _, err := tx.ExecContext(ctx, auditInsert(n), args...); err != nil {
			return err
		}
		rest = rest[n:]
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_chain SET head_seq = ?, head_hash = ? WHERE id = 1`, seq, prev); err != nil {
		return err
	}
	return nil
}

// auditFields is the number of columns of an audit record.
const auditFields = 17

// auditInsertRows are the row counts of the INSERT statements a batch of
// records is split into, largest first; the last must be 1.
var auditInsertRows = [...]int{64, 16, 4, 1}

// auditInserts are the INSERT statements of auditInsertRows.
var auditInserts = func() map[int]string {
	m := make(map[int]string, len(auditInsertRows))
	row := "(" + strings.Repeat("?, ", auditFields-1) + "?)"
	for _, n := range auditInsertRows {
		m[n] = `INSERT INTO audit_log (` + auditColumns + `) VALUES ` + strings.Repeat(row+", ", n-1) + row
	}
	return m
}()

func auditInsert(rows int) string { return auditInserts[rows] }

// AuditEvents implements [store.Audit].
func (s *Store) AuditEvents(ctx context.Context, q store.AuditQuery) (_ []*store.AuditEvent, err error) {
	defer wrap(&err, "sqlite: audit events")
	where, args := auditWhere(q)
	args = append(args, q.PageLimit())
	rows, err := s.read.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log`+where+` ORDER BY seq LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.AuditEvent
	for rows.Next() {
		e := new(store.AuditEvent)
		var at, reasons string
		var dur int64
		if err := rows.Scan(&e.Seq, &at, &e.Type, &e.ClientToken, &e.ClientIP, &e.UserAgent, &e.Module,
			&e.Version, &e.Kind, &e.Decision, &reasons, &e.Source, &e.Bytes, &dur, &e.SBOM,
			&e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		if e.Time, err = parseTime(at); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(reasons), &e.Reasons); err != nil {
			return nil, err
		}
		if len(e.Reasons) == 0 {
			e.Reasons = nil
		}
		e.Duration = time.Duration(dur)
		out = append(out, e)
	}
	return out, rows.Err()
}

func auditWhere(q store.AuditQuery) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	if q.AfterSeq > 0 {
		add("seq > ?", q.AfterSeq)
	}
	if q.ThroughSeq > 0 {
		add("seq <= ?", q.ThroughSeq)
	}
	if !q.Since.IsZero() {
		add("at >= ?", normTime(q.Since).Format(timeFormat))
	}
	if !q.Until.IsZero() {
		add("at < ?", normTime(q.Until).Format(timeFormat))
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
	defer wrap(&err, "sqlite: audit chain")
	var c store.AuditChain
	var at sql.NullString
	err = s.read.QueryRowContext(ctx, `SELECT head_seq, head_hash, anchor_seq, anchor_hash, anchor_at FROM audit_chain WHERE id = 1`).
		Scan(&c.HeadSeq, &c.HeadHash, &c.AnchorSeq, &c.AnchorHash, &at)
	if err != nil {
		return c, err
	}
	if at.Valid {
		c.AnchorTime, err = parseTime(at.String)
	}
	return c, err
}

// PruneAudit implements [store.Audit].
func (s *Store) PruneAudit(ctx context.Context, before time.Time, limit int) (_ int64, err error) {
	defer wrap(&err, "sqlite: prune audit")
	if limit <= 0 {
		limit = 10000
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var anchor int64
	if err := tx.QueryRowContext(ctx, `SELECT anchor_seq FROM audit_chain WHERE id = 1`).Scan(&anchor); err != nil {
		return 0, err
	}
	var last int64
	var hash, at string
	err = tx.QueryRowContext(ctx, `
		WITH next AS (SELECT seq, at, hash FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?),
		     keep AS (SELECT min(seq) AS seq FROM next WHERE at >= ?)
		SELECT seq, at, hash FROM next
		WHERE seq < coalesce((SELECT seq FROM keep), 9223372036854775807)
		ORDER BY seq DESC LIMIT 1`, anchor, limit, normTime(before).Format(timeFormat)).Scan(&last, &at, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE seq <= ?`, last)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE audit_chain SET anchor_seq = ?, anchor_hash = ?, anchor_at = ? WHERE id = 1`,
		last, hash, at); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// PutAuditCheckpoint implements [store.AuditCheckpoints].
func (s *Store) PutAuditCheckpoint(ctx context.Context, c *store.AuditCheckpoint) (err error) {
	defer wrap(&err, "sqlite: put audit checkpoint %d", c.Size)
	if c.Time.IsZero() {
		c.Time = s.now()
	}
	c.Time = normTime(c.Time)
	_, err = s.write.ExecContext(ctx, `INSERT INTO audit_checkpoints (size, head_hash, at, note) VALUES (?, ?, ?, ?)`,
		c.Size, c.Hash, c.Time.Format(timeFormat), c.Note)
	return err
}

const checkpointColumns = `size, head_hash, at, note`

func scanCheckpoint(scan func(...any) error) (*store.AuditCheckpoint, error) {
	var c store.AuditCheckpoint
	var at string
	if err := scan(&c.Size, &c.Hash, &at, &c.Note); err != nil {
		return nil, err
	}
	var err error
	c.Time, err = parseTime(at)
	return &c, err
}

// LatestAuditCheckpoint implements [store.AuditCheckpoints].
func (s *Store) LatestAuditCheckpoint(ctx context.Context) (_ *store.AuditCheckpoint, err error) {
	defer wrap(&err, "sqlite: latest audit checkpoint")
	c, err := scanCheckpoint(s.read.QueryRowContext(ctx,
		`SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY id DESC LIMIT 1`).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fs.ErrNotExist
	}
	return c, err
}

// AuditCheckpoints implements [store.AuditCheckpoints].
func (s *Store) AuditCheckpoints(ctx context.Context, afterSize, throughSize int64) (_ []*store.AuditCheckpoint, err error) {
	defer wrap(&err, "sqlite: audit checkpoints")
	rows, err := s.read.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints
		WHERE size > ? AND size <= ? ORDER BY size, at, id`, afterSize, throughSize)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.AuditCheckpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows.Scan)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
