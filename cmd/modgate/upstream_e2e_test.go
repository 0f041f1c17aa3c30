package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/scanner"
)

// withOrigin gives b's .info an Origin block as the go command writes it
// (cmd/go/internal/modfetch/codehost.Origin) for a tagged version.
func withOrigin(t *testing.T, b *testkit.Built, hash string) *testkit.Built {
	t.Helper()
	var info map[string]any
	if err := json.Unmarshal(b.Info, &info); err != nil {
		t.Fatal(err)
	}
	info["Origin"] = map[string]string{"VCS": "git", "URL": "https://" + b.Path, "Hash": hash, "Ref": "refs/tags/" + b.Version}
	var err error
	if b.Info, err = json.Marshal(info); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEndToEndUpstreamRecheck drives the real go command through modgate
// (checksums verified against a real checksum database) while the upstream
// changes under it:
//   - a takedown: the upstream starts answering 410 for a version modgate
//     served; "modgate recheck" finds it withdrawn, the webhook is told, the
//     audit log records it, the dashboard lists it with who got the zip, and
//     with "withdrawn: block" the go command gets a 403 that says so within
//     its 8 lines; when the upstream serves it again it is recorded as
//     returned and served again;
//   - a moved tag: the upstream's .info now names another commit and serves
//     other bytes; the recheck finds "origin changed", and the zip's checksum
//     mismatch that follows says the tag moved;
//   - an upstream failing with 503 is never a takedown; a version still
//     served stays clean; the recheck sends Disable-Module-Fetch and fetches
//     no zip.
func TestEndToEndUpstreamRecheck(t *testing.T) {
	const hashX, hashY = "4f7e1f3c2b9d8a6e5f4c3b2a1908d7e6c5b4a392", "9a8b7c6d5e4f30211f2e3d4c5b6a79880a1b2c3d"
	build := func(path, v, body string) *testkit.Built {
		return testkit.Build(t, testkit.Module{Path: path, Version: v, Files: map[string]string{
			"x.go": "package x\n\nconst V = \"" + body + "\"\n", "LICENSE": bsd3License}})
	}
	taken := withOrigin(t, build("example.com/taken", "v1.0.0", "taken"), hashX)
	stays := withOrigin(t, build("example.com/stays", "v1.0.0", "stays"), hashX)
	flaky := withOrigin(t, build("example.com/flaky", "v1.0.0", "flaky"), hashX)
	movedA := withOrigin(t, build("example.com/moved", "v1.2.3", "original"), hashX)
	movedB := withOrigin(t, build("example.com/moved", "v1.2.3", "re-tagged"), hashY)
	db := testkit.NewSumDB(t, "sum.modgate.test", taken, stays, flaky, movedA)
	up := testkit.NewUpstream(t, taken, stays, flaky, movedA)

	var mu sync.Mutex
	mode := "served" // "changed": the takedown, the moved tag, the 503s
	headers := map[string]string{}
	up.Hook = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		headers[r.URL.Path] = r.Header.Get("Disable-Module-Fetch")
		if mode != "changed" {
			return false
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/example.com/taken/@v/v1.0.0."):
			http.Error(w, "gone: removed by the mirror", http.StatusGone)
		case strings.HasPrefix(r.URL.Path, "/example.com/flaky/@v/v1.0.0."):
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		case r.URL.Path == "/example.com/moved/@v/v1.2.3.info":
			w.Write(movedB.Info)
		case r.URL.Path == "/example.com/moved/@v/v1.2.3.zip":
			w.Write(movedB.Zip)
		default:
			return false
		}
		return true
	}
	setMode := func(m string) {
		mu.Lock()
		mode = m
		mu.Unlock()
	}

	var hookMu sync.Mutex
	var posts []scanner.Notification
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var n scanner.Notification
		if err := json.Unmarshal(body, &n); err != nil {
			t.Errorf("webhook body: %v\n%s", err, body)
		}
		hookMu.Lock()
		posts = append(posts, n)
		hookMu.Unlock()
	}))
	defer hook.Close()

	work := t.TempDir()
	pol := filepath.Join(work, "policy.yaml")
	if err := os.WriteFile(pol, []byte("withdrawn: block\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--data", t.TempDir(), "--upstream", up.URL, "--sumdb", db.Key + " " + db.URL,
		"--notify-url", hook.URL, "--recheck-rate", "50"}
	// --audit-flush 0: records are in the log before the answer, so the
	// dashboard's "who got the zip" is complete when the test reads it.
	// --read-ahead=false: the moved version's zip must be fetched only
	// after its tag moved (read ahead, the zip its .info announced would be
	// the one the checksum database recorded, fetched before the move).
	mg := startModgate(t, append([]string{"--policy", pol, "--recheck-interval", "0", "--audit-flush", "0", "--read-ahead=false"}, common...)...)
	home := 0
	goEnv := func() []string {
		home++ // a fresh module cache: every download goes through modgate
		return testkit.GoEnv(t, filepath.Join(work, fmt.Sprintf("home%d", home)), mg.URL, "GOSUMDB=off")
	}
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n")
	testkit.RunGo(t, app, goEnv(), false, "mod", "download", "example.com/taken@v1.0.0", "example.com/stays@v1.0.0", "example.com/flaky@v1.0.0")
	// Only the .info and .mod of the moved version: its zip comes later.
	for _, ext := range []string{"info", "mod"} {
		if code, body := getURL(t, mg.URL+"/example.com/moved/@v/v1.2.3."+ext); code != 200 {
			t.Fatalf(".%s of example.com/moved: %d %s", ext, code, body)
		}
	}

	recheck := func() string {
		t.Helper()
		out, code := runModgate(t, append([]string{"recheck"}, common...)...)
		if code != 0 {
			t.Fatalf("modgate recheck: exit %d\n%s", code, out)
		}
		t.Logf("modgate recheck:\n%s", out)
		return out
	}
	// Nothing changed upstream: no finding.
	if out := recheck(); !strings.Contains(out, "4 asked (4 served, 0 refused, 0 transient failures)") ||
		!strings.Contains(out, "new findings: 0 withdrawn upstream, 0 returned upstream, 0 origin changed") {
		t.Errorf("recheck with nothing changed:\n%s", out)
	}

	zips := func() int {
		n := 0
		for _, p := range []string{"taken/@v/v1.0.0", "stays/@v/v1.0.0", "flaky/@v/v1.0.0", "moved/@v/v1.2.3"} {
			n += up.Requests("/example.com/" + p + ".zip")
		}
		return n
	}
	zipsBefore := zips()
	setMode("changed")
	out := recheck()
	for _, want := range []string{
		"4 asked (2 served, 1 refused, 1 transient failures)",
		"new findings: 1 withdrawn upstream, 0 returned upstream, 1 origin changed",
		"example.com/taken@v1.0.0: withdrawn upstream: " + up.URL + " now answers 410 Gone for the .info it served",
		"example.com/moved@v1.2.3: origin changed: v1.2.3 (refs/tags/v1.2.3) now points to git revision " + hashY + "; it pointed to " + hashX,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("recheck after the changes lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "example.com/flaky@v1.0.0: withdrawn") || strings.Contains(out, "example.com/stays@v1.0.0:") {
		t.Errorf("a transient failure or a served version made a finding:\n%s", out)
	}
	if zips() != zipsBefore {
		t.Errorf("the recheck fetched zips (%d before, %d after)", zipsBefore, zips())
	}
	mu.Lock()
	if h := headers["/example.com/taken/@v/v1.0.0.info"]; h != "true" {
		t.Errorf("recheck sent Disable-Module-Fetch: %q, want true", h)
	}
	mu.Unlock()
	hookMu.Lock()
	var notified []string
	for _, p := range posts {
		for _, f := range p.Findings {
			notified = append(notified, f.Module+"@"+f.Version+" "+f.ID)
		}
	}
	hookMu.Unlock()
	if want := "example.com/moved@v1.2.3 origin-changed example.com/taken@v1.0.0 withdrawn-upstream"; strings.Join(notified, " ") != want {
		t.Errorf("webhook got %q, want %q", notified, want)
	}

	// withdrawn: block refuses the zip with a 403 that says why (decisions
	// made before the recheck are reused for a few seconds).
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := runGoErr(app, goEnv(), "mod", "download", "example.com/taken@v1.0.0")
		if err != nil && strings.Contains(out, "403 Forbidden") {
			detail, lines := serverResponse(t, out)
			t.Logf("the go command shows %d bytes, %d lines:\n%s", len(detail), lines, detail)
			for _, want := range []string{"example.com/taken@v1.0.0: refused by modgate policy (withdrawn)",
				"- withdrawn: withdrawn upstream: " + up.URL + " answers 410 Gone since " + time.Now().UTC().Format(time.DateOnly) + ", after serving it (a takedown)"} {
				if !strings.Contains(detail, want) {
					t.Errorf("the refusal lacks %q:\n%s", want, detail)
				}
			}
			if strings.Contains(out, "[Truncated") || lines > 8 || len(detail) > 648 {
				t.Errorf("the refusal does not fit (%d bytes, %d lines):\n%s", len(detail), lines, out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("example.com/taken@v1.0.0 not refused after the takedown (err %v):\n%s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The version still served upstream and the flaky one are served.
	testkit.RunGo(t, app, goEnv(), false, "mod", "download", "example.com/stays@v1.0.0", "example.com/flaky@v1.0.0")

	// The moved tag: the zip the upstream serves now is not what the
	// checksum database recorded, and the 403 says the tag moved.
	out, err := runGoErr(app, goEnv(), "mod", "download", "example.com/moved@v1.2.3")
	if err == nil {
		t.Fatalf("the re-tagged zip was served:\n%s", out)
	}
	detail, lines := serverResponse(t, out)
	for _, want := range []string{"checksum mismatch for .zip",
		"origin changed upstream: tag v1.2.3 now points to " + hashY + " (modgate first saw " + hashX + "); checksum database sum.modgate.test recorded " + movedA.Hash} {
		if !strings.Contains(detail, want) {
			t.Errorf("the mismatch lacks %q:\n%s", want, out)
		}
	}
	if lines > 8 || len(detail) > 648 {
		t.Errorf("the mismatch does not fit (%d bytes, %d lines):\n%s", len(detail), lines, detail)
	}

	// The dashboard lists both, with who got the zip; the API too.
	if code, page := getURL(t, mg.URL+"/ui/"); code != 200 || !strings.Contains(page, "example.com/taken@v1.0.0") ||
		!strings.Contains(page, "withdrawn upstream") || !strings.Contains(page, "127.0.0.1 (1 before)") ||
		!strings.Contains(page, "example.com/moved@v1.2.3") {
		_, ev := getURL(t, mg.URL+"/api/audit/export?module=example.com/taken")
		t.Errorf("overview: %d\n%s\naudit of example.com/taken:\n%s", code, grepLines(page, "example.com"), ev)
	}
	// The audit log has the findings.
	code, export := getURL(t, mg.URL+"/api/audit/export?type=upstream")
	if code != 200 || !strings.Contains(export, `"decision":"withdrawn"`) || !strings.Contains(export, `"decision":"origin_changed"`) {
		t.Errorf("audit export of type upstream: %d\n%s", code, export)
	}

	// The version comes back: recorded, and served again.
	setMode("served")
	if out := recheck(); !strings.Contains(out, "example.com/taken@v1.0.0: returned upstream: "+up.URL+" serves it again (it answered 410 since") ||
		!strings.Contains(out, "1 returned upstream, 0 origin changed") {
		t.Errorf("recheck after the return:\n%s", out)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		out, err := runGoErr(app, goEnv(), "mod", "download", "example.com/taken@v1.0.0")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("example.com/taken@v1.0.0 still refused after it came back:\n%s", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, export := getURL(t, mg.URL+"/api/audit/export?type=upstream"); !strings.Contains(export, `"decision":"returned"`) {
		t.Errorf("audit export lacks the return:\n%s", export)
	}
	mg.stop(t)

	// With rechecks on (the default 24h; the first pass a minute after the
	// start), their totals are metrics.
	mg = startModgate(t, "--data", t.TempDir(), "--upstream", up.URL, "--sumdb", "off")
	_, metrics := getURL(t, mg.URL+"/metrics")
	for _, want := range []string{"modgate_recheck_requests_total 0", "modgate_recheck_transient_failures_total 0",
		"modgate_recheck_withdrawn_total 0", "modgate_recheck_returned_total 0", "modgate_recheck_origin_changed_total 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(metrics, "recheck"))
		}
	}
	mg.stop(t)
}
