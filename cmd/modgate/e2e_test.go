package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/internal/testkit/sbomcheck"
)

func TestMain(m *testing.M) {
	testkit.Offline()
	os.Exit(testkit.Main(m))
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// modgateBinary builds modgate once per test binary (or returns
// $MODGATE_TEST_BINARY, a modgate built elsewhere, for comparisons).
func modgateBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("MODGATE_TEST_BINARY"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "modgate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "modgate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// server is a running modgate process.
type server struct {
	URL  string
	data string // its --data, if given
	cmd  *exec.Cmd
	done chan error
	// exited is closed once the process has exited (done may be read by a
	// test; this is for the cleanup).
	exited chan struct{}
	mu     sync.Mutex
	logs   strings.Builder
}

// startModgate runs "modgate serve" with args and waits until it listens.
func startModgate(t *testing.T, args ...string) *server {
	t.Helper()
	return startModgateEnv(t, nil, args...)
}

// startModgateEnv is startModgate with extra environment ("K=V").
func startModgateEnv(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(modgateBinary(t), append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--vulndb", "off", "--index", "off", "--drain-delay", "0s"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan error, 1), exited: make(chan struct{})}
	for i, a := range args {
		if a == "--data" && i+1 < len(args) {
			s.data = args[i+1]
		}
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.logs.WriteString(line + "\n")
			s.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
			}
		}
		s.done <- cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		// The process is gone before the test's directories are removed:
		// one still writing into its --data made that removal fail
		// ("directory not empty", TestCheckServer).
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			t.Errorf("modgate (pid %d) did not exit 30 s after it was killed", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("modgate log:\n%s", s.Logs())
		}
	})
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case err := <-s.done:
		t.Fatalf("modgate exited before listening: %v\n%s", err, s.Logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("modgate did not start listening\n%s", s.Logs())
	}
	return s
}

func (s *server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// waitLog waits until modgate's log contains s (its log is read as it comes,
// so a line may lag behind the response it belongs to).
func (s *server) waitLog(sub string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.Logs(), sub) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("modgate exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("modgate did not stop after SIGTERM")
	}
}

// e2eModules are the test modules: upper case in a path, a retracted version,
// +incompatible without a go.mod, a pseudo-version, a /v2 module and gopkg.in.
func e2eModules(t *testing.T) []*testkit.Built {
	lib := func(v, extraMod string) testkit.Module {
		return testkit.Module{Path: "example.com/Upper/Lib", Version: v, Files: map[string]string{
			"go.mod": "module example.com/Upper/Lib\n\ngo 1.21\n" + extraMod,
			"lib.go": "package lib\n\nfunc Version() string { return \"" + v + "\" }\n",
		}}
	}
	return []*testkit.Built{
		testkit.Build(t, lib("v1.0.0", "")),
		testkit.Build(t, lib("v1.0.1", "")),
		testkit.Build(t, lib("v1.1.0", "\nretract v1.0.1 // broken\n")),
		testkit.Build(t, testkit.Module{Path: "example.com/legacy", Version: "v2.0.0+incompatible", NoGoMod: true, NoModFile: true,
			Files: map[string]string{"legacy.go": "package legacy\n\nconst Name = \"legacy\"\n"}}),
		testkit.Build(t, testkit.Module{Path: "example.com/pseudo", Version: "v0.0.0-20200102030405-abcdefabcdef", Queries: []string{"main"},
			Files: map[string]string{"p.go": "package pseudo\n\nconst Name = \"pseudo\"\n"}}),
		testkit.Build(t, testkit.Module{Path: "example.com/lib/v2", Version: "v2.0.0",
			Files: map[string]string{"v2.go": "package lib\n\nconst Name = \"v2\"\n"}}),
		testkit.Build(t, testkit.Module{Path: "gopkg.in/fake.v1", Version: "v1.0.0",
			Files: map[string]string{"fake.go": "package fake\n\nconst Name = \"fake\"\n"}}),
	}
}

