package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/scanner"
)

// vulnSnapshot returns the file:// URL of the vulnerability database the
// snapshot tests read, and its number of entries: the directory named by
// MODGATE_VULNDB_SNAPSHOT (absolute, or relative to the repository root), the
// whole Go vulnerability database that .ci/run points at ../shared/vulndb;
// else the real subset of it in testdata/vulndb (see its README.md), so a
// plain clone runs these tests.
func vulnSnapshot(t *testing.T) (string, int) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "testdata", "vulndb")
	if env := os.Getenv("MODGATE_VULNDB_SNAPSHOT"); env != "" {
		dir = env
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "index", "modules.json")); err != nil {
		t.Fatalf("no vulnerability database at %s (MODGATE_VULNDB_SNAPSHOT=%q; unset, the subset in testdata/vulndb is used): %v",
			dir, os.Getenv("MODGATE_VULNDB_SNAPSHOT"), err)
	}
	ids, err := filepath.Glob(filepath.Join(dir, "ID", "GO-*.json"))
	if err != nil || len(ids) == 0 {
		t.Fatalf("no entries in %s/ID: %v", dir, err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}).String(), len(ids)
}

func TestVulnCommands(t *testing.T) {
	db, entries := vulnSnapshot(t)
	ctx := context.Background()
	data := t.TempDir()
	getenv := func(string) string { return "" }
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"vuln", "--data", data, "golang.org/x/text@v0.3.5"}, getenv, &out, &errb); err == nil ||
		!strings.Contains(err.Error(), "modgate vulndb sync") {
		t.Errorf("vuln before any sync: %v, want advice to sync", err)
	}
	out.Reset()
	if err := run(ctx, []string{"vulndb", "sync", "--data", data, "--vulndb", db}, getenv, &out, &errb); err != nil {
		t.Fatalf("vulndb sync: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("%d entries", entries)) {
		t.Errorf("vulndb sync output:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"vuln", "--data", data, "--vulndb", db, "golang.org/x/text@v0.3.5"}, getenv, &out, &errb); err != nil {
		t.Fatalf("vuln: %v", err)
	}
	for _, want := range []string{"golang.org/x/text@v0.3.5: 3 known vulnerabilities", "GO-2021-0113 (CVE-2021-38561, GHSA-ppp9-7jff-5vj2) REVIEWED",
		"Fixed in: v0.3.7", "GO-2022-1059", "GO-2026-5970"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("vuln output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(ctx, []string{"vuln", "--data", data, "--vulndb", db, "github.com/gorilla/sessions@v1.2.1", "--", "--json"}, getenv, &out, &errb); err != nil {
		t.Fatalf("vuln --json: %v", err)
	}
	var got vulnOut
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("vuln --json output: %v\n%s", err, out.String())
	}
	if got.DBModified != "2026-08-21T20:38:00Z" || len(got.Withdrawn) != 1 || got.Withdrawn[0].ID != "GO-2024-2730" {
		t.Errorf("vuln --json = %+v; want the withdrawn GO-2024-2730 listed apart", got)
	}
	for _, bad := range [][]string{{"vuln"}, {"vuln", "golang.org/x/text"}, {"vuln", "a@v1", "b@v1"}, {"vulndb"}, {"vulndb", "frob"}} {
		if err := run(ctx, append(bad, "--data", data), getenv, io.Discard, io.Discard); err == nil || exitCode(err) != 2 {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
	if err := run(ctx, []string{"vuln", "--data", data, "golang.org/x/text@0.3.5"}, getenv, io.Discard, io.Discard); err == nil {
		t.Errorf("vuln with an invalid version succeeded")
	}
}

// TestGovulncheckAgainstServe points govulncheck at a running modgate's
// /vulndb/ (over HTTP, .json.gz files) and checks it finds what the data says.
func TestGovulncheckAgainstServe(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds govulncheck")
	}
	db, entries := vulnSnapshot(t)
	bin := filepath.Join(t.TempDir(), "govulncheck")
	build := exec.Command("go", "build", "-o", bin, "golang.org/x/vuln/cmd/govulncheck")
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("building govulncheck: %v\n%s", err, out)
		}
		t.Skipf("SKIP: cannot build govulncheck (CI=true makes this fail): %v\n%s", err, out)
	}
	srv := startModgate(t, "--data", t.TempDir(), "--upstream", "off", "--vulndb", db)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(srv.URL + "/vulndb-status")
		if err != nil {
			t.Fatal(err)
		}
		var st statusOut
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if st.Entries > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("modgate did not sync within a minute: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("modgate_vulndb_entries %d", entries); !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	cmd := exec.Command(bin, "-db", srv.URL+"/vulndb", "-mode", "query", "-format", "json", "golang.org/x/text@v0.3.5")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("govulncheck -db %s/vulndb: %v\n%s", srv.URL, err, stderr.String())
	}
	for _, id := range []string{"GO-2021-0113", "GO-2022-1059", "GO-2026-5970"} {
		if !strings.Contains(stdout.String(), `"id": "`+id+`"`) {
			t.Errorf("govulncheck through modgate did not report %s:\n%.2000s", id, stdout.String())
		}
	}
}

