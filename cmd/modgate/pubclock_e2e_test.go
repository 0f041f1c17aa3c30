package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// indexFeed is a local module index (the index.golang.org protocol: since
// inclusive, limit, oldest first, JSON lines {Path, Version, Timestamp}).
type indexFeed struct {
	mu    sync.Mutex
	lines []string
}

func (f *indexFeed) add(path, version string, ts time.Time) {
	b, _ := json.Marshal(map[string]any{"Path": path, "Version": version, "Timestamp": ts.UTC()})
	f.mu.Lock()
	f.lines = append(f.lines, string(b))
	f.mu.Unlock()
}

func (f *indexFeed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	since, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("since"))
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.lines {
		var e struct{ Timestamp time.Time }
		json.Unmarshal([]byte(l), &e)
		if !e.Timestamp.Before(since) {
			fmt.Fprintln(w, l)
		}
	}
}

// TestEndToEndPublicationClock: min_age counts from the module index, never
// from the .info Time. A version whose .info claims 2019 but that the index
// lists as published an hour ago is held by min_age; a version no source
// dates is held (min_age.unknown, with why and when), then served once the
// local index lists it as old enough.
func TestEndToEndPublicationClock(t *testing.T) { testPublicationClock(t, "") }

func TestEndToEndPublicationClockPostgres(t *testing.T) {
	testPublicationClock(t, testkit.PostgresDSN(t))
}

