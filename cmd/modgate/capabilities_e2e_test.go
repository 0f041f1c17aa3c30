package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// TestEndToEndCapabilities is issue 13's fixture through the real go
// command, without a policy file: example.test/decimal v1.0.1 adds an init
// function that looks up a DNS TXT record and runs it. Asked for first (cold:
// modgate fetches v1.0.0 to compare with), it is refused with the
// capabilities, file:line, package and the version compared with in go's
// output; v1.0.0 and v1.0.2 are served; an exemption admits v1.0.1.
func TestEndToEndCapabilities(t *testing.T) {
	up := testkit.NewUpstream(t, testkit.Decimal(t)...)
	work, data := t.TempDir(), t.TempDir()
	common := []string{"--data", data, "--vulndb", "off"}
	mg := startModgate(t, append([]string{"--upstream", up.URL, "--sumdb", "off"}, common...)...)
	env := testkit.GoEnv(t, filepath.Join(work, "home"), mg.URL, "GOSUMDB=off")
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")

	out := testkit.RunGo(t, app, env, true, "mod", "download", "example.test/decimal@v1.0.1")
	detail, lines := serverResponse(t, out)
	t.Logf("go mod download shows %d bytes, %d lines:\n%s", len(detail), lines, detail)
	l := testkit.DecimalLines
	for _, want := range []string{"403 Forbidden",
		"example.test/decimal@v1.0.1: refused by modgate policy (capabilities.in_init)",
		fmt.Sprintf("- capabilities.in_init: EXEC at decimal.go:%d, NETWORK at decimal.go:%d in example.test/decimal, run from init (init → poll); not in v1.0.0", l.Exec, l.Network),
		"--rule capabilities.in_init",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("go mod download example.test/decimal@v1.0.1: output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[Truncated") || lines > 8 || len(detail) > 648 {
		t.Errorf("the refusal does not fit (%d bytes, %d lines):\n%s", len(detail), lines, out)
	}
	if n := up.Requests("/example.test/decimal/@v/v1.0.0.zip"); n != 1 {
		t.Errorf("v1.0.0's zip fetched %d times to compare with, want 1", n)
	}
	testkit.RunGo(t, app, env, false, "mod", "download", "example.test/decimal@v1.0.0", "example.test/decimal@v1.0.2")
	if n := up.Requests("/example.test/decimal/@v/v1.0.0.zip"); n != 1 {
		t.Errorf("v1.0.0's zip fetched %d times, want 1 (the comparison stored it)", n)
	}

	if out, code := runModgate(t, append([]string{"exempt", "add", "--module", "example.test/decimal", "--versions", "v1.0.1",
		"--rule", "capabilities", "--reason", "reviewed: e2e", "--by", "security", "--expires", "1d"}, common...)...); code != 0 {
		t.Fatalf("exempt add: exit %d\n%s", code, out)
	}
	deadline := time.Now().Add(20 * time.Second) // decisions are reused for a few seconds
	for {
		out, err := runGoErr(app, env, "mod", "download", "example.test/decimal@v1.0.1")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exempted version is still refused:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// modgate check --base: a pull request that bumps decimal from v1.0.0
	// to v1.0.1 is told what the bump adds, from the server and from the
	// store.
	vs := testkit.Decimal(t)
	sum := func(b *testkit.Built) string {
		return fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", b.Path, b.Version, b.Hash, b.Path, b.Version, b.ModSum)
	}
	baseSum, newSum := filepath.Join(work, "base.sum"), filepath.Join(work, "new.sum")
	os.WriteFile(baseSum, []byte(sum(vs[0])), 0o644)
	os.WriteFile(newSum, []byte(sum(vs[1])), 0o644)
	want := fmt.Sprintf("example.test/decimal v1.0.1 adds EXEC in init (decimal.go:%d), NETWORK in init (decimal.go:%d) (compared with v1.0.0)", l.Exec, l.Network)
	out, code := runModgate(t, "check", newSum, "--base", baseSum, "--server", mg.URL)
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("check --base --server: exit %d, output lacks %q:\n%s", code, want, out)
	}
	mg.stop(t)
	out, code = runModgate(t, append([]string{"check", newSum, "--base", baseSum}, common...)...)
	if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "exempted") {
		t.Errorf("check --base from the store: exit %d, output lacks %q (or the exemption):\n%s", code, want, out)
	}
}