const e2eMain = `package main

import (
	"fmt"

	lib "example.com/Upper/Lib"
	"example.com/legacy"
	libv2 "example.com/lib/v2"
	"example.com/pseudo"
	"gopkg.in/fake.v1"
)

func main() { fmt.Println(lib.Version(), legacy.Name, libv2.Name, pseudo.Name, fake.Name) }
`

const e2eGoMod = `module e2e.test/app

go 1.21

require (
	example.com/Upper/Lib v1.0.0
	example.com/legacy v2.0.0+incompatible
	example.com/lib/v2 v2.0.0
	example.com/pseudo v0.0.0-20200102030405-abcdefabcdef
	gopkg.in/fake.v1 v1.0.0
)
`

func TestEndToEndSQLite(t *testing.T) { testEndToEnd(t, "") }

func TestEndToEndPostgres(t *testing.T) { testEndToEnd(t, testkit.PostgresDSN(t)) }

// testEndToEnd drives the real go command through a running modgate in front of
// a local upstream and a real checksum database with a test key.
func testEndToEnd(t *testing.T, dsn string) {
	mods := e2eModules(t)
	up := testkit.NewUpstream(t, mods...)
	db := testkit.NewSumDB(t, "sum.modgate.test", mods...)
	data := t.TempDir()
	args := []string{"--data", data, "--upstream", up.URL, "--sumdb", db.Key + " " + db.URL, "--list-ttl", "1ms"}
	if dsn != "" {
		args = append(args, "--database", dsn)
	}
	mg := startModgate(t, args...)

	work := t.TempDir()
	app := filepath.Join(work, "app")
	os.MkdirAll(app, 0o755)
	os.WriteFile(filepath.Join(app, "go.mod"), []byte(e2eGoMod), 0o644)
	os.WriteFile(filepath.Join(app, "main.go"), []byte(e2eMain), 0o644)
	// GOSUMDB without a URL: the go command verifies through modgate's /sumdb/.
	env := testkit.GoEnv(t, filepath.Join(work, "home1"), mg.URL, "GOSUMDB="+db.GOSUMDB())

	// go mod download of every kind of version, verified against the checksum database.
	out := testkit.RunGo(t, app, env, false, "mod", "download", "-json", "all")
	dec := json.NewDecoder(strings.NewReader(out))
	downloaded := map[string]bool{}
	for {
		var m struct{ Path, Version, Error, Zip, Sum string }
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go mod download -json: %v\n%s", err, out)
		}
		if m.Error != "" || m.Zip == "" {
			t.Errorf("go mod download %s@%s: error %q, zip %q", m.Path, m.Version, m.Error, m.Zip)
		}
		downloaded[m.Path+"@"+m.Version] = true
	}
	for _, b := range mods {
		if b.Version != "v1.0.1" && b.Version != "v1.1.0" && !downloaded[b.Path+"@"+b.Version] {
			t.Errorf("%s@%s was not downloaded", b.Path, b.Version)
		}
	}
	if db.Lookups("example.com/legacy", "v2.0.0+incompatible") == 0 {
		t.Errorf("the go command did not verify through modgate's checksum database pass-through")
	}

	// go build of a program importing them, and the program runs.
	testkit.RunGo(t, app, env, false, "mod", "tidy")
	testkit.RunGo(t, app, env, false, "build", "-o", filepath.Join(work, "app.bin"), ".")
	got, err := exec.Command(filepath.Join(work, "app.bin")).Output()
	if err != nil || strings.TrimSpace(string(got)) != "v1.0.0 legacy v2 pseudo fake" {
		t.Errorf("built program printed %q, %v", got, err)
	}

	// go list -m -versions hides the retracted v1.0.1.
	out = testkit.RunGo(t, app, env, false, "list", "-m", "-versions", "example.com/Upper/Lib")
	if strings.TrimSpace(out) != "example.com/Upper/Lib v1.0.0 v1.1.0" {
		t.Errorf("go list -m -versions = %q", out)
	}
	// go get @latest lands on v1.1.0.
	testkit.RunGo(t, app, env, false, "get", "example.com/Upper/Lib@latest")
	if gm, _ := os.ReadFile(filepath.Join(app, "go.mod")); !strings.Contains(string(gm), "example.com/Upper/Lib v1.1.0") {
		t.Errorf("after go get @latest, go.mod is:\n%s", gm)
	}
	// A module with no tagged versions: @latest is its pseudo-version, and a
	// branch query resolves through upstream.
	out = testkit.RunGo(t, app, env, false, "list", "-m", "example.com/pseudo@latest")
	if strings.TrimSpace(out) != "example.com/pseudo v0.0.0-20200102030405-abcdefabcdef" {
		t.Errorf("go list -m example.com/pseudo@latest = %q", out)
	}
	testkit.RunGo(t, app, env, false, "get", "example.com/pseudo@main")
	testkit.RunGo(t, app, env, false, "get", "example.com/pseudo@main")
	if n := up.Requests("/example.com/pseudo/@v/main.info"); n != 2 {
		t.Errorf("upstream saw %d queries for @main, want 2 (queries are never cached)", n)
	}
	upstreamBefore := up.TotalRequests()

	// Upstream gone: cached modules still download into a fresh module cache,
	// and the list is served stale.
	up.Close()
	env2 := testkit.GoEnv(t, filepath.Join(work, "home2"), mg.URL, "GOSUMDB="+db.GOSUMDB())
	testkit.RunGo(t, app, env2, false, "mod", "download", "all")
	testkit.RunGo(t, app, env2, false, "build", "-o", filepath.Join(work, "app2.bin"), ".")
	time.Sleep(5 * time.Millisecond) // past --list-ttl, so the list is refreshed from (dead) upstream
	out = testkit.RunGo(t, app, env2, false, "list", "-m", "-versions", "example.com/Upper/Lib")
	if strings.TrimSpace(out) != "example.com/Upper/Lib v1.0.0 v1.1.0" {
		t.Errorf("go list -m -versions with upstream down = %q", out)
	}
	if !mg.waitLog("serving stale answer", 10*time.Second) {
		t.Errorf("modgate did not log that it served a stale list")
	}
	if up.TotalRequests() < upstreamBefore {
		t.Fatalf("upstream counter went backwards")
	}

	// /healthz, /readyz and /metrics answer.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(mg.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d %s", p, resp.StatusCode, body)
		}
		if p == "/metrics" && !strings.Contains(string(body), `modgate_cache_requests_total{kind="zip",result="hit"}`) {
			t.Errorf("/metrics has no zip cache hits:\n%s", body)
		}
	}
	mg.stop(t)

	// Every request left an audit record, in a chain that verifies.
	dbArgs := []string{"--data", data}
	if dsn != "" {
		dbArgs = append(dbArgs, "--database", dsn)
	}
	recs := auditRecords(t, dbArgs...)
	count := func(kind, decision, source string) int {
		n := 0
		for _, r := range recs {
			if r.Type == "fetch" && r.Kind == kind && r.Decision == decision && strings.HasPrefix(r.Source, source) {
				n++
			}
		}
		return n
	}
	fromUpstream := map[string]int{}
	for _, r := range recs {
		if r.Type == "fetch" && r.Kind == "zip" && r.Decision == "served" && strings.HasPrefix(r.Source, up.URL) {
			fromUpstream[r.Module+"@"+r.Version]++
		}
	}
	for mv, n := range fromUpstream {
		if n != 1 {
			t.Errorf("audit: %s's zip came from upstream %d times, want once", mv, n)
		}
	}
	if len(fromUpstream) < 5 {
		t.Errorf("audit: zips of %d versions served from upstream, want at least 5: %v", len(fromUpstream), fromUpstream)
	}
	if n := count("zip", "served", "cache"); n < 5 {
		t.Errorf("audit: %d zips served from the cache, want at least 5", n)
	}
	if n := count("list", "served", "cache (stale)"); n < 1 {
		t.Errorf("audit: no list served stale")
	}
	for _, r := range recs {
		if r.ClientIP != "127.0.0.1" || !strings.HasPrefix(r.UserAgent, "Go-http-client") && r.Type == "fetch" {
			t.Errorf("audit record without the client: %+v", r)
			break
		}
	}
	if out, code := runModgate(t, append([]string{"audit", "verify"}, dbArgs...)...); code != 0 {
		t.Errorf("audit verify: exit %d\n%s", code, out)
	}

	// Every zip served names its SBOM, which the CLI renders.
	for _, r := range recs {
		if r.Type == "fetch" && r.Kind == "zip" && r.Decision == "served" && r.SBOM == "" {
			t.Errorf("audit: zip served without an SBOM: %+v", r)
			break
		}
	}
	out, code := runModgate(t, append([]string{"sbom", "get", "example.com/Upper/Lib@v1.0.0", "--format", "spdx-json"}, dbArgs...)...)
	if code == 0 {
		sbomcheck.Licenses(t, []byte(out))
	}
	lib := mods[0]
	for _, want := range []string{"pkg:golang/example.com/Upper/Lib@v1.0.0", lib.Hash, `"SPDX-2.3"`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("sbom get: exit %d, output lacks %q:\n%.2000s", code, want, out)
		}
	}
}

