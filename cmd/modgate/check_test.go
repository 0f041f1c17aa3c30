package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/modgate/modgate/internal/check"
	"github.com/modgate/modgate/internal/testkit"
)

// checkFixture is a project that requires golang.org/x/text v0.3.5 (affected
// by GO-2021-0113 and GO-2022-1059) and example.com/ok v1.0.0 (clean), with a
// go.sum of real hashes, and a vulnerability database with those advisories.
type checkFixture struct {
	dir    string // the project
	db     string // file:// URL of the vulnerability database
	mods   []*testkit.Built
	policy func(t *testing.T, yaml string) string
}

const checkMain = `package main

import (
	"fmt"

	"example.com/ok"
	"golang.org/x/text/language"
)

func main() { fmt.Println(language.Parse("en"), ok.OK) }
`

func newCheckFixture(t *testing.T) *checkFixture {
	t.Helper()
	text := testkit.Build(t, testkit.Module{Path: "golang.org/x/text", Version: "v0.3.5", Files: map[string]string{
		"go.mod": "module golang.org/x/text\n\ngo 1.21\n",
		"language/language.go": `package language

func Parse(s string) string { return s }

func ParseAcceptLanguage(s string) []string { return []string{s} }

func MatchStrings(s ...string) string { return "" }
`,
	}})
	ok := testkit.Build(t, testkit.Module{Path: "example.com/ok", Version: "v1.0.0",
		Files: map[string]string{"ok.go": "package ok\n\nconst OK = true\n"}})
	dir := t.TempDir()
	var sum strings.Builder
	for _, b := range []*testkit.Built{ok, text} {
		sum.WriteString(b.Path + " " + b.Version + " " + b.Hash + "\n")
		sum.WriteString(b.Path + " " + b.Version + "/go.mod " + b.ModSum + "\n")
	}
	writeCheckFile(t, filepath.Join(dir, "go.mod"), "module example.com/app\n\ngo 1.21\n\nrequire (\n\texample.com/ok v1.0.0\n\tgolang.org/x/text v0.3.5\n)\n")
	writeCheckFile(t, filepath.Join(dir, "go.sum"), sum.String())
	writeCheckFile(t, filepath.Join(dir, "main.go"), checkMain)

	dbDir := t.TempDir()
	var entries [][]byte
	for _, id := range []string{"GO-2021-0113", "GO-2022-1059"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "scanner", "testdata", "vulndb", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, data)
	}
	testkit.WriteVulnDB(t, dbDir, entries...)
	pdir := t.TempDir()
	return &checkFixture{
		dir:  dir,
		db:   (&url.URL{Scheme: "file", Path: filepath.ToSlash(dbDir)}).String(),
		mods: []*testkit.Built{text, ok},
		policy: func(t *testing.T, yaml string) string {
			f := filepath.Join(pdir, "policy.yaml")
			writeCheckFile(t, f, yaml)
			return f
		},
	}
}

func writeCheckFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// summaryOf is the part of a check result the tests compare.
type checkSummaryLine struct {
	Module, Version     string
	Blocked, WouldBlock bool
	Advisories          []string // with "#id" of the exemption waiving each
}

func summaryOf(out check.Result) []checkSummaryLine {
	var got []checkSummaryLine
	for _, d := range out.Modules {
		l := checkSummaryLine{Module: d.Module, Version: d.Version, Blocked: d.Blocked, WouldBlock: d.WouldBlock}
		for _, f := range d.Findings {
			a := f.Rule + ":" + f.Advisory + ":" + f.Action
			if f.Exemption != 0 {
				a += ":exempted"
			}
			l.Advisories = append(l.Advisories, a)
		}
		got = append(got, l)
	}
	return got
}

