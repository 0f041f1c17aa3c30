package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/modgate/modgate/internal/testkit"
)

func TestAuditKill9SQLite(t *testing.T) { testAuditKill9(t, "") }

func TestAuditKill9Postgres(t *testing.T) { testAuditKill9(t, testkit.PostgresDSN(t)) }

// testAuditKill9 kills a real modgate process with SIGKILL while 16 clients
// fetch cached .info and .mod files as fast as it answers, and checks that
// every request a client got a complete answer for has its audit record
// (each request carries its own User-Agent), and that the chain verifies.
// With the default group commit an answer waits for its record's commit (with
// SQLite: its write to the audit spool, appended to the database behind it),
// so none may be missing; MODGATE_TEST_AUDIT_FLUSH=200ms runs the same with a
// flush window, which loses records (to see that the test can fail).
func testAuditKill9(t *testing.T, dsn string) {
	b := testkit.Build(t, testkit.Module{Path: "example.com/killaudit", Version: "v1.0.0",
		Files: map[string]string{"k.go": "package killaudit\n"}})
	up := testkit.NewUpstream(t, b)
	data := t.TempDir()
	dbArgs := []string{"--data", data}
	if dsn != "" {
		dbArgs = append(dbArgs, "--database", dsn)
	}
	args := append([]string{"--upstream", up.URL, "--sumdb", "off"}, dbArgs...)
	if f := os.Getenv("MODGATE_TEST_AUDIT_FLUSH"); f != "" {
		args = append(args, "--audit-flush", f)
	}
	mg := startModgate(t, args...)

	files := map[string][]byte{
		"/example.com/killaudit/@v/v1.0.0.info": b.Info,
		"/example.com/killaudit/@v/v1.0.0.mod":  b.Mod,
	}
	var paths []string
	for p := range files {
		paths = append(paths, p)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	// get fetches p as userAgent and reports whether the answer was complete.
	get := func(p, userAgent string) bool {
		req, err := http.NewRequest("GET", mg.URL+p, nil)
		if err != nil {
			t.Error(err)
			return false
		}
		req.Header.Set("User-Agent", userAgent)
		resp, err := client.Do(req)
		if err != nil {
			return false // the process is gone
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return err == nil && resp.StatusCode == http.StatusOK && string(body) == string(files[p])
	}
	for _, p := range paths { // cache both files
		if !get(p, "warm") {
			t.Fatalf("GET %s failed before the kill", p)
		}
	}

	const clients, killAfter = 16, 1500
	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		reached = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
	)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				ua := fmt.Sprintf("kill9-client%d-request%d", c, i)
				if !get(paths[i%len(paths)], ua) {
					return // killed: every later request fails too
				}
				mu.Lock()
				acked[ua] = true
				if len(acked) >= killAfter {
					once.Do(func() { close(reached) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-reached:
	case <-time.After(2 * time.Minute):
		t.Fatalf("fewer than %d requests answered in 2 minutes", killAfter)
	}
	if err := mg.cmd.Process.Kill(); err != nil { // SIGKILL, under load
		t.Fatal(err)
	}
	<-mg.done
	wg.Wait()

	// With SQLite the answers waited for the audit spool, not the
	// database: the first audit command appends what the killed process
	// left there.
	out, code := runModgate(t, append([]string{"audit", "verify"}, dbArgs...)...)
	if code != 0 {
		t.Errorf("audit verify after kill -9: exit %d\n%s", code, out)
	}
	if m := regexp.MustCompile(`appended (\d+) audit records a stopped modgate left`).FindStringSubmatch(out); m != nil {
		t.Logf("the first audit command after the kill appended %s records from the spool", m[1])
	} else if dsn == "" && os.Getenv("MODGATE_TEST_AUDIT_FLUSH") == "" {
		t.Logf("no record was left in the spool at the kill")
	}

	recorded := map[string]bool{}
	for _, r := range auditRecords(t, dbArgs...) {
		recorded[r.UserAgent] = true
	}
	var lost []string
	for ua := range acked {
		if !recorded[ua] {
			lost = append(lost, ua)
		}
	}
	t.Logf("kill -9 under load: %d requests answered, %d audit records lost", len(acked), len(lost))
	if len(lost) > 0 {
		t.Errorf("%d of %d answered requests have no audit record after kill -9, e.g. %s", len(lost), len(acked), lost[0])
	}
	if out, code := runModgate(t, append([]string{"audit", "verify"}, dbArgs...)...); code != 0 {
		t.Errorf("audit verify after kill -9: exit %d\n%s", code, out)
	}
}
