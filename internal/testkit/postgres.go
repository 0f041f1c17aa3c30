package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/modgate/modgate/internal/store/postgres"
)

// The PostgreSQL of a test binary. It is package state on purpose: one cluster
// serves every test of the binary, started by the first PostgresDSN and stopped
// by Main when the tests end.
var pg struct {
	main    atomic.Bool // Main is running the tests
	once    sync.Once
	srv     *pgServer
	err     error        // why there is no server
	fatal   bool         // err is a misconfiguration, not a missing PostgreSQL
	skipped atomic.Int64 // tests skipped for want of PostgreSQL
	seq     atomic.Int64 // names test databases
}

// Environment variables read by PostgresDSN.
const (
	// EnvPostgres names a PostgreSQL server to use instead of starting one:
	// a DSN (URL or key=value) whose user may create databases.
	EnvPostgres = "MODGATE_TEST_POSTGRES"
	// EnvRequirePostgres, set to 1, turns "PostgreSQL is unavailable" from a
	// skip into a failure (for CI).
	EnvRequirePostgres = "MODGATE_REQUIRE_POSTGRES"
)

// Main runs the tests of a package that uses PostgresDSN, then stops the
// PostgreSQL cluster they used and removes its files. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
func Main(m *testing.M) int {
	pg.main.Store(true)
	code := m.Run()
	if pg.srv != nil {
		if err := pg.srv.shutdown(); err != nil {
			fmt.Fprintf(os.Stderr, "testkit: stopping PostgreSQL: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	if n := pg.skipped.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "\n*** testkit: %d TESTS SKIPPED: no PostgreSQL: %v\n*** %s\n\n", n, pg.err, pgHowTo)
	}
	return code
}

const pgHowTo = "To run them, install PostgreSQL (initdb and pg_ctl on PATH or under /usr/lib/postgresql/*/bin), " +
	"or set " + EnvPostgres + " to the DSN of a server whose user may create databases. " +
	"Set " + EnvRequirePostgres + "=1 to make this a failure instead of a skip."

// PostgresDSN returns the DSN of a new, empty database that has every migration
// applied, for use by t alone; it is dropped when t ends. The first call starts a
// throwaway PostgreSQL cluster for the whole test binary (or uses the server
// named by MODGATE_TEST_POSTGRES), which [Main] stops.
//
// Without PostgreSQL, PostgresDSN skips t loudly, or fails it if
// MODGATE_REQUIRE_POSTGRES=1.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	if !pg.main.Load() {
		t.Fatal("testkit.PostgresDSN: the package's TestMain must call testkit.Main, which stops PostgreSQL when the tests end:\n" +
			"\tfunc TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }")
	}
	pg.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pg.srv, pg.fatal, pg.err = startPostgres(ctx)
	})
	if pg.err != nil {
		msg := fmt.Sprintf("PostgreSQL UNAVAILABLE: %v\n%s", pg.err, pgHowTo)
		if pg.fatal || os.Getenv(EnvRequirePostgres) == "1" {
			t.Fatal(msg)
		}
		pg.skipped.Add(1)
		t.Skip("SKIPPED: " + msg)
	}
	name := fmt.Sprintf("%s_%d", pg.srv.prefix, pg.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pg.srv.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+
		" TEMPLATE "+pgx.Identifier{pg.srv.template}.Sanitize()); err != nil {
		t.Fatalf("testkit: creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pg.srv.dropDatabase(ctx, name); err != nil {
			t.Logf("testkit: dropping test database %s: %v", name, err)
		}
	})
	return pg.srv.dsnFor(name)
}

// pgServer is the server the tests use and the template database on it.
type pgServer struct {
	cluster  *pgCluster // nil for a server named by MODGATE_TEST_POSTGRES
	dsnFor   func(db string) string
	template string // migrated once; test databases are copies
	prefix   string // of test database names

	mu    sync.Mutex // serialises use of admin
	admin *pgx.Conn
}

