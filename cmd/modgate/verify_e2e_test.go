package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

// runModgate runs a modgate subcommand and returns its output and exit code.
func runModgate(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(modgateBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func writeApp(t *testing.T, dir, gomod string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEndToEndVerification drives the real go command through modgate with
// GOSUMDB set to a test checksum database whose requests go through modgate.
func TestEndToEndVerification(t *testing.T) {
	good := testkit.Build(t, testkit.Module{Path: "example.com/good", Version: "v1.0.0", Files: map[string]string{"g.go": "package good\n"}})
	realZip := testkit.Build(t, testkit.Module{Path: "example.com/zipped", Version: "v1.0.0", Files: map[string]string{"z.go": "package zipped\n"}})
	tamperedZip := testkit.Build(t, testkit.Module{Path: "example.com/zipped", Version: "v1.0.0", Files: map[string]string{"z.go": "package zipped\n\nfunc init() { println(\"pwned\") }\n"}})
	realMod := testkit.Build(t, testkit.Module{Path: "example.com/modded", Version: "v1.0.0", Files: map[string]string{"m.go": "package modded\n"}})
	tamperedMod := testkit.Build(t, testkit.Module{Path: "example.com/modded", Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module example.com/modded\n\nrequire example.com/evil v1.6.6\n", "m.go": "package modded\n"}})
	late := testkit.Build(t, testkit.Module{Path: "example.com/late", Version: "v1.0.0", Files: map[string]string{"l.go": "package late\n"}})
	private := testkit.Build(t, testkit.Module{Path: "corp.example.com/secret", Version: "v1.0.0", Files: map[string]string{"s.go": "package secret\n"}})
	privateOther := testkit.Build(t, testkit.Module{Path: "corp.example.com/secret", Version: "v1.0.0", Files: map[string]string{"s.go": "package secret // other\n"}})

	skey, vkey := testkit.NewSumDBKey(t, "sum.modgate.test")
	db := testkit.NewSumDBSigned(t, skey, vkey, good, realZip, realMod, late)
	fork := testkit.NewSumDBSigned(t, skey, vkey, good, realZip, realMod, late)
	sw := testkit.NewSwitch(t, db.URL)
	up := testkit.NewUpstream(t, good, tamperedZip, tamperedMod, late)
	privUp := testkit.NewUpstream(t, privateOther)

	// A go.sum from the team that knows the real private module.
	work := t.TempDir()
	gosum := filepath.Join(work, "team.go.sum")
	os.WriteFile(gosum, []byte("corp.example.com/secret v1.0.0 "+private.Hash+"\n"), 0o644)
	data := t.TempDir()
	common := []string{"--data", data, "--sumdb", vkey + " " + sw.URL}
	if out, code := runModgate(t, append([]string{"checksum", "import", gosum}, common...)...); code != 0 || !strings.Contains(out, "imported 1 hashes") {
		t.Fatalf("checksum import: exit %d\n%s", code, out)
	}
	args := append([]string{"--upstream", up.URL, "--private", "corp.example.com", "--private-upstream", privUp.URL}, common...)
	mg := startModgate(t, args...)

	env := testkit.GoEnv(t, filepath.Join(work, "home"), mg.URL, "GOSUMDB="+vkey, "GONOSUMDB=corp.example.com")
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")

	// A clean fetch works.
	testkit.RunGo(t, app, env, false, "mod", "download", "example.com/good@v1.0.0")

	// A tampered zip and a tampered .mod are refused, with modgate's message.
	for _, tc := range []struct{ mod, want string }{
		{"example.com/zipped@v1.0.0", realZip.Hash},
		{"example.com/modded@v1.0.0", realMod.ModSum},
	} {
		out := testkit.RunGo(t, app, env, true, "mod", "download", tc.mod)
		for _, want := range []string{"403 Forbidden", "checksum mismatch", tc.want} {
			if !strings.Contains(out, want) {
				t.Errorf("go mod download %s: output lacks %q:\n%s", tc.mod, want, out)
			}
		}
	}

	// The private module's upstream serves content that differs from the
	// imported go.sum: refused on its first fetch.
	out := testkit.RunGo(t, app, env, true, "mod", "download", "corp.example.com/secret@v1.0.0")
	if !strings.Contains(out, "checksum mismatch") || !strings.Contains(out, "team.go.sum") {
		t.Errorf("private module differing from the imported go.sum:\n%s", out)
	}
	if db.Lookups("corp.example.com/secret", "v1.0.0") != 0 {
		t.Errorf("the private module was looked up in the checksum database")
	}

	// The audit table has the refusals.
	if out, code := runModgate(t, append([]string{"checksum", "list", "corp.example.com"}, common...)...); code != 0 || !strings.Contains(out, private.Hash) {
		t.Errorf("checksum list: exit %d\n%s", code, out)
	}

	// A blob changed on disk is found by checksum verify.
	if out, code := runModgate(t, append([]string{"checksum", "verify"}, common...)...); code != 0 || !strings.Contains(out, "0 bad") {
		t.Fatalf("checksum verify of an untouched store: exit %d\n%s", code, out)
	}
	blobs, _ := filepath.Glob(filepath.Join(data, "blobs", "??", "*"))
	if len(blobs) != 1 {
		t.Fatalf("want one stored zip, found %v", blobs)
	}
	orig, _ := os.ReadFile(blobs[0])
	os.WriteFile(blobs[0], tamperedZip.Zip, 0o644)
	if out, code := runModgate(t, append([]string{"checksum", "verify"}, common...)...); code != 1 || !strings.Contains(out, "BAD example.com/good v1.0.0 .zip") {
		t.Errorf("checksum verify after tampering: exit %d\n%s", code, out)
	}
	os.WriteFile(blobs[0], orig, 0o644)

	// A pin edited in the database behind modgate's back is found against
	// the audit chain: here the imported private hash, which would make
	// the tampered private zip servable.
	raw := rawDB(t, data)
	if _, err := raw.Exec(`UPDATE checksums SET hash = ? WHERE module_path = 'corp.example.com/secret'`, privateOther.Hash); err != nil {
		t.Fatal(err)
	}
	if out, code := runModgate(t, append([]string{"checksum", "verify"}, common...)...); code != 1 ||
		!strings.Contains(out, "BAD PIN corp.example.com/secret v1.0.0: pinned "+privateOther.Hash+", but audit record") ||
		!strings.Contains(out, "pinned "+private.Hash+": the pin was changed behind modgate's back") {
		t.Errorf("checksum verify after a pin was edited: exit %d\n%s", code, out)
	}
	// ... and the edited pin vouches for nothing: the tampered private zip
	// it names is still refused.
	out = testkit.RunGo(t, app, env, true, "mod", "download", "corp.example.com/secret@v1.0.0")
	if !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, "recorded checksum cannot be trusted") {
		t.Errorf("private module whose pin was edited to its tampered bytes:\n%s", out)
	}
	if _, err := raw.Exec(`UPDATE checksums SET hash = ? WHERE module_path = 'corp.example.com/secret'`, private.Hash); err != nil {
		t.Fatal(err)
	}
	// No --audit-key: a key was made in --data, readable by its owner only,
	// and only its verifier key was logged.
	if fi, err := os.Stat(filepath.Join(data, "audit-checkpoint.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("generated audit key: %v %v, want mode 0600", err, fi)
	}
	if logs := mg.Logs(); !strings.Contains(logs, `"verifier_key":"modgate-audit+`) || strings.Contains(logs, "PRIVATE+KEY") {
		t.Errorf("the log should name the verifier key and never the signer key")
	}

	// A forked checksum database is detected after a restart: the fork signs a
	// log whose first record differs from the one modgate verified.
	mg.stop(t)
	if _, err := http.Get(fork.URL + "/lookup/example.com/late@v1.0.0"); err != nil {
		t.Fatal(err)
	}
	sw.Set(fork.URL)
	mg2 := startModgate(t, args...)
	env2 := testkit.GoEnv(t, filepath.Join(work, "home2"), mg2.URL, "GOSUMDB=off", "GONOSUMDB=corp.example.com")
	out = testkit.RunGo(t, app, env2, true, "mod", "download", "example.com/late@v1.0.0")
	if !strings.Contains(out, "misbehaving") {
		t.Errorf("download after the checksum database forked:\n%s", out)
	}
	if !mg2.waitLog("SECURITY", 10*time.Second) {
		t.Errorf("modgate did not log the security error")
	}
	resp, err := http.Get(mg2.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "misbehaving") {
		t.Errorf("/readyz after a security error = %d %s", resp.StatusCode, body)
	}
	// What was verified before is still served.
	testkit.RunGo(t, app, env2, false, "mod", "download", "example.com/good@v1.0.0")
	mg2.stop(t)

	// The fork is remembered across a restart, even with the honest
	// database back: /readyz is 503 at once and uncached artifacts are
	// refused, until an operator clears it.
	sw.Set(db.URL)
	mg3 := startModgate(t, args...)
	ready := func() (int, string) {
		resp, err := http.Get(mg3.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, "misbehaving") {
		t.Errorf("/readyz right after a restart with a recorded fork = %d %s", code, body)
	}
	env3 := testkit.GoEnv(t, filepath.Join(work, "home3"), mg3.URL, "GOSUMDB=off", "GONOSUMDB=corp.example.com")
	if out := testkit.RunGo(t, app, env3, true, "mod", "download", "example.com/late@v1.0.0"); !strings.Contains(out, "misbehaving") {
		t.Errorf("download after a restart with a recorded fork:\n%s", out)
	}
	if out, code := runModgate(t, append([]string{"checksum", "reset-fork"}, common...)...); code != 0 || !strings.Contains(out, "cleared the misbehaviour of checksum database sum.modgate.test") {
		t.Fatalf("checksum reset-fork: exit %d\n%s", code, out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, _ := ready(); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still not ready after the fork was cleared")
		}
	}
	testkit.RunGo(t, app, env3, false, "mod", "download", "example.com/late@v1.0.0")
	mg3.stop(t)
	if out, code := runModgate(t, append([]string{"checksum", "reset-fork"}, common...)...); code != 0 || !strings.Contains(out, "no misbehaviour") {
		t.Errorf("checksum reset-fork with nothing recorded: exit %d\n%s", code, out)
	}

	// The refusals and the security error are in the audit log.
	var blocked, security, resets []string
	for _, r := range auditRecords(t, common...) {
		switch {
		case r.Type == "admin" && r.Decision == "checksum.reset-fork":
			resets = append(resets, strings.Join(r.Reasons, " "))
		case r.Type == "checksum" && r.Decision == "blocked":
			blocked = append(blocked, r.Module+" "+r.Kind)
		case r.Type == "security":
			security = append(security, strings.Join(r.Reasons, " "))
		}
	}
	if !slices.Contains(blocked, "example.com/zipped zip") || !slices.Contains(blocked, "example.com/modded mod") ||
		!slices.Contains(blocked, "corp.example.com/secret zip") {
		t.Errorf("blocked checksum records: %q", blocked)
	}
	// The edited pin's refusal, then the fork.
	if len(security) != 2 || !strings.Contains(security[0], "recorded checksum cannot be trusted") ||
		!strings.Contains(security[0], "the pin was changed behind modgate's back") || !strings.Contains(security[1], "sum.modgate.test") {
		t.Errorf("security records: %q", security)
	}
	if len(resets) != 1 || !strings.Contains(resets[0], "recorded misbehaviour cleared by") {
		t.Errorf("reset-fork records: %q", resets)
	}
}

// TestEndToEndUnreadablePin: checksum rows edited behind modgate's back into
// something the store could not have written (a created_at that does not
// parse, a hash that is not base64) are refused with a 403 in modgate's words
// and a security audit record, never a 500; checksum verify reports each and
// goes on to every other pin and artifact.
func TestEndToEndUnreadablePin(t *testing.T) {
	imported := testkit.Build(t, testkit.Module{Path: "corp.example.com/imported", Version: "v1.0.0", Files: map[string]string{"i.go": "package imported\n"}})
	cached := testkit.Build(t, testkit.Module{Path: "corp.example.com/cached", Version: "v1.0.0", Files: map[string]string{"c.go": "package cached\n"}})
	fine := testkit.Build(t, testkit.Module{Path: "corp.example.com/fine", Version: "v1.0.0", Files: map[string]string{"f.go": "package fine\n"}})
	privUp := testkit.NewUpstream(t, imported, cached, fine)

	work := t.TempDir()
	data := t.TempDir()
	common := []string{"--data", data, "--sumdb", "off"}
	gosum := filepath.Join(work, "team.go.sum")
	os.WriteFile(gosum, []byte("corp.example.com/imported v1.0.0 "+imported.Hash+"\n"), 0o644)
	if out, code := runModgate(t, append([]string{"checksum", "import", gosum}, common...)...); code != 0 {
		t.Fatalf("checksum import: exit %d\n%s", code, out)
	}
	args := append([]string{"--upstream", "off", "--private", "corp.example.com", "--private-upstream", privUp.URL}, common...)
	mg := startModgate(t, args...)
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")
	env := func(home string) []string {
		return testkit.GoEnv(t, filepath.Join(work, home), mg.URL, "GOSUMDB=off", "GONOSUMDB=corp.example.com")
	}
	testkit.RunGo(t, app, env("home1"), false, "mod", "download", "corp.example.com/cached@v1.0.0", "corp.example.com/fine@v1.0.0")

	raw := rawDB(t, data)
	for _, q := range []string{
		`UPDATE checksums SET created_at = 'garbage' WHERE module_path = 'corp.example.com/imported' AND kind = 'zip'`,
		`UPDATE checksums SET hash = 'h1:<not base64>' WHERE module_path = 'corp.example.com/cached' AND kind = 'mod'`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// A restart: nothing of the cached module is in memory any more.
	mg.stop(t)
	mg = startModgate(t, args...)

	// The imported pin is read when the zip is first fetched; the cached
	// module's .mod pin when its stored .mod is served.
	for _, tc := range []struct{ mod, what string }{
		{"corp.example.com/imported@v1.0.0", "created_at: "},
		{"corp.example.com/cached@v1.0.0", `invalid hash "h1:<not base64>"`},
	} {
		out := testkit.RunGo(t, app, env("home-"+tc.mod[len("corp.example.com/"):len(tc.mod)-len("@v1.0.0")]), true, "mod", "download", tc.mod)
		for _, want := range []string{"403 Forbidden",
			"modgate's recorded checksum for " + tc.mod + " cannot be read: the checksum store was edited behind modgate's back; " + tc.what} {
			if !strings.Contains(out, want) {
				t.Errorf("go mod download %s with its pin row edited: output lacks %q:\n%s", tc.mod, want, out)
			}
		}
		if strings.Contains(out, "500") || strings.Contains(out, "internal error") {
			t.Errorf("go mod download %s with its pin row edited: a 500:\n%s", tc.mod, out)
		}
	}
	// The untouched pins still vouch.
	testkit.RunGo(t, app, env("home2"), false, "mod", "download", "corp.example.com/fine@v1.0.0")

	out, code := runModgate(t, append([]string{"checksum", "verify"}, common...)...)
	for _, want := range []string{
		"BAD corp.example.com/cached v1.0.0 .mod: recorded hash cannot be read (invalid hash",
		"BAD PIN corp.example.com/cached v1.0.0/go.mod: the checksum store's row of this pin cannot be read (invalid hash",
		"BAD PIN corp.example.com/imported v1.0.0: the checksum store's row of this pin cannot be read (created_at: ",
		// Every pin and artifact is checked: imported's .mod pinned on its fetch, cached
		// and fine zip and .mod.
		"checked 6 pins against 6 audit records: 2 bad",
		"checked 5 artifacts: 1 bad",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("checksum verify with edited pin rows lacks %q: exit %d\n%s", want, code, out)
		}
	}
	if code != 1 || strings.Contains(out, "BAD PIN corp.example.com/fine") || strings.Contains(out, "sqlite: checksums") {
		t.Errorf("checksum verify with edited pin rows: exit %d\n%s", code, out)
	}

	// Each refusal is a security audit record (written by the time modgate
	// has stopped).
	mg.stop(t)
	for _, m := range []string{"corp.example.com/imported", "corp.example.com/cached"} {
		var n int
		if err := raw.QueryRow(`SELECT count(*) FROM audit_log WHERE type = 'security' AND decision = 'blocked' AND module = ?
			AND reasons LIKE '%edited behind modgate''s back%'`, m).Scan(&n); err != nil || n == 0 {
			t.Errorf("security audit records of the refusal of %s: %d %v", m, n, err)
		}
	}
}