func TestCheckStore(t *testing.T) {
	fx := newCheckFixture(t)
	data := t.TempDir()
	modgate := modgateIn(t, data)
	block := fx.policy(t, "vulnerabilities: block\n")

	// Before any sync the missing data is decided like the proxy decides it:
	// blocking under a blocking policy, with the reason, and advice to sync.
	stdout, stderr, err := modgate("check", fx.dir, "--vulndb", fx.db, "--policy", block)
	if exitCode(err) != 1 || !strings.Contains(stdout, "BLOCK  example.com/ok@v1.0.0: vulnerabilities.unknown: vulnerability data: never synced") ||
		!strings.Contains(stderr, "modgate vulndb sync") {
		t.Errorf("check before any sync: %v (exit %d), want the missing data blocking every module and advice to sync\n%s%s", err, exitCode(err), stdout, stderr)
	}
	if _, stderr, err := modgate("vulndb", "sync", "--vulndb", fx.db); err != nil {
		t.Fatalf("vulndb sync: %v\n%s", err, stderr)
	}

	stdout, stderr, err = modgate("check", fx.dir, "--policy", block, "--vulndb", fx.db)
	if exitCode(err) != 1 {
		t.Fatalf("check with a blocking policy: %v (exit %d), want exit 1\n%s%s", err, exitCode(err), stdout, stderr)
	}
	for _, want := range []string{
		"BLOCK  golang.org/x/text@v0.3.5: vulnerabilities: GO-2021-0113 (CVE-2021-38561, GHSA-ppp9-7jff-5vj2): Out-of-bounds read in golang.org/x/text/language; fixed in v0.3.7\n",
		"BLOCK  golang.org/x/text@v0.3.5: vulnerabilities: GO-2022-1059",
		"2 modules checked: 1 blocked, 0 warned, 0 exempted; THE BUILD WOULD BE BLOCKED (policy " + block + " (enforce mode)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "example.com/ok") {
		t.Errorf("check output names the clean module:\n%s", stdout)
	}

	// The same from the go.sum alone, as JSON.
	stdout, _, err = modgate("check", filepath.Join(fx.dir, "go.sum"), "--policy", block, "--vulndb", fx.db, "--json")
	if exitCode(err) != 1 {
		t.Fatalf("check go.sum --json: %v, want exit 1", err)
	}
	var out check.Result
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("check --json output: %v\n%s", err, stdout)
	}
	want := []checkSummaryLine{
		{Module: "example.com/ok", Version: "v1.0.0"},
		{Module: "golang.org/x/text", Version: "v0.3.5", Blocked: true, WouldBlock: true,
			Advisories: []string{"vulnerabilities:GO-2021-0113:block", "vulnerabilities:GO-2022-1059:block"}},
	}
	if diff := cmp.Diff(want, summaryOf(out)); diff != "" {
		t.Errorf("check --json modules (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(check.Summary{Modules: 2, Blocked: 1, WouldBlock: 1}, out.Summary); diff != "" {
		t.Errorf("check --json summary (-want +got):\n%s", diff)
	}
	if !out.Blocked || out.Source != "store" || out.Mode != "enforce" || out.Project != "" || out.VulnDBModified == "" {
		t.Errorf("check --json = %+v", out)
	}
	if f := out.Modules[1].Findings[0]; f.Fixed != "v0.3.7" || f.Exemption != 0 || !strings.Contains(f.Reason, "CVE-2021-38561") {
		t.Errorf("GO-2021-0113 finding = %+v", f)
	}

	// Without a policy file nothing blocks; the findings are warnings.
	stdout, _, err = modgate("check", fx.dir, "--vulndb", fx.db)
	if err != nil || !strings.Contains(stdout, "WARN   golang.org/x/text@v0.3.5: vulnerabilities: GO-2021-0113") ||
		!strings.Contains(stdout, "0 blocked, 1 warned") {
		t.Errorf("check with the default policy: %v\n%s", err, stdout)
	}
	// Audit mode reports what enforce mode would block, and passes.
	stdout, _, err = modgate("check", fx.dir, "--vulndb", fx.db, "--policy", fx.policy(t, "mode: audit\nvulnerabilities: block\n"))
	if err != nil || !strings.Contains(stdout, "WARN   golang.org/x/text@v0.3.5: vulnerabilities: GO-2021-0113") ||
		!strings.Contains(stdout, "(audit mode: enforce would block)") {
		t.Errorf("check in audit mode: %v\n%s", err, stdout)
	}

	// An exemption lets the version through.
	if _, stderr, err := modgate("exempt", "add", "--module", "golang.org/x/text", "--versions", "v0.3.5",
		"--reason", "not reachable", "--by", "alice", "--expires", "1d"); err != nil {
		t.Fatalf("exempt add: %v\n%s", err, stderr)
	}
	stdout, _, err = modgate("check", fx.dir, "--policy", block, "--vulndb", fx.db)
	if err != nil {
		t.Fatalf("check with the version exempted: %v, want exit 0\n%s", err, stdout)
	}
	for _, want := range []string{
		"EXEMPT golang.org/x/text@v0.3.5: vulnerabilities: GO-2021-0113",
		"(block, waived by exemption 1)",
		"2 modules checked: 0 blocked, 0 warned, 1 exempted; the build would not be blocked",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check output with the exemption lacks %q:\n%s", want, stdout)
		}
	}
}

