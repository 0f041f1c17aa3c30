package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// realEntries reads entries of the real Go vulnerability database from
// testdata/vulndb (a subset of the snapshot, see its README).
func realEntries(t *testing.T, ids ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, id := range ids {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vulndb", "ID", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// serverResponse is what the go command printed of an error body: the
// detail after "server response:", as cmd/go/internal/web formats it (lines
// joined with "\n\t"); its byte count is the one the go command limits.
func serverResponse(t *testing.T, out string) (detail string, lines int) {
	t.Helper()
	_, rest, ok := strings.Cut(out, "server response:\n\t")
	if !ok {
		t.Fatalf("no server response in the go command's output:\n%s", out)
	}
	// The detail ends where the go command's own next line starts (no tab).
	var b strings.Builder
	for i, l := range strings.Split(rest, "\n") {
		if i > 0 {
			if !strings.HasPrefix(l, "\t") {
				break
			}
			b.WriteString("\n")
		}
		b.WriteString(l)
	}
	detail = b.String()
	return detail, strings.Count(detail, "\n\t") + 1
}

// TestEndToEndMissingVulnData: on a fresh install whose vulnerability
// database is unreachable, the README's policy refuses zips with the reason
// (not "allowed"), /readyz answers 503, the failed sync is retried with
// backoff and counted; once the database answers, modgate syncs by itself,
// becomes ready and serves what the data allows, and the refusal of x/text
// v0.3.2 (4 real advisories) reaches the developer whole through the go
// command.
func TestEndToEndMissingVulnData(t *testing.T) {
	var mods []*testkit.Built
	for _, v := range []string{"v0.3.2", "v0.39.0"} {
		mods = append(mods, testkit.Build(t, testkit.Module{Path: "golang.org/x/text", Version: v,
			Files: map[string]string{"LICENSE": bsd3License, "language/language.go": "package language\n"}}))
	}
	up := testkit.NewUpstream(t, mods...)
	dbDir := t.TempDir()
	testkit.WriteVulnDB(t, dbDir, realEntries(t, "GO-2020-0015", "GO-2021-0113", "GO-2022-1059", "GO-2026-5970")...)
	var reachable atomic.Bool
	files := http.FileServer(http.Dir(dbDir))
	vulndb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !reachable.Load() {
			http.Error(w, "injected: the vulnerability database is down", http.StatusServiceUnavailable)
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer vulndb.Close()

	work := t.TempDir()
	policyFile := filepath.Join(work, "policy.yaml")
	os.WriteFile(policyFile, []byte("vulnerabilities: block\n"), 0o644)
	data := t.TempDir()
	common := []string{"--data", data, "--policy", policyFile}
	mg := startModgate(t, append([]string{"--upstream", up.URL, "--sumdb", "off", "--vulndb", vulndb.URL, "--vulndb-interval", "1h"}, common...)...)
	env := testkit.GoEnv(t, filepath.Join(work, "home"), mg.URL, "GOSUMDB=off")
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")
	if !mg.waitLog("vulndb: sync failed", 30*time.Second) {
		t.Fatalf("no failed sync logged:\n%s", mg.Logs())
	}

	// Without data: refused with what is missing and since when, not served.
	for _, v := range []string{"v0.3.2", "v0.39.0"} {
		out := testkit.RunGo(t, app, env, true, "mod", "download", "golang.org/x/text@"+v)
		detail, lines := serverResponse(t, out)
		t.Logf("without data, go mod download golang.org/x/text@%s shows %d bytes, %d lines:\n%s", v, len(detail), lines, detail)
		for _, want := range []string{"403 Forbidden", "refused by modgate policy (vulnerabilities.unknown)",
			"vulnerability data: never synced (last attempt ", "503 Service Unavailable", mg.URL + "/vulndb-status"} {
			if !strings.Contains(out, want) {
				t.Errorf("go mod download %s without vulnerability data: output lacks %q:\n%s", v, want, out)
			}
		}
		if strings.Contains(out, "[Truncated") {
			t.Errorf("the go command truncated the refusal:\n%s", out)
		}
	}
	// The dashboard says "not checked", never "Allowed" or "No known
	// vulnerability", about a version it has no data for (its .mod was
	// ingested: it has facts, without advisories).
	for _, v := range []string{"v0.3.2", "v0.39.0"} {
		code, page := getURL(t, mg.URL+"/ui/version/golang.org/x/text/@v/"+v)
		if code != http.StatusOK || !strings.Contains(page, "Not checked: vulnerability data: never synced") ||
			strings.Contains(page, "No known vulnerability") || strings.Contains(page, ">Allowed<") {
			t.Errorf("version page of %s without vulnerability data (%d):\n%s", v, code, page)
		}
	}
	code, body := getURL(t, mg.URL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "vulnerabilities.unknown blocks: vulnerability data: never synced") {
		t.Errorf("/readyz without vulnerability data = %d %q, want 503 with the reason", code, body)
	}
	if _, metrics := getURL(t, mg.URL+"/metrics"); !strings.Contains(metrics, "modgate_vulndb_sync_failures_total") {
		t.Errorf("/metrics lacks modgate_vulndb_sync_failures_total")
	}

	// The database comes back: the retry (1s, 2s, 4s, ... not the 1h
	// interval) syncs, and modgate becomes ready.
	reachable.Store(true)
	if !mg.waitLog("vulndb: synced", 60*time.Second) {
		t.Fatalf("no sync after the database came back (no retry with backoff?):\n%s", mg.Logs())
	}
	deadline := time.Now().Add(20 * time.Second) // the data's state is cached for 5s
	for {
		code, body = getURL(t, mg.URL+"/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after the sync = %d %q", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Logged with the wait before the retry (slog's JSON: nanoseconds).
	for _, want := range []string{`"msg":"vulndb: sync failed; keeping the last good copy"`, `"retry_in":1000000000`} {
		if !strings.Contains(mg.Logs(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
	_, metrics := getURL(t, mg.URL+"/metrics")
	if !strings.Contains(metrics, "modgate_vulndb_sync_failures_total ") || strings.Contains(metrics, "modgate_vulndb_sync_failures_total 0\n") {
		t.Errorf("/metrics does not count the failed syncs:\n%s", grepLines(metrics, "modgate_vulndb_sync"))
	}

	// With data: the clean version is served, the vulnerable one refused
	// with its 4 advisories, the version to use instead and the exemption.
	testkit.RunGo(t, app, env, false, "mod", "download", "golang.org/x/text@v0.39.0")
	out := testkit.RunGo(t, app, env, true, "mod", "download", "golang.org/x/text@v0.3.2")
	detail, lines := serverResponse(t, out)
	t.Logf("4 advisories: the go command shows %d bytes, %d lines:\n%s", len(detail), lines, detail)
	for _, want := range []string{
		"golang.org/x/text@v0.3.2: refused by modgate policy (vulnerabilities)",
		"- vulnerabilities: 4 advisories (GO-2020-0015, GO-2021-0113, GO-2022-1059, GO-2026-5970), highest fixed in v0.39.0",
		"Use golang.org/x/text@v0.39.0 instead: allowed by the current policy.",
		"modgate exempt add --module golang.org/x/text --versions v0.3.2 --rule vulnerabilities --reason ... --by ... --expires 30d",
		"All findings: " + mg.URL + "/ui/version/golang.org/x/text/@v/v0.3.2",
	} {
		if !strings.Contains(detail, want) {
			t.Errorf("the go command does not show %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[Truncated") || lines > 8 || len(detail) > 648 {
		t.Errorf("the refusal does not fit (%d bytes, %d lines):\n%s", len(detail), lines, out)
	}
	mg.stop(t)

	var unknownBlocked, served bool
	for _, r := range auditRecords(t, common...) {
		reasons := strings.Join(r.Reasons, " ")
		if r.Kind == "zip" && r.Version == "v0.3.2" && r.Decision == "blocked" && strings.Contains(reasons, "block vulnerabilities.unknown: vulnerability data: never synced") {
			unknownBlocked = true
		}
		if r.Kind == "zip" && r.Version == "v0.39.0" && r.Decision == "served" {
			served = true
		}
	}
	if !unknownBlocked || !served {
		t.Errorf("audit log: refusal for missing data with its reason %v, served after the sync %v", unknownBlocked, served)
	}
}

// TestEndToEndRefusalFits90: golang.org/toolchain at Go 1.21.0 has 90 real
// advisories (stdlib and toolchain); the go command shows the whole refusal,
// with the resolving command, not the first 4 advisories and "[Truncated".
func TestEndToEndRefusalFits90(t *testing.T) {
	const version = "v0.0.1-go1.21.0.linux-amd64"
	mod := testkit.Build(t, testkit.Module{Path: "golang.org/toolchain", Version: version,
		Files: map[string]string{"LICENSE": bsd3License, "README": "placeholder for the toolchain zip\n"}})
	up := testkit.NewUpstream(t, mod)
	// The go command checks golang.org/toolchain in a checksum database even
	// with GOSUMDB=off: a real one (x/mod/sumdb), passed through by modgate.
	sumdb := testkit.NewSumDB(t, "sum.modgate.test", mod)
	// testdata/vulndb holds every stdlib and toolchain entry of the snapshot.
	dbDir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "vulndb"))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	policyFile := filepath.Join(work, "policy.yaml")
	os.WriteFile(policyFile, []byte("vulnerabilities: block\n"), 0o644)
	data := t.TempDir()
	common := []string{"--data", data, "--vulndb", "file://" + dbDir, "--policy", policyFile}
	if out, code := runModgate(t, append([]string{"vulndb", "sync"}, common...)...); code != 0 {
		t.Fatalf("vulndb sync: exit %d\n%s", code, out)
	}
	mg := startModgate(t, append([]string{"--upstream", up.URL, "--sumdb", sumdb.Key + " " + sumdb.URL, "--vulndb-interval", "1h"}, common...)...)
	env := testkit.GoEnv(t, filepath.Join(work, "home"), mg.URL, "GOSUMDB="+sumdb.GOSUMDB())
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")

	out := testkit.RunGo(t, app, env, true, "mod", "download", "golang.org/toolchain@"+version)
	detail, lines := serverResponse(t, out)
	t.Logf("90 advisories: the go command shows %d bytes, %d lines:\n%s", len(detail), lines, detail)
	for _, want := range []string{
		"golang.org/toolchain@" + version + ": refused by modgate policy (vulnerabilities)",
		"- vulnerabilities: 90 advisories (GO-2023-2041, ",
		"more), highest fixed in go1.",
		"modgate exempt add --module golang.org/toolchain --versions " + version + " --rule vulnerabilities --reason ... --by ... --expires 30d",
		"All findings: " + mg.URL + "/ui/version/golang.org/toolchain/@v/" + version,
	} {
		if !strings.Contains(detail, want) {
			t.Errorf("the go command does not show %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[Truncated") || lines > 8 || len(detail) > 648 {
		t.Errorf("the refusal does not fit (%d bytes, %d lines):\n%s", len(detail), lines, out)
	}
	// The full list is in the decision API.
	_, api := getURL(t, mg.URL+"/api/decision/golang.org/toolchain/@v/"+version)
	if n := strings.Count(api, `"rule":"vulnerabilities"`); n != 90 {
		t.Errorf("decision API lists %d vulnerability findings, want 90", n)
	}
}

func getURL(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

const bsd3License = `Copyright 2009 The Go Authors.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are
met:

   * Redistributions of source code must retain the above copyright
notice, this list of conditions and the following disclaimer.
   * Redistributions in binary form must reproduce the above
copyright notice, this list of conditions and the following disclaimer
in the documentation and/or other materials provided with the
distribution.
   * Neither the name of Google LLC nor the names of its
contributors may be used to endorse or promote products derived from
this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS
"AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT
LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR
A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT
OWNER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT
LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY
THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
(INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
`
