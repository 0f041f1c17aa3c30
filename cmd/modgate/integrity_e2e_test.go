package main

import (
	"bytes"
	"database/sql"
	"io"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

func TestTamperedStorageSQLite(t *testing.T) { testTamperedStorage(t, "") }

func TestTamperedStoragePostgres(t *testing.T) { testTamperedStorage(t, testkit.PostgresDSN(t)) }

// testTamperedStorage changes what modgate stored behind its back (a byte of
// a zip blob, a .mod row in the database) and drives the real go command: it
// never gets the changed bytes, the audit log has a security record, /readyz
// says so, and the next download fetches the right bytes again.
func testTamperedStorage(t *testing.T, dsn string) {
	random := make([]byte, 256<<10)
	rand.New(rand.NewSource(1)).Read(random)
	b := testkit.Build(t, testkit.Module{Path: "example.com/stored", Version: "v1.0.0",
		Files: map[string]string{"s.go": "package stored\n", "data.bin": string(random)}})
	up := testkit.NewUpstream(t, b)
	data := t.TempDir()
	common := []string{"--data", data}
	if dsn != "" {
		common = append(common, "--database", dsn)
	}
	args := append([]string{"--upstream", up.URL, "--sumdb", "off", "--audit-flush", "0"}, common...)
	mg := startModgate(t, args...)
	work := t.TempDir()
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")
	n := 0
	download := func(wantErr bool) (string, []byte) {
		t.Helper()
		n++
		home := filepath.Join(work, "home", string(rune('a'+n))) // a fresh module cache each time
		env := testkit.GoEnv(t, home, mg.URL, "GOSUMDB=off")
		out := testkit.RunGo(t, app, env, wantErr, "mod", "download", "example.com/stored@v1.0.0")
		zip, _ := os.ReadFile(filepath.Join(home, "modcache", "cache", "download", "example.com", "stored", "@v", "v1.0.0.zip"))
		return out, zip
	}
	if _, zip := download(false); !bytes.Equal(zip, b.Zip) {
		t.Fatal("first download: the module cache does not hold the zip")
	}

	// A byte flipped in place in the blob.
	blobs, _ := filepath.Glob(filepath.Join(data, "blobs", "??", "*"))
	if len(blobs) != 1 {
		t.Fatalf("want one stored zip, found %v", blobs)
	}
	f, err := os.OpenFile(blobs[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{b.Zip[len(b.Zip)/2] ^ 1}, int64(len(b.Zip)/2))
	f.Close()
	out, zip := download(true)
	t.Logf("go command, tampered zip:\n%s", out)
	if zip != nil {
		t.Fatalf("the go command stored a zip from the tampered blob:\n%s", out)
	}
	if code, body := readyz(t, mg.URL); code != http.StatusOK || !strings.Contains(body, "warning: blob store: 1 stored artifacts failed their integrity check and were quarantined") {
		t.Errorf("/readyz after tampering = %d %q, want 200 with a warning naming the quarantine", code, body)
	}
	if _, zip := download(false); !bytes.Equal(zip, b.Zip) {
		t.Fatal("download after the tampered blob: not the right zip")
	}
	if got := up.Requests("/example.com/stored/@v/v1.0.0.zip"); got != 2 {
		t.Errorf("upstream saw %d zip requests, want 2 (fetched again once)", got)
	}

	// A .mod row edited in the database, then a restart (nothing in memory).
	mg.stop(t)
	editModRow(t, data, dsn)
	mg = startModgate(t, args...)
	out, _ = download(true)
	t.Logf("go command, edited .mod:\n%s", out)
	if !strings.Contains(out, "503") || !strings.Contains(out, "failed its integrity check") {
		t.Errorf("download with an edited .mod row:\n%s", out)
	}
	if strings.Contains(out, "example.com/evil") {
		t.Errorf("the edited .mod reached the go command:\n%s", out)
	}
	if _, zip := download(false); !bytes.Equal(zip, b.Zip) {
		t.Fatal("download after the edited .mod: not the right zip")
	}
	mg.stop(t)

	var security []string
	for _, r := range auditRecords(t, append([]string{"--type", "security"}, common...)...) {
		if r.Module == "example.com/stored" && len(r.Reasons) > 0 && strings.Contains(r.Reasons[0], "integrity check") {
			security = append(security, r.Kind)
		}
	}
	if strings.Join(security, ",") != "zip,mod" {
		t.Errorf("security audit records about example.com/stored: %v, want zip and mod", security)
	}
	if out, code := runModgate(t, append([]string{"audit", "verify"}, common...)...); code != 0 {
		t.Errorf("audit verify: exit %d\n%s", code, out)
	}
}

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// editModRow changes the stored .mod of example.com/stored, as someone with
// access to the database could.
func editModRow(t *testing.T, data, dsn string) {
	t.Helper()
	driver, src := "sqlite", filepath.Join(data, "modgate.db")
	query := `UPDATE artifacts SET data = ? WHERE kind = 'mod' AND module_path = 'example.com/stored'`
	if dsn != "" {
		driver, src = "pgx", dsn
		query = strings.Replace(query, "?", "$1", 1)
	}
	db, err := sql.Open(driver, src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(query, []byte("module example.com/stored\n\nrequire example.com/evil v1.6.6\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("edited %d rows, want 1", n)
	}
}

// TestKilledIngestLeavesNoTempFiles kills modgate (kill -9) in the middle of a
// zip download; the next start removes the killed process's temporary file at
// once (not an hour later), before it listens.
func TestKilledIngestLeavesNoTempFiles(t *testing.T) {
	random := make([]byte, 256<<10)
	rand.New(rand.NewSource(1)).Read(random)
	b := testkit.Build(t, testkit.Module{Path: "example.com/killed", Version: "v1.0.0",
		Files: map[string]string{"k.go": "package killed\n", "data.bin": string(random)}})
	up := testkit.NewUpstream(t, b)
	halfway := make(chan struct{})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var once sync.Once
	up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, ".zip") {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b.Zip)))
		w.Write(b.Zip[:len(b.Zip)/2])
		w.(http.Flusher).Flush()
		once.Do(func() { close(halfway) })
		<-release // hang until the test ends
		return true
	}
	data := t.TempDir()
	args := []string{"--data", data, "--upstream", up.URL, "--sumdb", "off"}
	mg := startModgate(t, args...)
	go http.Get(mg.URL + "/example.com/killed/@v/v1.0.0.zip")
	<-halfway
	temps := func() []string {
		m, _ := filepath.Glob(filepath.Join(data, "blobs", "tmp", "blob-*"))
		return m
	}
	// The half-written blob reaches the disk as the upstream sends it.
	deadline := time.Now().Add(30 * time.Second)
	for len(temps()) == 0 || fileSize(temps()[0]) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no temporary file while the zip downloads")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mg.cmd.Process.Kill()
	<-mg.done
	if len(temps()) != 1 {
		t.Fatalf("after kill -9: temporary files %v, want the one of the killed download", temps())
	}
	startModgate(t, args...)
	if left := temps(); len(left) != 0 {
		t.Errorf("after the next start: temporary files %v left, want none", left)
	}
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}
