package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// runModgateEnv is runModgate with extra environment ("K=V").
func runModgateEnv(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(modgateBinary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// s3Object is the file of the blob object of zip under prefix in the S3
// server's backend (for changing it behind modgate's back).
func s3Object(srv *testkit.S3Server, prefix string, zip []byte) string {
	sum := sha256.Sum256(zip)
	key := hex.EncodeToString(sum[:])
	return srv.Path(prefix + "/" + key[:2] + "/" + key)
}

// TestS3BlobStore serves zips from a bucket of a real S3 server (versitygw)
// to the real go command: stored there and not in --data; an object changed
// in the bucket is never served, is quarantined and fetched again;
// checksum verify reads the bucket; while the server is down, zips get 503
// with the reason, /readyz 503, and nothing is marked missing (no fetch from
// upstream when it is back).
func TestS3BlobStore(t *testing.T) {
	srv := testkit.S3(t)
	random := make([]byte, 256<<10)
	rand.New(rand.NewSource(1)).Read(random)
	b := testkit.Build(t, testkit.Module{Path: "example.com/ins3", Version: "v1.0.0",
		Files: map[string]string{"s.go": "package ins3\n", "data.bin": string(random)}})
	up := testkit.NewUpstream(t, b)
	data := t.TempDir()
	common := []string{"--data", data, "--blob-store", srv.URL("blobs")}
	args := append([]string{"--upstream", up.URL, "--sumdb", "off", "--audit-flush", "0"}, common...)
	mg := startModgateEnv(t, srv.Env(), args...)
	if strings.Contains(mg.Logs(), srv.SecretKey) {
		t.Fatal("modgate's log shows the S3 secret key")
	}
	work := t.TempDir()
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")
	n := 0
	download := func(wantErr bool) (string, []byte) {
		t.Helper()
		n++
		home := filepath.Join(work, "home", string(rune('a'+n)))
		env := testkit.GoEnv(t, home, mg.URL, "GOSUMDB=off")
		out := testkit.RunGo(t, app, env, wantErr, "mod", "download", "example.com/ins3@v1.0.0")
		zip, _ := os.ReadFile(filepath.Join(home, "modcache", "cache", "download", "example.com", "ins3", "@v", "v1.0.0.zip"))
		return out, zip
	}
	if _, zip := download(false); !bytes.Equal(zip, b.Zip) {
		t.Fatal("first download: the module cache does not hold the zip")
	}
	obj := s3Object(srv, "blobs", b.Zip)
	if stored, err := os.ReadFile(obj); err != nil || !bytes.Equal(stored, b.Zip) {
		t.Fatalf("the bucket does not hold the zip under its key: %v", err)
	}
	if local, _ := filepath.Glob(filepath.Join(data, "blobs", "??", "*")); len(local) != 0 {
		t.Errorf("blobs stored in --data too: %v", local)
	}
	if code, body := readyz(t, mg.URL); code != http.StatusOK {
		t.Errorf("/readyz = %d %q", code, body)
	}

	// Changed in the bucket behind modgate's back.
	bad := bytes.Clone(b.Zip)
	bad[len(bad)/2] ^= 1
	if err := os.WriteFile(obj, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runModgateEnv(t, srv.Env(), append([]string{"checksum", "verify"}, common...)...); code != 1 ||
		!strings.Contains(out, "BAD example.com/ins3 v1.0.0 .zip") {
		t.Errorf("checksum verify of a changed object: exit %d\n%s", code, out)
	}
	out, zip := download(true)
	if zip != nil {
		t.Fatalf("the go command stored a zip from the changed object:\n%s", out)
	}
	if code, body := readyz(t, mg.URL); code != http.StatusOK || !strings.Contains(body, "warning: blob store: 1 stored artifacts failed their integrity check and were quarantined") {
		t.Errorf("/readyz after the change = %d %q, want 200 with a warning naming the quarantine", code, body)
	}
	if q, _ := filepath.Glob(srv.Path("blobs/quarantine/*")); len(q) != 1 {
		t.Errorf("quarantine/ in the bucket holds %v, want the changed object", q)
	}
	if _, zip := download(false); !bytes.Equal(zip, b.Zip) {
		t.Fatal("download after the changed object: not the right zip")
	}
	if got := up.Requests("/example.com/ins3/@v/v1.0.0.zip"); got != 2 {
		t.Errorf("upstream saw %d zip requests, want 2 (fetched again once)", got)
	}
	if out, code := runModgateEnv(t, srv.Env(), append([]string{"checksum", "verify"}, common...)...); code != 0 {
		t.Errorf("checksum verify after the fresh copy: exit %d\n%s", code, out)
	}

	// The S3 server goes away.
	srv.Stop()
	out, zip = download(true)
	t.Logf("go command, S3 down:\n%s", out)
	if zip != nil || !strings.Contains(out, "503") || !strings.Contains(out, "blob store") {
		t.Errorf("download while S3 is down: want a 503 that names the blob store:\n%s", out)
	}
	if code, body := readyz(t, mg.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, "blob store") {
		t.Errorf("/readyz while S3 is down = %d %q, want 503 naming the blob store", code, body)
	}
	if resp, err := http.Get(mg.URL + "/metrics"); err != nil {
		t.Error(err)
	} else {
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(m), `modgate_blob_store_errors_total{op="get"}`) {
			t.Error(`/metrics has no modgate_blob_store_errors_total{op="get"} while S3 is down`)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if _, zip := download(false); !bytes.Equal(zip, b.Zip) {
		t.Fatal("download once S3 is back: not the right zip")
	}
	if got := up.Requests("/example.com/ins3/@v/v1.0.0.zip"); got != 2 {
		t.Errorf("upstream saw %d zip requests, want still 2: nothing was marked missing while S3 was down", got)
	}
	if code, body := readyz(t, mg.URL); code != http.StatusOK {
		t.Errorf("/readyz once S3 is back = %d %q", code, body)
	}
	mg.stop(t)
	if strings.Contains(mg.Logs(), srv.SecretKey) {
		t.Error("modgate's log shows the S3 secret key")
	}
}

// TestBlobsMigrate copies an install's blob directory to a bucket, twice
// (the second run copies nothing), then serves from the bucket with no
// upstream at all; a blob that fails its check is reported and not copied.
func TestBlobsMigrate(t *testing.T) {
	srv := testkit.S3(t)
	mods := []*testkit.Built{
		testkit.Build(t, testkit.Module{Path: "example.com/mig1", Version: "v1.0.0", Files: map[string]string{"a.go": "package mig1\n"}}),
		testkit.Build(t, testkit.Module{Path: "example.com/mig2", Version: "v1.0.0", Files: map[string]string{"a.go": "package mig2\n"}}),
	}
	up := testkit.NewUpstream(t, mods...)
	data := t.TempDir()
	mg := startModgate(t, "--upstream", up.URL, "--sumdb", "off", "--data", data)
	work := t.TempDir()
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")
	download := func(base, home string) string {
		env := testkit.GoEnv(t, filepath.Join(work, home), base, "GOSUMDB=off")
		return testkit.RunGo(t, app, env, false, "mod", "download", "example.com/mig1@v1.0.0", "example.com/mig2@v1.0.0")
	}
	download(mg.URL, "a")
	mg.stop(t)

	to := srv.URL("moved")
	migrate := []string{"blobs", "migrate", "--data", data, "--from", "file://" + filepath.Join(data, "blobs"), "--to", to}
	if out, code := runModgateEnv(t, srv.Env(), migrate...); code != 0 || !strings.Contains(out, "2 copied, 0 already there (verified), 0 bad") {
		t.Fatalf("blobs migrate: exit %d\n%s", code, out)
	}
	if out, code := runModgateEnv(t, srv.Env(), migrate...); code != 0 || !strings.Contains(out, "0 copied, 2 already there (verified), 0 bad") {
		t.Fatalf("blobs migrate again: exit %d\n%s", code, out)
	}
	mg = startModgateEnv(t, srv.Env(), "--upstream", "off", "--sumdb", "off", "--data", data, "--blob-store", to)
	os.RemoveAll(filepath.Join(data, "blobs"))
	download(mg.URL, "b")
	mg.stop(t)

	// A source blob that fails its check is not copied.
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "ab"), 0o755)
	os.WriteFile(filepath.Join(src, "ab", "ab"+strings.Repeat("0", 62)), []byte("not these bytes"), 0o644)
	out, code := runModgateEnv(t, srv.Env(), "blobs", "migrate", "--data", data, "--from", "file://"+src, "--to", srv.URL("other"))
	if code != 1 || !strings.Contains(out, "BAD blob ab000") || !strings.Contains(out, "0 copied, 0 already there (verified), 1 bad") {
		t.Errorf("blobs migrate of a bad blob: exit %d\n%s", code, out)
	}
	if got, _ := filepath.Glob(srv.Path("other/*/*")); len(got) != 0 {
		t.Errorf("the bad blob was copied: %v", got)
	}
}

// TestS3BlobRedirect: with --blob-redirect, a zip verified whole lately is
// answered with a 302 to a presigned URL, which the go command follows; the
// first serve streams through modgate (and verifies).
func TestS3BlobRedirect(t *testing.T) {
	srv := testkit.S3(t)
	b := testkit.Build(t, testkit.Module{Path: "example.com/redir", Version: "v1.0.0", Files: map[string]string{"a.go": "package redir\n"}})
	up := testkit.NewUpstream(t, b)
	args := []string{"--upstream", up.URL, "--sumdb", "off", "--data", t.TempDir(), "--blob-store", srv.URL(""), "--blob-redirect"}
	mg := startModgateEnv(t, srv.Env(), args...)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func() *http.Response {
		t.Helper()
		resp, err := client.Get(mg.URL + "/example.com/redir/@v/v1.0.0.zip")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// The replica that uploaded the object knows it verified (the store
	// checked the upload against its SHA-256): answered with a redirect at
	// once.
	if resp := get(); resp.StatusCode != http.StatusFound {
		t.Fatalf("first zip request: %s, want 302 (verified whole at ingest)", resp.Status)
	}
	// A new process has verified nothing yet: it streams (and verifies),
	// then redirects.
	mg.stop(t)
	mg = startModgateEnv(t, srv.Env(), args...)
	if resp := get(); resp.StatusCode != http.StatusOK {
		t.Fatalf("first zip request after a restart: %s, want 200 (streamed and verified)", resp.Status)
	}
	// The streamed serve records that it verified the object when its
	// handler ends, which is after the client has the last byte: a request
	// right behind it may be streamed (and verified) too, 1 run in 15 here.
	resp := get()
	for i := 0; resp.StatusCode == http.StatusOK && i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		resp = get()
	}
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, srv.Endpoint+"/") || !strings.Contains(loc, "X-Amz-Signature=") {
		t.Fatalf("zip request after a verified stream: %s to %q, want 302 to a presigned URL", resp.Status, loc)
	}
	if strings.Contains(loc, srv.SecretKey) {
		t.Fatal("the presigned URL holds the secret key")
	}
	work := t.TempDir()
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")
	home := filepath.Join(work, "home")
	testkit.RunGo(t, app, testkit.GoEnv(t, home, mg.URL, "GOSUMDB=off"), false, "mod", "download", "example.com/redir@v1.0.0")
	if zip, _ := os.ReadFile(filepath.Join(home, "modcache", "cache", "download", "example.com", "redir", "@v", "v1.0.0.zip")); !bytes.Equal(zip, b.Zip) {
		t.Fatal("the go command did not get the zip through the redirect")
	}
}