// auditRecords exports the audit log of a stopped modgate.
func auditRecords(t *testing.T, args ...string) []audit.Record {
	t.Helper()
	cmd := exec.Command(modgateBinary(t), append([]string{"audit", "export", "--format", "jsonl"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, stderr.String())
	}
	out := string(outb)
	var recs []audit.Record
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var r audit.Record
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("audit export: %v\n%s", err, out)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestGracefulShutdownFinishesDownloads starts a slow zip download, sends
// SIGTERM in the middle, and checks that the client still gets every byte.
func TestGracefulShutdownFinishesDownloads(t *testing.T) {
	noise := make([]byte, 1<<20) // incompressible, so the zip is ~1 MiB and takes ~0.8s to send
	rand.Read(noise)
	b := testkit.Build(t, testkit.Module{Path: "example.com/slow", Version: "v1.0.0",
		Files: map[string]string{"big.bin": string(noise)}})
	up := testkit.NewUpstream(t, b)
	started := make(chan struct{})
	var once sync.Once
	up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".zip") {
			return false
		}
		once.Do(func() { close(started) })
		w.Header().Set("Content-Length", fmt.Sprint(len(b.Zip)))
		for i := 0; i < len(b.Zip); i += 64 << 10 {
			end := min(i+64<<10, len(b.Zip))
			w.Write(b.Zip[i:end])
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
		return true
	}
	mg := startModgate(t, "--data", t.TempDir(), "--upstream", up.URL, "--sumdb", "off")
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(mg.URL + "/example.com/slow/@v/v1.0.0.zip")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, data)
		}
		res <- result{len(data), err}
	}()
	<-started
	mg.stop(t)
	r := <-res
	if r.err != nil || r.n != len(b.Zip) {
		t.Fatalf("download during shutdown: %d of %d bytes, %v", r.n, len(b.Zip), r.err)
	}
}

