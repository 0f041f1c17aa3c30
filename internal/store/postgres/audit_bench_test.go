package postgres_test

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
)

// EnvAuditBench, set to a number of records (10000000), runs
// TestAuditIndexesAtScale: it generates that many audit records with
// generate_series in a throwaway database and times the three questions the
// audit indexes are for. It takes minutes, so the normal test run skips it:
//
//	MODGATE_AUDIT_BENCH=10000000 go test -run TestAuditIndexesAtScale -v -timeout 30m ./internal/store/postgres/
const EnvAuditBench = "MODGATE_AUDIT_BENCH"

func TestAuditIndexesAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(EnvAuditBench))
	if n <= 0 {
		t.Skipf("set %s=10000000 to generate that many audit records and time the audit queries", EnvAuditBench)
	}
	dsn := testkit.PostgresDSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// A year of records, newest now: 20,000 modules of 50 versions, 2,000
	// client addresses, 500 tokens (on 70% of records), 2% blocked.
	now := time.Now().UTC().Truncate(time.Second)
	span := 365 * 24 * time.Hour
	start := time.Now()
	// Load without the secondary indexes, then build them: what a restore
	// would do, and much faster than maintaining them row by row.
	exec(`DROP INDEX audit_log_module_idx, audit_log_client_token_idx, audit_log_client_ip_idx, audit_log_decision_idx, audit_log_at_idx`)
	exec(`INSERT INTO audit_log (seq, at, type, client_token, client_ip, user_agent, module, version, kind, decision,
			reasons, source, bytes, duration_ns, sbom, prev_hash, hash)
		SELECT i,
			$1::timestamptz - ($2::bigint - i) * ($3::float8 / $2::bigint) * interval '1 microsecond',
			'fetch',
			CASE WHEN i % 10 < 7 THEN 'token' || ((i * 31) % 500) ELSE '' END,
			'10.' || ((i * 17) % 2000 / 250) || '.' || ((i * 17) % 250) || '.1',
			'Go-http-client/1.1',
			'github.com/example/mod' || ((i * 7919) % 20000),
			'v1.' || ((i / 20000) % 50) || '.0',
			(ARRAY['info','mod','zip','list'])[1 + i % 4],
			CASE WHEN i % 50 = 0 THEN 'blocked' WHEN i % 97 = 0 THEN 'error' ELSE 'served' END,
			CASE WHEN i % 50 = 0 THEN ARRAY['GO-2026-' || (i % 1000)] ELSE ARRAY[]::text[] END,
			'cache', i % 100000, i % 1000000, '', md5(i::text) || md5((i - 1)::text), md5(i::text) || md5(i::text)
		FROM generate_series(1, $2::bigint) AS i`, now, n, float64(span.Microseconds()))
	loaded := time.Since(start)
	start = time.Now()
	exec(`CREATE INDEX audit_log_module_idx ON audit_log (module, version, at)`)
	exec(`CREATE INDEX audit_log_client_token_idx ON audit_log (client_token, at) WHERE client_token <> ''`)
	exec(`CREATE INDEX audit_log_client_ip_idx ON audit_log (client_ip, at)`)
	exec(`CREATE INDEX audit_log_decision_idx ON audit_log (decision, at)`)
	exec(`CREATE INDEX audit_log_at_idx ON audit_log (at)`)
	exec(`UPDATE audit_chain SET head_seq = $1::bigint, head_hash = md5($1::bigint::text) || md5($1::bigint::text)`, n)
	exec(`VACUUM ANALYZE audit_log`)
	indexed := time.Since(start)
	var size string
	conn.QueryRow(ctx, `SELECT pg_size_pretty(pg_total_relation_size('audit_log'))`).Scan(&size)
	t.Logf("%d records: loaded in %v, indexed and analysed in %v; table with indexes %s", n, loaded.Round(time.Second), indexed.Round(time.Second), size)

	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -2, 0)
	queries := []struct {
		name string
		sql  string
		args []any
	}{
		{"who fetched module M at version V",
			`SELECT seq, at, client_token, client_ip, kind, decision FROM audit_log
			 WHERE module = $1 AND version = $2 ORDER BY at`,
			[]any{"github.com/example/mod4242", "v1.7.0"}},
		{"what did client C (token) fetch in a month",
			`SELECT seq, at, module, version, kind, decision FROM audit_log
			 WHERE ((client_token = $1 AND client_token <> '') OR client_ip = $1) AND at >= $2 AND at < $3 ORDER BY seq`,
			[]any{"token42", month, month.AddDate(0, 1, 0)}},
		{"what did client C (IP) fetch in a month",
			`SELECT seq, at, module, version, kind, decision FROM audit_log
			 WHERE ((client_token = $1 AND client_token <> '') OR client_ip = $1) AND at >= $2 AND at < $3 ORDER BY seq`,
			[]any{"10.3.42.1", month, month.AddDate(0, 1, 0)}},
		{"every blocked fetch this week",
			`SELECT seq, at, client_token, client_ip, module, version, reasons FROM audit_log
			 WHERE decision = 'blocked' AND at >= $1 ORDER BY seq`,
			[]any{now.Add(-7 * 24 * time.Hour)}},
	}
	execTime := regexp.MustCompile(`Execution Time: ([0-9.]+) ms`)
	for _, q := range queries {
		for _, run := range []string{"cold", "warm"} {
			rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+q.sql, q.args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan string
			for rows.Next() {
				var line string
				rows.Scan(&line)
				plan += line + "\n"
			}
			rows.Close()
			start := time.Now()
			r, err := conn.Query(ctx, q.sql, q.args...)
			if err != nil {
				t.Fatal(err)
			}
			count := 0
			for r.Next() {
				count++
			}
			r.Close()
			elapsed := time.Since(start)
			m := execTime.FindStringSubmatch(plan)
			if m == nil {
				t.Fatalf("no execution time in plan:\n%s", plan)
			}
			ms, _ := strconv.ParseFloat(m[1], 64)
			t.Logf("%s (%s): %d rows, EXPLAIN ANALYZE %.1f ms, fetched by the client in %v", q.name, run, count, ms, elapsed.Round(100*time.Microsecond))
			if run == "cold" {
				t.Logf("plan:\n%s", plan)
			}
			if ms > 1000 {
				t.Errorf("%s took %.0f ms, want well under a second", q.name, ms)
			}
		}
	}

	// The export path: every page of client C's month through the store.
	s := open(t, dsn)
	defer s.Close()
	start = time.Now()
	pages, total := 0, 0
	q := store.AuditQuery{Client: "token42", Since: month, Until: month.AddDate(0, 1, 0), Limit: 1000}
	for {
		page, err := s.AuditEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		pages++
		total += len(page)
		q.AfterSeq = page[len(page)-1].Seq
	}
	t.Logf("export path: client C's month, %d records in %d pages of 1000 in %v", total, pages, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	q = store.AuditQuery{Decision: "blocked", Since: now.Add(-7 * 24 * time.Hour), Limit: 1000}
	pages, total = 0, 0
	for {
		page, err := s.AuditEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		pages++
		total += len(page)
		q.AfterSeq = page[len(page)-1].Seq
	}
	t.Logf("export path: blocked this week, %d records in %d pages in %v", total, pages, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	q = store.AuditQuery{Limit: 1000, AfterSeq: int64(n) - 100000}
	for {
		page, err := s.AuditEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		q.AfterSeq = page[len(page)-1].Seq
	}
	t.Logf("export path: newest 100,000 records unfiltered in %v", time.Since(start).Round(time.Millisecond))
}
