package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modgate/modgate/internal/testkit"
)

// TestEndToEndSumDBDatesVersions: with the module index off, a real checksum
// database dates the versions it vouches for: a version whose record is in a
// tree head modgate first saw now is held by min_age (not min_age.unknown),
// the go command shows why in full, and the version page and the stored
// tree sizes say so.
func TestEndToEndSumDBDatesVersions(t *testing.T) {
	fresh := testkit.Build(t, testkit.Module{Path: "example.com/fresh", Version: "v1.0.0",
		Files: map[string]string{"LICENSE": bsd3License, "f.go": "package fresh\n"}})
	up := testkit.NewUpstream(t, fresh)
	db := testkit.NewSumDB(t, "sum.modgate.test", fresh)
	work := t.TempDir()
	policyFile := filepath.Join(work, "policy.yaml")
	os.WriteFile(policyFile, []byte("min_age: 72h\n"), 0o644)
	mg := startModgate(t, "--data", t.TempDir(), "--policy", policyFile, "--upstream", up.URL,
		"--sumdb", db.Key+" "+db.URL, "--index", "off")
	env := testkit.GoEnv(t, filepath.Join(work, "home"), mg.URL, "GOSUMDB="+db.GOSUMDB())
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")

	out := testkit.RunGo(t, app, env, true, "mod", "download", "example.com/fresh@v1.0.0")
	detail, lines := serverResponse(t, out)
	t.Logf("fresh: %d bytes, %d lines:\n%s", len(detail), lines, detail)
	for _, want := range []string{"403 Forbidden", "refused by modgate policy (min_age)", "at the latest", "checksum database",
		"not known to be older than min_age 72h: allowed from "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "min_age.unknown") || strings.Contains(out, "[Truncated") {
		t.Errorf("refusal says min_age.unknown or was truncated:\n%s", out)
	}
	code, page := getURL(t, mg.URL+"/ui/version/example.com/fresh/@v/v1.0.0")
	if code != http.StatusOK || !strings.Contains(page, `<td id="published">no later than `) || !strings.Contains(page, "source checksum-database") {
		t.Errorf("version page (%d) does not show the checksum database's date:\n%s", code, page)
	}
}