func TestRunCommands(t *testing.T) {
	ctx := context.Background()
	getenv := func(string) string { return "" }
	var out, errb strings.Builder
	if err := run(ctx, []string{"version"}, getenv, &out, &errb); err != nil || !strings.HasPrefix(out.String(), "modgate ") {
		t.Errorf("version: %v %q", err, out.String())
	}
	if err := run(ctx, []string{"frobnicate"}, getenv, &out, &errb); err == nil || exitCode(err) != 2 {
		t.Errorf("unknown command: %v", err)
	}
	data := t.TempDir()
	out.Reset()
	if err := run(ctx, []string{"migrate", "--data", data}, getenv, &out, &errb); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "modgate.db")); err != nil {
		t.Errorf("migrate did not create the embedded database: %v", err)
	}
	if err := run(ctx, []string{"serve", "--upstream", "ftp://x", "--data", data, "--listen", "127.0.0.1:0"}, getenv, &out, &errb); err == nil || exitCode(err) != 2 {
		t.Errorf("serve with a bad upstream: %v", err)
	}
}

// rawDB opens the SQLite database in data behind modgate's back (to edit or
// read rows as an attacker or an operator would). It waits up to 10s for
// the write lock: a modgate still running may be finishing background work
// (facts, a zip read ahead, the audit log's load).
func rawDB(t *testing.T, data string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(data, "modgate.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}