func TestCheckUsage(t *testing.T) {
	fx := newCheckFixture(t)
	modgate := modgateIn(t, t.TempDir())
	for name, args := range map[string][]string{
		"two projects":      {"check", fx.dir, fx.dir},
		"bad server":        {"check", fx.dir, "--server", "ftp://example.com"},
		"symbols stdin":     {"check", "-", "--symbols"},
		"unknown flag":      {"check", fx.dir, "--frob"},
		"symbols not a dir": {"check", filepath.Join(fx.dir, "main.go"), "--symbols"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := modgate(args...); exitCode(err) != 2 {
				t.Errorf("%q: %v (exit %d), want exit 2", args, err, exitCode(err))
			}
		})
	}
	if _, _, err := modgate("check", filepath.Join(fx.dir, "missing")); exitCode(err) != 1 {
		t.Errorf("check of a missing project: %v, want exit 1", err)
	}
}

// TestCheckServerAuth checks the client side of --server: the request, the
// Basic authentication from the URL and what a refusal says. The decisions
// themselves are checked against a real modgate in TestCheckServer.
func TestCheckServerAuth(t *testing.T) {
	fx := newCheckFixture(t)
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "s3cret" {
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		paths = append(paths, r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"module":"x","version":"y","blocked":false,"would_block":false,"findings":[]}`))
	}))
	defer srv.Close()
	modgate := modgateIn(t, t.TempDir())
	_, _, err := modgate("check", fx.dir, "--server", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "give credentials as --server https://user:token@host") {
		t.Errorf("check --server without credentials: %v", err)
	}
	u, _ := url.Parse(srv.URL)
	u.User = url.UserPassword("ci", "s3cret")
	stdout, _, err := modgate("check", fx.dir, "--server", u.String(), "--json")
	if err != nil {
		t.Fatalf("check --server with credentials: %v", err)
	}
	var out check.Result
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatal(err)
	}
	if out.Source != strings.Replace(srv.URL, "://", "://ci:xxxxx@", 1) || len(out.Modules) != 2 || out.Modules[1].Module != "golang.org/x/text" {
		t.Errorf("check --server --json = %+v", out)
	}
	if strings.Contains(stdout, "s3cret") {
		t.Errorf("the output shows the password:\n%s", stdout)
	}
}

// TestCheckServer asks a running modgate for its decisions.
func TestCheckServer(t *testing.T) {
	src, _ := os.ReadFile(filepath.Join("..", "..", "proxy", "server.go"))
	pol, _ := os.ReadFile(filepath.Join("..", "..", "proxy", "policy.go"))
	if !bytes.Contains(src, []byte("DecisionHandler")) && !bytes.Contains(pol, []byte("DecisionHandler")) {
		t.Skip("SKIP: proxy.Server.DecisionHandler (GET /api/decision/...) does not exist yet; modgate check --server needs it")
	}
	fx := newCheckFixture(t)
	block := fx.policy(t, "vulnerabilities: block\n")
	up := testkit.NewUpstream(t, fx.mods...)
	srv := startModgate(t, "--data", t.TempDir(), "--upstream", up.URL, "--sumdb", "off", "--vulndb", fx.db, "--policy", block)
	if !srv.waitLog("synced", 60*time.Second) {
		t.Fatalf("modgate did not sync the vulnerability database")
	}
	modgate := modgateIn(t, t.TempDir())
	stdout, stderr, err := modgate("check", fx.dir, "--server", srv.URL)
	if exitCode(err) != 1 || !strings.Contains(stdout, "BLOCK  golang.org/x/text@v0.3.5: vulnerabilities: GO-2021-0113") {
		t.Errorf("check --server: %v, want exit 1 naming GO-2021-0113\n%s%s", err, stdout, stderr)
	}
	stdout, _, _ = modgate("check", fx.dir, "--server", srv.URL, "--json")
	var out check.Result
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("check --server --json: %v\n%s", err, stdout)
	}
	want := []checkSummaryLine{
		{Module: "example.com/ok", Version: "v1.0.0"},
		{Module: "golang.org/x/text", Version: "v0.3.5", Blocked: true, WouldBlock: true,
			Advisories: []string{"vulnerabilities:GO-2021-0113:block", "vulnerabilities:GO-2022-1059:block"}},
	}
	if diff := cmp.Diff(want, summaryOf(out)); diff != "" {
		t.Errorf("check --server --json modules (-want +got):\n%s", diff)
	}

	// check agrees with what the go command gets through the same modgate:
	// the clean module downloads, the blocked one is refused with the reason.
	env := testkit.GoEnv(t, t.TempDir(), srv.URL, "GOSUMDB=off")
	testkit.RunGo(t, fx.dir, env, false, "mod", "download", "example.com/ok")
	got := testkit.RunGo(t, fx.dir, env, true, "mod", "download", "golang.org/x/text")
	if !strings.Contains(got, "403") || !strings.Contains(got, "GO-2021-0113") {
		t.Errorf("go mod download golang.org/x/text through modgate: want a 403 naming GO-2021-0113:\n%s", got)
	}
}

// TestCheckSymbols runs the symbol analysis in a modgate process whose go
// command loads the project's dependencies from a local upstream.
func TestCheckSymbols(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds modgate and loads packages with the go command")
	}
	fx := newCheckFixture(t)
	up := testkit.NewUpstream(t, fx.mods...)
	data := t.TempDir()
	env := testkit.GoEnv(t, t.TempDir(), up.URL, "GOSUMDB=off", "MODGATE_DATA="+data)
	bin := modgateBinary(t)
	runBin := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	if _, stderr, err := runBin("vulndb", "sync", "--vulndb", fx.db); err != nil {
		t.Fatalf("vulndb sync: %v\n%s", err, stderr)
	}
	stdout, stderr, err := runBin("check", fx.dir, "--vulndb", fx.db, "--symbols", "--json")
	if err != nil {
		t.Fatalf("check --symbols: %v\n%s%s", err, stdout, stderr)
	}
	var out check.Result
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("check --symbols --json: %v\n%s", err, stdout)
	}
	want := []check.Symbol{
		{ID: "GO-2021-0113", Aliases: []string{"CVE-2021-38561", "GHSA-ppp9-7jff-5vj2"}, Summary: "Out-of-bounds read in golang.org/x/text/language",
			Module: "golang.org/x/text", Version: "v0.3.5", Fixed: "v0.3.7", Level: "called", Calls: []string{"golang.org/x/text/language.Parse"}},
		{ID: "GO-2022-1059", Aliases: []string{"CVE-2022-32149", "GHSA-69ch-w2m2-3vjp"}, Summary: "Denial of service via crafted Accept-Language header in golang.org/x/text/language",
			Module: "golang.org/x/text", Version: "v0.3.5", Fixed: "v0.3.8", Level: "imported"},
	}
	if diff := cmp.Diff(want, out.Symbols); diff != "" {
		t.Errorf("check --symbols (-want +got):\n%s", diff)
	}
	stdout, _, err = runBin("check", fx.dir, "--vulndb", fx.db, "--symbols")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"CALLED   GO-2021-0113 golang.org/x/text@v0.3.5 (fixed in v0.3.7): your code calls golang.org/x/text/language.Parse",
		"IMPORTED GO-2022-1059 golang.org/x/text@v0.3.5 (fixed in v0.3.8)",
		"1 of 2 vulnerabilities reached by your code",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("check --symbols output lacks %q:\n%s", w, stdout)
		}
	}

	// With --server, the packages are loaded through that modgate (in audit
	// mode here: in enforce mode the blocked zip could not be fetched) and
	// checked against its /vulndb.
	srv := startModgate(t, "--data", t.TempDir(), "--upstream", up.URL, "--sumdb", "off", "--vulndb", fx.db,
		"--policy", fx.policy(t, "mode: audit\nvulnerabilities: block\n"))
	if !srv.waitLog("synced", 60*time.Second) {
		t.Fatalf("modgate did not sync the vulnerability database")
	}
	env = testkit.GoEnv(t, t.TempDir(), "off", "GOSUMDB=off") // a fresh module cache; GOPROXY comes from --server
	const zipPath = "/golang.org/x/text/@v/v0.3.5.zip"
	zipsBefore := up.Requests(zipPath)
	stdout, stderr, err = runBin("check", fx.dir, "--server", srv.URL, "--symbols", "--json")
	if err != nil {
		t.Fatalf("check --server --symbols: %v\n%s%s", err, stdout, stderr)
	}
	out = check.Result{}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("check --server --symbols --json: %v\n%s", err, stdout)
	}
	if diff := cmp.Diff(want, out.Symbols); diff != "" {
		t.Errorf("check --server --symbols (-want +got):\n%s", diff)
	}
	if out.Blocked || out.Summary.WouldBlock != 1 {
		t.Errorf("check --server in audit mode: blocked %v, summary %+v", out.Blocked, out.Summary)
	}
	if n := up.Requests(zipPath) - zipsBefore; n != 1 {
		t.Errorf("the zip was fetched from the upstream %d times through modgate, want once (for the go command)", n)
	}
}

// TestCheckMalwareFeedUnsynced: a configured malware feed that never synced
// blocks every module in `modgate check` as it does in the proxy
// (malware.unknown, blocking by default), naming the feed and the last
// error; once the feed syncs, the check passes.
func TestCheckMalwareFeedUnsynced(t *testing.T) {
	fx := newCheckFixture(t)
	modgate := modgateIn(t, t.TempDir())
	if _, stderr, err := modgate("vulndb", "sync", "--vulndb", fx.db); err != nil {
		t.Fatalf("vulndb sync: %v\n%s", err, stderr)
	}
	feedDir := filepath.Join(t.TempDir(), "feed")
	feed := "file://" + filepath.ToSlash(feedDir)

	stdout, stderr, err := modgate("check", fx.dir, "--vulndb", fx.db, "--advisories", feed)
	if exitCode(err) != 1 || !strings.Contains(stdout, "BLOCK  example.com/ok@v1.0.0: malware.unknown: malware feed "+feed+": never synced (no attempt yet)") ||
		!strings.Contains(stderr, "--advisories") {
		t.Errorf("check before the feed's first sync: %v (exit %d), want every module blocked and advice to sync\n%s%s", err, exitCode(err), stdout, stderr)
	}
	if _, _, err := modgate("vulndb", "sync", "--vulndb", fx.db, "--advisories", feed); err == nil {
		t.Fatal("vulndb sync of a missing feed directory succeeded")
	}
	stdout, _, err = modgate("check", fx.dir, "--vulndb", fx.db, "--advisories", feed)
	if exitCode(err) != 1 || !strings.Contains(stdout, "malware.unknown: malware feed "+feed+": never synced (last attempt ") {
		t.Errorf("check after a failed feed sync: %v (exit %d)\n%s", err, exitCode(err), stdout)
	}

	// The real records arrive.
	src := filepath.Join("..", "..", "testdata", "malware", "osv", "malicious", "go", "gocommunity.io", "orderedbtree")
	rec, err := os.ReadFile(filepath.Join(src, "MAL-2026-17453.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(feedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(feedDir, "MAL-2026-17453.json"), rec, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := modgate("vulndb", "sync", "--vulndb", fx.db, "--advisories", feed); err != nil {
		t.Fatalf("vulndb sync with the feed: %v\n%s", err, stderr)
	}
	stdout, stderr, err = modgate("check", fx.dir, "--vulndb", fx.db, "--advisories", feed)
	if err != nil || strings.Contains(stdout, "malware.unknown") || strings.Contains(stderr, "malware") {
		t.Errorf("check after the feed synced: %v\n%s%s", err, stdout, stderr)
	}
}
