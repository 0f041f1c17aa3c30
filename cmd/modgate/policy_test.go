package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	dir := t.TempDir()
	modgate := modgateIn(t, dir)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("mode: audit\nvulnerabilities: block\nmin_age: {age: 72h, except: [golang.org/toolchain]}\n"), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("mode: audit\nvulnerabilities:\n  action: blok\n"), 0o644)

	out, _, err := modgate("policy", "check", good)
	if err != nil {
		t.Fatalf("policy check of a good file: %v", err)
	}
	for _, want := range []string{good + ": mode audit", "vulnerabilities: block (unreviewed: block)", "min_age: 72h (block, 1 exceptions)"} {
		if !strings.Contains(out, want) {
			t.Errorf("policy check printed no %q:\n%s", want, out)
		}
	}
	_, _, err = modgate("policy", "check", bad)
	if want := bad + `:3: vulnerabilities.action: "blok" is not an action: want block, warn or off`; err == nil || err.Error() != want {
		t.Errorf("policy check of a bad file: %v, want %q", err, want)
	}
	if err != nil && exitCode(err) != 1 {
		t.Errorf("exit code %d, want 1", exitCode(err))
	}
	if _, _, err := modgate("policy", "check", filepath.Join(dir, "missing.yaml")); err == nil {
		t.Errorf("policy check of a missing file succeeded")
	}
	if _, _, err := modgate("policy", "check"); err == nil || exitCode(err) != 2 {
		t.Errorf("policy check without a file: %v, want a usage error", err)
	}

	// --policy is validated before any command runs: a bad file stops serve
	// at start with the file's error.
	_, _, err = modgate("migrate", "--policy", bad)
	if err == nil || !strings.Contains(err.Error(), "--policy: "+bad+":3: vulnerabilities.action") {
		t.Errorf("a bad --policy: %v, want the file's error", err)
	}
	if _, _, err := modgate("migrate", "--policy", good); err != nil {
		t.Errorf("a good --policy: %v", err)
	}
}

func TestPolicyReload(t *testing.T) {
	var calls []string
	ok := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls = append(calls, r.Method+" "+r.URL.Path)
		if !ok {
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte("reload refused; the old policy stays in force:\npolicy.yaml:3: bad\n"))
			return
		}
		w.Write([]byte("policy reloaded\nsource: policy.yaml\n"))
	}))
	defer srv.Close()
	modgate := modgateIn(t, t.TempDir())

	out, _, err := modgate("policy", "reload", "--server", srv.URL+"/")
	if err != nil || out != "policy reloaded\nsource: policy.yaml\n" {
		t.Errorf("policy reload = %q, %v", out, err)
	}
	ok = false
	_, _, err = modgate("policy", "reload", "--listen", strings.TrimPrefix(srv.URL, "http://"))
	if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "policy.yaml:3: bad") {
		t.Errorf("refused reload: %v, want the server's answer", err)
	}
	if want := []string{"POST /api/policy/reload", "POST /api/policy/reload"}; strings.Join(calls, ";") != strings.Join(want, ";") {
		t.Errorf("requests %q, want %q", calls, want)
	}
}