// startPostgres starts (or finds) the server and migrates the template. fatal
// reports a configured server that does not work, as opposed to no PostgreSQL.
func startPostgres(ctx context.Context) (_ *pgServer, fatal bool, err error) {
	srv := &pgServer{}
	var adminDSN string
	if dsn := os.Getenv(EnvPostgres); dsn != "" {
		// A shared server: names unique to this test binary.
		tag := fmt.Sprintf("%d_%s", os.Getpid(), randomHex(4))
		srv.template, srv.prefix = "modgate_tmpl_"+tag, "modgate_test_"+tag
		srv.dsnFor = func(db string) string { return pgWithDBName(dsn, db) }
		adminDSN = dsn
		fatal = true
	} else {
		c, err := startCluster(ctx)
		if err != nil {
			return nil, false, err
		}
		srv.cluster = c
		srv.template, srv.prefix = "modgate_template", "test"
		srv.dsnFor = c.dsn
		adminDSN = c.dsn("postgres")
		fatal = true // PostgreSQL exists and started; anything else is a bug
	}
	defer func() {
		if err != nil {
			srv.shutdown()
		}
	}()
	if srv.admin, err = pgx.Connect(ctx, adminDSN); err != nil {
		if srv.cluster == nil {
			return nil, fatal, fmt.Errorf("%s: %w", EnvPostgres, err)
		}
		return nil, fatal, err
	}
	if err := srv.exec(ctx, "CREATE DATABASE "+pgx.Identifier{srv.template}.Sanitize()); err != nil {
		return nil, fatal, fmt.Errorf("creating template database: %w", err)
	}
	if err := postgres.Migrate(ctx, srv.dsnFor(srv.template)); err != nil {
		return nil, fatal, fmt.Errorf("migrating template database: %w", err)
	}
	return srv, false, nil
}

func (s *pgServer) exec(ctx context.Context, sql string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.admin.Exec(ctx, sql)
	return err
}

func (s *pgServer) dropDatabase(ctx context.Context, name string) error {
	id := pgx.Identifier{name}.Sanitize()
	// FORCE (PostgreSQL 13 and later) ends sessions a test left open.
	if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err == nil {
		return nil
	}
	return s.exec(ctx, "DROP DATABASE IF EXISTS "+id)
}

// shutdown drops the template (on a shared server) or stops the cluster.
func (s *pgServer) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	if s.admin != nil {
		if s.cluster == nil {
			if err := s.dropDatabase(ctx, s.template); err != nil {
				errs = append(errs, fmt.Errorf("dropping template database: %w", err))
			}
		}
		s.admin.Close(ctx)
	}
	if s.cluster != nil {
		errs = append(errs, s.cluster.stop(ctx))
	}
	return errors.Join(errs...)
}

// pgWithDBName returns dsn (a URL or key=value pairs) naming database db instead.
func pgWithDBName(dsn, db string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			u.Path, u.RawPath = "/"+db, ""
			q := u.Query()
			q.Del("dbname")
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	// In key=value form a later key wins, for pgx as for libpq.
	return dsn + " dbname=" + db
}

// pgCluster is a throwaway PostgreSQL cluster listening only on a Unix socket
// in its own temporary directory, so clusters of concurrent test binaries (and
// leftovers of crashed ones) never meet.
type pgCluster struct {
	dir    string // holds data/, sock/, postgres.log and owner.pid
	bin    string // directory of initdb, pg_ctl and postgres
	runAs  string // user to run PostgreSQL as, when we are root
	uid    int
	gid    int
	runner string // path of runuser, when runAs is set
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }
func (c *pgCluster) sock() string { return filepath.Join(c.dir, "sock") }

func (c *pgCluster) dsn(db string) string {
	return fmt.Sprintf("host=%s port=5432 user=postgres dbname=%s sslmode=disable", c.sock(), db)
}