// TestStaleWarningNamesItsCause: the CLI's warning about stale data says
// which age is over --vulndb-max-age. A database whose own modified time is
// old (a frozen mirror, an old snapshot) right after a successful sync does
// not block, and syncing again does not change it: the warning must not
// advise a sync (it did, after the sync it had just made).
func TestStaleWarningNamesItsCause(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, tt := range []struct {
		name      string
		st        scanner.Status
		want, not []string
	}{
		{name: "fresh", st: scanner.Status{SyncedAt: now.Add(-time.Hour), DBModified: now.Add(-day), MaxAge: 7 * day}},
		{name: "never synced", st: scanner.Status{Stale: true, MaxAge: 7 * day}},
		{name: "sync too old", st: scanner.Status{Stale: true, SyncedAt: now.Add(-9 * day), DBModified: now.Add(-10 * day), MaxAge: 7 * day},
			want: []string{"last synced 216h0m0s ago (2026-11-22T12:00:00Z)", "over --vulndb-max-age 168h0m0s", "run `modgate vulndb sync`"}},
		{name: "frozen database", st: scanner.Status{Stale: true, SyncedAt: now.Add(-time.Minute), DBModified: now.Add(-100 * day), MaxAge: 7 * day},
			want: []string{"last modified 2026-08-23T12:00:00Z (2400h0m0s ago", "synced it 1m0s ago", "frozen mirror", "does not block"},
			not:  []string{"run `modgate vulndb sync`"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := staleWarning(&tt.st, now)
			if len(tt.want) == 0 && got != "" {
				t.Errorf("staleWarning = %q, want none", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("staleWarning = %q, want it to say %q", got, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("staleWarning = %q, must not say %q", got, n)
				}
			}
		})
	}

	// Through the commands, right after a sync of real entries (their
	// database's modified time is the newest entry's, long ago).
	dbDir := t.TempDir()
	testkit.WriteVulnDB(t, dbDir, realEntries(t, "GO-2022-1059")...)
	db := (&url.URL{Scheme: "file", Path: filepath.ToSlash(dbDir)}).String()
	data := t.TempDir()
	list := filepath.Join(t.TempDir(), "build-list")
	if err := os.WriteFile(list, []byte("golang.org/x/text@v0.3.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	getenv := func(string) string { return "" }
	for _, args := range [][]string{
		{"vulndb", "sync", "--data", data, "--vulndb", db},
		{"vuln", "--data", data, "golang.org/x/text@v0.3.2"},
		{"check", "--data", data, list},
	} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, getenv, &out, &errb); err != nil {
			t.Fatalf("modgate %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		if stderr := errb.String(); !strings.Contains(stderr, "frozen mirror") || strings.Contains(stderr, "run `modgate vulndb sync`") {
			t.Errorf("modgate %s right after a sync: stderr %q, want the database's own age named, no advice to sync", args[0], stderr)
		}
	}
}

// modgate vuln states each publication time as its source proves it: the
// checksum database's is an upper bound.
func TestPrintVulnsPublished(t *testing.T) {
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	at := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct{ source, want string }{
		{store.PublishedSumDB, "  published: no later than " + fmtTime(at) + " (checksum-database)\n"},
		{store.PublishedIndex, "  published: " + fmtTime(at) + " (module-index)\n"},
		{store.PublishedFirstSeen, "  published: unknown (first-seen " + fmtTime(at) + ": not a publication time)\n"},
	} {
		var b strings.Builder
		printVulns(&b, m, vulnOut{Facts: &store.Facts{Module: m, Published: at, PublishedSource: c.source}})
		if !strings.Contains(b.String(), c.want) {
			t.Errorf("%s: output lacks %q:\n%s", c.source, c.want, b.String())
		}
	}
}
