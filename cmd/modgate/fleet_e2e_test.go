package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// The fleet tests run modgate replicas as separate processes on one
// PostgreSQL database and one bucket of a real S3 server (versitygw, see
// testkit.S3); each replica has its own --data.

// fleet is what the replicas of a test share.
type fleet struct {
	dsn, key string
	s3       *testkit.S3Server
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	return &fleet{dsn: testkit.PostgresDSN(t), key: fleetKey(t), s3: testkit.S3(t)}
}

// start starts a replica with its own --data on upstream (a URL or "off"):
// every replica shares the database, the bucket, the checksum database
// setting and the audit key.
func (f *fleet) start(t *testing.T, upstream string, extra ...string) *server {
	t.Helper()
	args := []string{"--database", f.dsn, "--blob-store", f.s3.URL("blobs"), "--upstream", upstream,
		"--sumdb", "off", "--audit-key", f.key, "--fetch-lease-ttl", "2s", "--data", t.TempDir()}
	return startModgateEnv(t, f.s3.Env(), append(args, extra...)...)
}

// blobs is the directory of the bucket's blobs (versitygw's posix backend
// keeps objects as files).
func (f *fleet) blobs() string { return f.s3.Path("blobs") }

// fleetKey writes an audit checkpoint key for the replicas of a test.
func fleetKey(t *testing.T) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "audit.key")
	if out, code := runModgate(t, "audit", "keygen", key); code != 0 {
		t.Fatalf("audit keygen: exit %d\n%s", code, out)
	}
	return key
}

// bigModule is a module whose zip is about size bytes of incompressible data.
func bigModule(t *testing.T, path string, size int) *testkit.Built {
	noise := make([]byte, size)
	rand.Read(noise)
	return testkit.Build(t, testkit.Module{Path: path, Version: "v1.0.0",
		Files: map[string]string{"go.mod": "module " + path + "\n\ngo 1.21\n", "data.bin": string(noise)}})
}

// checkBlobs checks that every blob in dir is stored under its SHA-256:
// nothing half-written or foreign under a real key.
func checkBlobs(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "tmp" || name == "quarantine" || strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != d.Name() {
			t.Errorf("blob %s holds bytes whose SHA-256 is %s", path, got)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFleetSurvivesReplicaLoss downloads a module graph with the go command
// through replica A, stops A and deletes its --data, and downloads the same
// graph through replica B with no upstream at all: everything comes from the
// shared database and blob store.
func TestFleetSurvivesReplicaLoss(t *testing.T) {
	f := newFleet(t)
	mods := e2eModules(t)
	up := testkit.NewUpstream(t, mods...)
	a := f.start(t, up.URL)

	app := t.TempDir()
	writeApp(t, app, "module example.com/app\n\ngo 1.21\n\nrequire (\n"+
		"\texample.com/Upper/Lib v1.1.0\n\texample.com/legacy v2.0.0+incompatible\n\texample.com/lib/v2 v2.0.0\n)\n")
	env := testkit.GoEnv(t, t.TempDir(), a.URL, "GOSUMDB=off", "GOFLAGS=-modcacherw -mod=mod")
	testkit.RunGo(t, app, env, false, "mod", "download", "all")
	zips := checkBlobs(t, f.blobs())
	if zips == 0 {
		t.Fatal("no blob in the bucket after the download through A")
	}

	a.stop(t)
	if err := os.RemoveAll(a.data); err != nil {
		t.Fatal(err)
	}
	up.Close()
	b := f.start(t, "off")
	env = testkit.GoEnv(t, t.TempDir(), b.URL, "GOSUMDB=off", "GOFLAGS=-modcacherw -mod=mod")
	out := testkit.RunGo(t, app, env, false, "mod", "download", "-json", "all")
	if n := strings.Count(out, `"Zip"`); n < zips {
		t.Errorf("replica B served %d zips with the upstream off, A stored %d:\n%s", n, zips, out)
	}
}

// fleetGet sends n GET requests for path, alternating between the replicas,
// at most conc at once, and returns how many answers of each status and
// SHA-256 of the body there were. started is called once conc requests are
// on their way (or all of them, if fewer).
func fleetGet(t *testing.T, urls []string, path string, n, conc int, started func()) map[string]int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: conc, MaxIdleConnsPerHost: conc}}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	answers := map[string]int{}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var sent atomic.Int32
	var once sync.Once
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func(url string) {
			defer wg.Done()
			defer func() { <-sem }()
			if int(sent.Add(1)) == min(n, conc) && started != nil {
				once.Do(started)
			}
			key := ""
			resp, err := client.Get(url + path)
			if err != nil {
				key = "error " + err.Error()
			} else {
				h := sha256.New()
				_, err := io.Copy(h, resp.Body)
				resp.Body.Close()
				key = fmt.Sprintf("%d %x", resp.StatusCode, h.Sum(nil))
				if err != nil {
					key += " read error " + err.Error()
				}
			}
			mu.Lock()
			answers[key]++
			mu.Unlock()
		}(urls[i%len(urls)])
	}
	wg.Wait()
	return answers
}