func testPublicationClock(t *testing.T, dsn string) {
	old := time.Date(2019, 4, 10, 0, 0, 0, 0, time.UTC)
	backdated := testkit.Build(t, testkit.Module{Path: "example.com/backdated", Version: "v1.0.0", Time: old,
		Files: map[string]string{"LICENSE": bsd3License, "b.go": "package backdated\n"}})
	unknown := testkit.Build(t, testkit.Module{Path: "example.com/unknown", Version: "v1.0.0", Time: old,
		Files: map[string]string{"LICENSE": bsd3License, "u.go": "package unknown\n"}})
	up := testkit.NewUpstream(t, backdated, unknown)
	feed := &indexFeed{}
	now := time.Now().UTC()
	feed.add("golang.org/x/text", "v0.3.0", time.Date(2019, 4, 10, 19, 8, 52, 997264000, time.UTC))
	feed.add("example.com/filler", "v1.0.0", now.Add(-101*24*time.Hour))
	ix := httptest.NewServer(feed)
	defer ix.Close()

	work := t.TempDir()
	policyFile := filepath.Join(work, "policy.yaml")
	os.WriteFile(policyFile, []byte("min_age: 72h\n"), 0o644)
	args := []string{"--data", t.TempDir(), "--policy", policyFile, "--upstream", up.URL, "--sumdb", "off",
		"--index", ix.URL + "/index", "--index-interval", "50ms"}
	if dsn != "" {
		args = append(args, "--database", dsn)
	}
	mg := startModgate(t, args...)
	if !mg.waitLog("index: caught up", 30*time.Second) {
		t.Fatalf("the index was not read:\n%s", mg.Logs())
	}
	if _, metrics := getURL(t, mg.URL+"/metrics"); !strings.Contains(metrics, "modgate_index_caught_up 1") ||
		!strings.Contains(metrics, "modgate_index_entries 2") || !strings.Contains(metrics, "modgate_index_read_failing 0") {
		t.Errorf("/metrics does not show the index caught up with 2 entries:\n%s", grepLines(metrics, "modgate_index"))
	}
	env := testkit.GoEnv(t, filepath.Join(work, "home"), mg.URL, "GOSUMDB=off")
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")

	// Not listed: held, saying why and how far the index was read.
	out := testkit.RunGo(t, app, env, true, "mod", "download", "example.com/unknown@v1.0.0")
	detail, lines := serverResponse(t, out)
	t.Logf("unknown: %d bytes, %d lines:\n%s", len(detail), lines, detail)
	for _, want := range []string{"403 Forbidden", "refused by modgate policy (min_age.unknown)",
		"publication time unknown: the module index has not listed it yet (index followed up to ", "retry in a few minutes", "--rule min_age.unknown"} {
		if !strings.Contains(out, want) {
			t.Errorf("unlisted version: output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[Truncated") {
		t.Errorf("the go command truncated the refusal:\n%s", out)
	}

	// The version page says the publication time is unknown, and shows first
	// sight as first sight only.
	if code, page := getURL(t, mg.URL+"/ui/version/example.com/unknown/@v/v1.0.0"); code != http.StatusOK ||
		!strings.Contains(page, `<td id="published"><span class="warn">unknown</span>`) || !strings.Contains(page, "First seen") {
		t.Errorf("version page of an undated version (%d):\n%s", code, page)
	}

	// The index lists it as published 100 days ago: served once modgate has
	// read that (the follower dates the stored facts).
	// (The index is in time order: what it lists next is newer than what
	// it listed before.)
	feed.add("example.com/unknown", "v1.0.0", now.Add(-100*24*time.Hour))
	feed.add("example.com/backdated", "v1.0.0", now.Add(-time.Hour))
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Decisions are reused for up to 5s: ask for the zip until the
		// refusal made before the index listed it has expired.
		code, body := getURL(t, mg.URL+"/example.com/unknown/@v/v1.0.0.zip")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after the index listed the version as 100 days old: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	testkit.RunGo(t, app, env, false, "mod", "download", "example.com/unknown@v1.0.0")

	// The version page shows the publication time and its source.
	code, page := getURL(t, mg.URL+"/ui/version/example.com/unknown/@v/v1.0.0")
	if code != http.StatusOK || !strings.Contains(page, "module-index") {
		t.Errorf("version page (%d) does not show the index as the publication time's source:\n%s", code, page)
	}

	// Backdated .info, listed an hour ago: min_age holds it.
	out = testkit.RunGo(t, app, env, true, "mod", "download", "example.com/backdated@v1.0.0")
	detail, lines = serverResponse(t, out)
	t.Logf("backdated: %d bytes, %d lines:\n%s", len(detail), lines, detail)
	for _, want := range []string{"403 Forbidden", "refused by modgate policy (min_age)", "module-index", "younger than min_age 72h"} {
		if !strings.Contains(out, want) {
			t.Errorf("backdated version: output lacks %q:\n%s", want, out)
		}
	}

}

// TestEndToEndMinAgeFastLane: with min_age: {fixes: allow}, golang.org/x/text
// v0.3.8, listed by the index an hour ago, is served to the go command
// because it fixes GO-2022-1059 (real entry) in v0.3.5, which the
// organisation fetched; v0.3.5 itself stays held. The audit record of the
// zip says it passed early.
func TestEndToEndMinAgeFastLane(t *testing.T) {
	var mods []*testkit.Built
	for _, v := range []string{"v0.3.5", "v0.3.8"} {
		mods = append(mods, testkit.Build(t, testkit.Module{Path: "golang.org/x/text", Version: v,
			Files: map[string]string{"LICENSE": bsd3License, "language/language.go": "package language\n"}}))
	}
	up := testkit.NewUpstream(t, mods...)
	dbDir := t.TempDir()
	testkit.WriteVulnDB(t, dbDir, realEntries(t, "GO-2022-1059")...)
	feed := &indexFeed{}
	listed := time.Now().UTC().Add(-time.Hour)
	feed.add("golang.org/x/text", "v0.3.5", listed)
	feed.add("golang.org/x/text", "v0.3.8", listed.Add(time.Second))
	ix := httptest.NewServer(feed)
	defer ix.Close()

	work := t.TempDir()
	policyFile := filepath.Join(work, "policy.yaml")
	os.WriteFile(policyFile, []byte("vulnerabilities: warn\nmin_age: {age: 72h, fixes: allow}\n"), 0o644)
	data := t.TempDir()
	common := []string{"--data", data, "--vulndb", "file://" + dbDir, "--policy", policyFile}
	if out, code := runModgate(t, append([]string{"vulndb", "sync"}, common...)...); code != 0 {
		t.Fatalf("vulndb sync: exit %d\n%s", code, out)
	}
	mg := startModgate(t, append([]string{"--upstream", up.URL, "--sumdb", "off", "--vulndb-interval", "1h",
		"--index", ix.URL + "/index", "--index-interval", "1h"}, common...)...)
	if !mg.waitLog("index: caught up", 30*time.Second) {
		t.Fatalf("the index was not read:\n%s", mg.Logs())
	}
	env := testkit.GoEnv(t, filepath.Join(work, "home"), mg.URL, "GOSUMDB=off")
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")

	out := testkit.RunGo(t, app, env, true, "mod", "download", "golang.org/x/text@v0.3.5")
	if !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, "refused by modgate policy (min_age)") {
		t.Errorf("young v0.3.5 (fixes nothing): output lacks the min_age refusal:\n%s", out)
	}
	testkit.RunGo(t, app, env, false, "mod", "download", "golang.org/x/text@v0.3.8")
	mg.stop(t)
	var found bool
	for _, r := range auditRecords(t, "--data", data) {
		if r.Module == "golang.org/x/text" && r.Version == "v0.3.8" && r.Kind == "zip" {
			for _, reason := range r.Reasons {
				found = found || strings.Contains(reason, "passed early (min_age.fixes: allow): fixes GO-2022-1059 in golang.org/x/text@v0.3.5, fetched here")
			}
		}
	}
	if !found {
		t.Errorf("no audit record of the v0.3.8 zip says it passed early by the fast lane")
	}
}