// startCluster creates and starts a cluster, or explains what is missing.
func startCluster(ctx context.Context) (_ *pgCluster, err error) {
	bin, err := pgBinDir()
	if err != nil {
		return nil, err
	}
	c := &pgCluster{bin: bin}
	base := os.TempDir()
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, where PostgreSQL must run as another user, but: %w", err)
		}
		c.runAs = u.Username
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		if c.runner, err = lookPathIn("runuser", "/usr/sbin", "/sbin", "/usr/bin", "/bin"); err != nil {
			return nil, fmt.Errorf("running as root, where PostgreSQL must run as user postgres, but: %w", err)
		}
		if fi, err := os.Stat(base); err != nil || fi.Mode().Perm()&0o001 == 0 {
			base = "/tmp" // the postgres user must be able to reach the directory
		}
	}
	if len(base) > 60 {
		base = "/tmp" // Unix socket paths are limited to about 100 bytes
	}
	c.cleanStale(ctx, base)

	if c.dir, err = os.MkdirTemp(base, "modgate-pg-*"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.stop(context.Background())
		}
	}()
	if err := os.WriteFile(filepath.Join(c.dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if err := os.Mkdir(c.sock(), 0o700); err != nil {
		return nil, err
	}
	if c.runAs != "" {
		for _, d := range []string{c.dir, c.sock()} {
			if err := os.Chown(d, c.uid, c.gid); err != nil {
				return nil, err
			}
		}
	}
	if out, err := c.command(ctx, "initdb", "-D", c.data(), "-A", "trust", "-U", "postgres",
		"--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb in %s: %v\n%s", c.bin, err, out)
	}
	// Options reach postgres through a shell, hence the quoting.
	opts := "-c listen_addresses='' -k " + c.sock() +
		" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
	if out, err := c.command(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.data(),
		"-l", filepath.Join(c.dir, "postgres.log"), "-o", opts).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
		return nil, fmt.Errorf("pg_ctl start: %v\n%s\npostgres.log:\n%s", err, out, log)
	}
	return c, nil
}

// command runs a PostgreSQL program as the right user, with a minimal
// environment: no inherited PG* variables, C locale, UTC.
func (c *pgCluster) command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, c.runner, append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Env = []string{"PATH=" + c.bin + ":/usr/bin:/bin", "LANG=C", "LC_ALL=C", "TZ=UTC", "HOME=" + c.dir}
	cmd.Dir = c.dir
	cmd.WaitDelay = 10 * time.Second // in case a daemon keeps our pipes open
	return cmd
}

// stop stops the cluster if it runs and removes its directory.
func (c *pgCluster) stop(ctx context.Context) error {
	var errs []error
	if _, err := os.Stat(filepath.Join(c.data(), "postmaster.pid")); err == nil {
		if out, err := c.command(ctx, "pg_ctl", "stop", "-m", "immediate", "-w", "-D", c.data()).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("pg_ctl stop: %v\n%s", err, out))
		}
	}
	if c.dir != "" {
		errs = append(errs, os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}

// cleanStale stops and removes clusters in base left by test binaries that
// died without running Main's cleanup (a crash, a test timeout). Clusters of
// running binaries are left alone.
func (c *pgCluster) cleanStale(ctx context.Context, base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "modgate-pg-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue // not ours, or being created right now
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || !processGone(pid) {
			continue // its owner is alive (or we cannot tell)
		}
		stale := *c
		stale.dir = dir
		stale.stop(ctx)
	}
}

// processGone reports whether process pid has exited: it does not exist, or
// it is a zombie that its parent has not reaped yet.
func processGone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may contain spaces and parentheses.
	_, rest, ok := strings.Cut(string(stat), ") ")
	return ok && strings.HasPrefix(rest, "Z")
}

// pgBinDir finds the directory of initdb and pg_ctl: that of initdb on PATH,
// else the newest /usr/lib/postgresql/*/bin.
func pgBinDir() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(p))
		}
	}
	installed, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	candidates = append(candidates, pgNewestFirst(installed)...)
	for _, dir := range candidates {
		if isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	return "", errors.New("initdb and pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")
}

// pgNewestFirst sorts /usr/lib/postgresql/<version>/bin directories by
// version, newest first ("16" before "9.6").
func pgNewestFirst(dirs []string) []string {
	version := func(dir string) []int {
		var v []int
		for _, f := range strings.Split(filepath.Base(filepath.Dir(dir)), ".") {
			n, err := strconv.Atoi(f)
			if err != nil {
				n = -1
			}
			v = append(v, n)
		}
		return v
	}
	out := append([]string(nil), dirs...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := version(out[i]), version(out[j])
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] > b[k]
			}
		}
		return len(a) > len(b)
	})
	return out
}

func lookPathIn(name string, dirs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range dirs {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in %s", name, strings.Join(dirs, ", "))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