// TestFleetOneUpstreamFetch sends 1000 requests (64 at a time, over
// loopback), split across two replicas, for one uncached 20 MB zip, and then
// for a version upstream does not have: each is asked of upstream exactly
// once, and every client gets the same answer.
func TestFleetOneUpstreamFetch(t *testing.T) {
	f := newFleet(t)
	big := bigModule(t, "example.com/big", 20<<20)
	up := testkit.NewUpstream(t, big)
	release := make(chan struct{})
	var releaseOnce sync.Once
	up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, ".zip") {
			<-release // hold the fetch until every client waits
		}
		return false
	}
	replicas := []string{f.start(t, up.URL).URL, f.start(t, up.URL).URL}
	start := time.Now()
	answers := fleetGet(t, replicas, "/example.com/big/@v/v1.0.0.zip", 1000, 64, func() { releaseOnce.Do(func() { close(release) }) })
	t.Logf("1000 requests for a 20 MB zip over two replicas: %v, upstream zip fetches %d", time.Since(start), up.Requests("/example.com/big/@v/v1.0.0.zip"))
	want := fmt.Sprintf("200 %x", sha256.Sum256(big.Zip))
	if len(answers) != 1 || answers[want] != 1000 {
		t.Errorf("answers = %v, want 1000 times %q", answers, want)
	}
	if n := up.Requests("/example.com/big/@v/v1.0.0.zip"); n != 1 {
		t.Errorf("upstream saw %d zip fetches from two replicas, want 1", n)
	}

	answers = fleetGet(t, replicas, "/example.com/big/@v/v1.9.9.zip", 1000, 64, nil)
	if len(answers) != 1 {
		t.Errorf("answers for a missing version = %v, want one kind", answers)
	}
	for k := range answers {
		if !strings.HasPrefix(k, "404 ") {
			t.Errorf("answer %q for a missing version, want 404", k)
		}
	}
	asked := 0
	for _, kind := range []string{"info", "mod", "zip"} {
		asked += up.Requests("/example.com/big/@v/v1.9.9." + kind)
	}
	if asked != 1 {
		t.Errorf("upstream asked %d times for a missing version by 1000 requests over two replicas, want 1", asked)
	}
}

// holdFirstZip makes up send the first zip fetch's first half and then wait
// until resume is closed (a holder stopped mid-ingest); later fetches are
// served whole. first is closed when the first fetch has sent its half.
func holdFirstZip(up *testkit.Upstream, zip []byte) (first, resume chan struct{}) {
	first, resume = make(chan struct{}), make(chan struct{})
	var n atomic.Int32
	up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".zip") || n.Add(1) != 1 {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(zip)))
		w.Write(zip[:len(zip)/2])
		w.(http.Flusher).Flush()
		close(first)
		select {
		case <-resume:
			w.Write(zip[len(zip)/2:])
		case <-r.Context().Done():
		}
		return true
	}
	return first, resume
}

