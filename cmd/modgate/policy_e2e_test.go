package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// TestEndToEndPolicy drives the real go command against a modgate that
// enforces a policy on real vulnerability data.
func TestEndToEndPolicy(t *testing.T) {
	var mods []*testkit.Built
	for _, v := range []string{"v0.3.5", "v0.3.8"} {
		mods = append(mods, testkit.Build(t, testkit.Module{Path: "golang.org/x/text", Version: v,
			Files: map[string]string{"language/language.go": "package language\n\nconst Version = \"" + v + "\"\n"}}))
	}
	for _, v := range []string{"v1.0.0", "v1.1.0"} {
		mods = append(mods, testkit.Build(t, testkit.Module{Path: "example.com/lib", Version: v,
			Files: map[string]string{"lib.go": "package lib\n"}}))
	}
	up := testkit.NewUpstream(t, mods...)
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
	work := t.TempDir()
	policyFile := filepath.Join(work, "policy.yaml")
	os.WriteFile(policyFile, []byte("mode: enforce\nhide_blocked: true\nvulnerabilities:\n  action: block\nmodules:\n  deny: [\"example.com/lib@v1.1.0\"]\n"), 0o644)
	data := t.TempDir()
	common := []string{"--data", data, "--vulndb", "file://" + dbDir, "--policy", policyFile}
	if out, code := runModgate(t, append([]string{"vulndb", "sync"}, common...)...); code != 0 {
		t.Fatalf("vulndb sync: exit %d\n%s", code, out)
	}
	mg := startModgate(t, append([]string{"--upstream", up.URL, "--sumdb", "off", "--vulndb-interval", "1h"}, common...)...)
	env := testkit.GoEnv(t, filepath.Join(work, "home"), mg.URL, "GOSUMDB=off")
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")

	// The vulnerable version is refused, with the reason in the go command's output.
	out := testkit.RunGo(t, app, env, true, "mod", "download", "golang.org/x/text@v0.3.5")
	for _, want := range []string{"403 Forbidden", "refused by modgate policy (vulnerabilities)", "GO-2021-0113",
		"No version of golang.org/x/text known to modgate is allowed"} {
		if !strings.Contains(out, want) {
			t.Errorf("go mod download of a vulnerable version: output lacks %q:\n%s", want, out)
		}
	}
	// The fixed version works, and is offered instead once its facts are
	// known; @latest skips the denied newest version.
	testkit.RunGo(t, app, env, false, "mod", "download", "golang.org/x/text@v0.3.8")
	if out := testkit.RunGo(t, app, env, true, "mod", "download", "golang.org/x/text@v0.3.5"); !strings.Contains(out, "Use golang.org/x/text@v0.3.8 instead") {
		t.Errorf("go mod download of a vulnerable version, the fixed one ingested: output lacks the version to use:\n%s", out)
	}
	testkit.RunGo(t, app, env, false, "get", "example.com/lib@latest")
	if gm, _ := os.ReadFile(filepath.Join(app, "go.mod")); !strings.Contains(string(gm), "example.com/lib v1.0.0") {
		t.Errorf("go get @latest with v1.1.0 denied wrote:\n%s", gm)
	}

	// An exemption lets the vulnerable version through (decisions are reused
	// for a few seconds, so poll).
	if out, code := runModgate(t, append([]string{"exempt", "add", "--module", "golang.org/x/text", "--versions", "v0.3.5",
		"--rule", "vulnerabilities", "--reason", "e2e", "--by", "security", "--expires", "1d"}, common...)...); code != 0 {
		t.Fatalf("exempt add: exit %d\n%s", code, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := runGoErr(app, env, "mod", "download", "golang.org/x/text@v0.3.5")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exempted version is still refused:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Audit mode (reloaded with SIGHUP) serves the denied version and records it.
	os.WriteFile(policyFile, []byte("mode: audit\nmodules:\n  deny: [\"example.com/lib@v1.1.0\"]\n"), 0o644)
	mg.cmd.Process.Signal(syscall.SIGHUP)
	if !mg.waitLog("policy reloaded", 10*time.Second) {
		t.Fatalf("no reload after SIGHUP")
	}
	testkit.RunGo(t, app, env, false, "mod", "download", "example.com/lib@v1.1.0")
	// A bad file at reload is refused; the old policy stays.
	os.WriteFile(policyFile, []byte("mode: sometimes\n"), 0o644)
	mg.cmd.Process.Signal(syscall.SIGHUP)
	if !mg.waitLog("policy reload refused", 10*time.Second) {
		t.Errorf("a bad policy file at reload was not refused")
	}
	testkit.RunGo(t, app, env, false, "mod", "download", "example.com/lib@v1.1.0")
	mg.stop(t)

	// A bad policy file at start stops the server with the error.
	if out, code := runModgate(t, append([]string{"serve", "--listen", "127.0.0.1:0"}, common...)...); code == 0 || !strings.Contains(out, "policy.yaml:1") {
		t.Errorf("serve with a bad policy file: exit %d\n%s", code, out)
	}
	os.WriteFile(policyFile, []byte("mode: audit\n"), 0o644)

	var auditServed, blocked bool
	for _, r := range auditRecords(t, common...) {
		reasons := strings.Join(r.Reasons, " ")
		if r.Type == "fetch" && r.Kind == "zip" && r.Module == "example.com/lib" && r.Version == "v1.1.0" && r.Decision == "served" && strings.Contains(reasons, "modules.deny") {
			auditServed = true
		}
		if r.Type == "fetch" && r.Kind == "zip" && r.Module == "golang.org/x/text" && r.Decision == "blocked" && strings.Contains(reasons, "GO-2021-0113") {
			blocked = true
		}
	}
	if !auditServed || !blocked {
		t.Errorf("audit log: audit-mode serve recorded %v, vulnerable block recorded %v", auditServed, blocked)
	}

}

// runGoErr runs the go command and returns its output and error.
func runGoErr(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	return string(out), err
}