// get fetches url and returns its status and body (status 0 on a transport error).
func get(url string) (int, []byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// TestFleetKilledHolder kills (-9) the replica holding a fetch lease in the
// middle of the download: the other replica takes the fetch over once the
// lease expires and serves the zip; no blob holds bytes other than its key's,
// and the audit chain verifies.
func TestFleetKilledHolder(t *testing.T) {
	f := newFleet(t)
	big := bigModule(t, "example.com/big", 1<<20)
	up := testkit.NewUpstream(t, big)
	first, resume := holdFirstZip(up, big.Zip)
	defer close(resume)
	a, b := f.start(t, up.URL), f.start(t, up.URL)
	const path = "/example.com/big/@v/v1.0.0.zip"
	go get(a.URL + path)
	<-first
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-a.done
	start := time.Now()
	code, body, err := get(b.URL + path)
	took := time.Since(start)
	t.Logf("replica B answered %d after %v (lease TTL 2s)", code, took)
	if err != nil || code != 200 || !bytes.Equal(body, big.Zip) {
		t.Fatalf("replica B after A was killed holding the lease: %d, %d bytes, %v", code, len(body), err)
	}
	if took > 15*time.Second {
		t.Errorf("replica B took %v to take over a lease whose TTL is 2s", took)
	}
	if n := up.Requests(path); n != 2 {
		t.Errorf("upstream zip fetches = %d, want 2 (the killed holder's and the takeover)", n)
	}
	checkBlobs(t, f.blobs())
	b.stop(t)
	if out, code := runModgate(t, "audit", "verify", "--database", f.dsn, "--data", t.TempDir(), "--audit-key", f.key); code != 0 {
		t.Errorf("audit verify: exit %d\n%s", code, out)
	}
}

// TestFleetHungHolder stops (SIGSTOP) the replica holding a fetch lease in
// the middle of the download: the other replica takes over after the TTL and
// serves the zip. When the stopped replica resumes and finishes its download,
// it overwrites nothing and records nothing: its client gets the zip the
// other replica stored.
func TestFleetHungHolder(t *testing.T) {
	f := newFleet(t)
	big := bigModule(t, "example.com/big", 1<<20)
	up := testkit.NewUpstream(t, big)
	first, resume := holdFirstZip(up, big.Zip)
	a, b := f.start(t, up.URL), f.start(t, up.URL)
	const path = "/example.com/big/@v/v1.0.0.zip"
	type answer struct {
		code int
		body []byte
		err  error
	}
	fromA := make(chan answer, 1)
	go func() {
		code, body, err := get(a.URL + path)
		fromA <- answer{code, body, err}
	}()
	<-first
	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer a.cmd.Process.Signal(syscall.SIGCONT)
	start := time.Now()
	code, body, err := get(b.URL + path)
	t.Logf("replica B answered %d after %v (lease TTL 2s)", code, time.Since(start))
	if err != nil || code != 200 || !bytes.Equal(body, big.Zip) {
		t.Fatalf("replica B while A hangs holding the lease: %d, %d bytes, %v", code, len(body), err)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(big.Zip))
	blobPath := filepath.Join(f.blobs(), sum[:2], sum)
	before, err := os.Stat(blobPath)
	if err != nil {
		t.Fatal(err)
	}
	// A resumes and its upstream download completes.
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	close(resume)
	r := <-fromA
	if r.err != nil || r.code != 200 || !bytes.Equal(r.body, big.Zip) {
		t.Fatalf("replica A after it resumed: %d, %d bytes, %v", r.code, len(r.body), r.err)
	}
	after, err := os.Stat(blobPath)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the resumed holder replaced the blob B stored")
	}
	if !a.waitLog("fetch lease taken over", 10*time.Second) {
		t.Errorf("replica A did not log that its lease was taken over")
	}
	if strings.Contains(a.Logs(), `"msg":"fetched","module":"example.com/big"`) {
		t.Errorf("the resumed holder recorded the fetch as its own")
	}
	if !b.waitLog(`"msg":"fetched","module":"example.com/big"`, 10*time.Second) {
		t.Errorf("replica B did not record its fetch")
	}
	checkBlobs(t, f.blobs())
	if out, code := runModgate(t, "sbom", "get", "example.com/big@v1.0.0", "--database", f.dsn, "--data", t.TempDir(), "--audit-key", f.key); code != 0 {
		t.Errorf("sbom get after the takeover: exit %d\n%s", code, out)
	}
}

// TestDrainOnSIGTERM checks the order of a graceful stop behind a load
// balancer: on SIGTERM /readyz answers 503 at once while requests are still
// served for --drain-delay, a download in flight completes, and the process
// exits 0.
func TestDrainOnSIGTERM(t *testing.T) {
	big := bigModule(t, "example.com/slow", 256<<10)
	up := testkit.NewUpstream(t, big)
	first, resume := holdFirstZip(up, big.Zip)
	mg := startModgate(t, "--data", t.TempDir(), "--upstream", up.URL, "--sumdb", "off", "--drain-delay", "2s")
	if code, body, err := get(mg.URL + "/readyz"); code != 200 {
		t.Fatalf("/readyz before SIGTERM: %d %s %v", code, body, err)
	}
	type answer struct {
		code int
		body []byte
		err  error
	}
	inflight := make(chan answer, 1)
	go func() {
		code, body, err := get(mg.URL + "/example.com/slow/@v/v1.0.0.zip")
		inflight <- answer{code, body, err}
	}()
	<-first
	if err := mg.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !mg.waitLog("draining", 10*time.Second) {
		t.Fatal("no drain logged after SIGTERM")
	}
	code, body, err := get(mg.URL + "/readyz")
	if code != 503 || !strings.Contains(string(body), "shutting down") {
		t.Errorf("/readyz while draining: %d %q %v, want 503 saying it is shutting down", code, body, err)
	}
	if code, body, err := get(mg.URL + "/example.com/slow/@v/v1.0.0.info"); code != 200 {
		t.Errorf("a request while draining: %d %q %v, want it served", code, body, err)
	}
	close(resume)
	r := <-inflight
	if r.err != nil || r.code != 200 || !bytes.Equal(r.body, big.Zip) {
		t.Errorf("download in flight at SIGTERM: %d, %d bytes, %v", r.code, len(r.body), r.err)
	}
	select {
	case err := <-mg.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("modgate did not exit after SIGTERM")
	}
}
