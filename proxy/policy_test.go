package proxy_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/scanner"
)

// withPolicy makes the harness decide by the policy file text, with the
// vulnerability entries given (ids from scanner/testdata/vulndb) synced.
func withPolicy(t *testing.T, text string, log *auditLog, vulns ...string) harnessOpt {
	p, err := policy.Parse("test-policy.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	dbDir := t.TempDir()
	var entries [][]byte
	for _, id := range vulns {
		data, err := os.ReadFile(filepath.Join("..", "scanner", "testdata", "vulndb", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, data)
	}
	testkit.WriteVulnDB(t, dbDir, entries...)
	return func(po *proxy.Options, uo *upstream.Options) {
		sc, err := scanner.New(scanner.Options{Store: po.Store.(scanner.Store), Source: "file://" + dbDir, Now: po.Now})
		if err != nil {
			t.Fatal(err)
		}
		if len(vulns) > 0 {
			if _, err := sc.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		po.Scanner = sc
		po.Policy = func() *policy.Policy { return p }
		po.Exemptions = po.Store.(store.Exemptions)
		po.Audit = log
	}
}

func textModules(t *testing.T) []*testkit.Built {
	var out []*testkit.Built
	for _, v := range []string{"v0.3.5", "v0.3.8"} {
		out = append(out, testkit.Build(t, testkit.Module{Path: "golang.org/x/text", Version: v, Files: map[string]string{"LICENSE": bsd3, "x.go": "package text\n"}}))
	}
	return out
}

const blockVulns = `
mode: enforce
hide_blocked: true
vulnerabilities:
  action: block
`

func TestPolicyBlocksVulnerableVersions(t *testing.T) {
	log := &auditLog{}
	h := newHarness(t, textModules(t), withPolicy(t, blockVulns, log, "GO-2021-0113", "GO-2022-1059"))

	r := h.get("/golang.org/x/text/@v/v0.3.5.zip")
	if r.code != http.StatusForbidden {
		t.Fatalf("vulnerable zip = %d %q, want 403", r.code, r.body)
	}
	body := string(r.body)
	shown, _, _ := strings.Cut(body, "\n\n") // the go command stops at the first blank line
	for _, want := range []string{"golang.org/x/text@v0.3.5: refused by modgate policy (vulnerabilities)", "2 advisories (GO-2021-0113, GO-2022-1059), highest fixed in v0.3.8",
		// v0.3.8 was never ingested: its licenses and size are not known, so it is not offered.
		"No version of golang.org/x/text known to modgate is allowed by the current policy.",
		"modgate exempt add --module golang.org/x/text --versions v0.3.5 --rule vulnerabilities"} {
		if !strings.Contains(shown, want) {
			t.Errorf("403 body lacks %q in what the go command shows:\n%s", want, body)
		}
	}
	for _, want := range []string{"CVE-2021-38561", "fixed in v0.3.7"} {
		if !strings.Contains(body, want) {
			t.Errorf("403 body lacks %q in its full list:\n%s", want, body)
		}
	}
	if !policy.Fits(strings.Split(shown, "\n")) {
		t.Errorf("403 body over the go command's budget:\n%s", shown)
	}
	if r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("403 Content-Type %q", r.header.Get("Content-Type"))
	}
	if n := h.up.Requests("/golang.org/x/text/@v/v0.3.5.zip"); n != 0 {
		t.Errorf("a version blocked by known vulnerabilities was downloaded (%d requests)", n)
	}
	// .info and .mod stay served; the fixed version is served.
	for _, p := range []string{"/golang.org/x/text/@v/v0.3.5.info", "/golang.org/x/text/@v/v0.3.5.mod", "/golang.org/x/text/@v/v0.3.8.zip"} {
		if r := h.get(p); r.code != 200 {
			t.Errorf("GET %s = %d %s", p, r.code, r.body)
		}
	}
	// Now that v0.3.8 was ingested and is allowed, the refusal offers it.
	if r := h.get("/golang.org/x/text/@v/v0.3.5.zip"); !strings.Contains(string(r.body), "Use golang.org/x/text@v0.3.8 instead: allowed by the current policy.") {
		t.Errorf("403 after v0.3.8 was ingested = %d:\n%s", r.code, r.body)
	}
	// hide_blocked leaves the vulnerable version out of the list.
	if r := h.get("/golang.org/x/text/@v/list"); strings.TrimSpace(string(r.body)) != "v0.3.8" {
		t.Errorf("list with hide_blocked = %q, want only v0.3.8", r.body)
	}
	var blocked bool
	for _, e := range log.of(store.AuditFetch) {
		if e.Kind == "zip" && e.Version == "v0.3.5" && e.Decision == store.DecisionBlocked && strings.Contains(strings.Join(e.Reasons, " "), "GO-2021-0113") {
			blocked = true
		}
	}
	if !blocked {
		t.Errorf("the block is not in the audit log with its reasons")
	}

	// An exemption lets the version through (within the decision cache's TTL).
	ex := h.st.(store.Exemptions)
	if _, err := ex.AddExemption(context.Background(), &store.Exemption{Module: "golang.org/x/text", Versions: "v0.3.5", Rule: "vulnerabilities",
		Reason: "test", GrantedBy: "security", ExpiresAt: h.clock().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	h.advance(10 * time.Second)
	if r := h.get("/golang.org/x/text/@v/v0.3.5.zip"); r.code != 200 {
		t.Errorf("exempted zip = %d %q", r.code, r.body)
	}
	// The exemption expires by itself.
	h.advance(25 * time.Hour)
	if r := h.get("/golang.org/x/text/@v/v0.3.5.zip"); r.code != http.StatusForbidden {
		t.Errorf("zip after the exemption expired = %d", r.code)
	}
}

func TestPolicyAuditModeServesAndRecords(t *testing.T) {
	log := &auditLog{}
	h := newHarness(t, textModules(t), withPolicy(t, "mode: audit\nhide_blocked: true\nvulnerabilities:\n  action: block\n", log, "GO-2021-0113"))
	if r := h.get("/golang.org/x/text/@v/v0.3.5.zip"); r.code != 200 {
		t.Fatalf("audit mode: zip = %d %q", r.code, r.body)
	}
	if r := h.get("/golang.org/x/text/@v/list"); !strings.Contains(string(r.body), "v0.3.5") {
		t.Errorf("audit mode hid a version: %q", r.body)
	}
	var recorded bool
	for _, e := range log.of(store.AuditFetch) {
		if e.Kind == "zip" && e.Decision == store.DecisionServed && strings.Contains(strings.Join(e.Reasons, " "), "GO-2021-0113") {
			recorded = true
		}
	}
	if !recorded {
		t.Errorf("audit mode did not record what it would have blocked")
	}
}

func TestPolicyLatestSkipsBlocked(t *testing.T) {
	var mods []*testkit.Built
	for _, v := range []string{"v1.0.0", "v1.1.0", "v1.2.0"} {
		mods = append(mods, testkit.Build(t, mod("example.com/m", v)))
	}
	h := newHarness(t, mods, withPolicy(t, "mode: enforce\nhide_blocked: true\nmodules:\n  deny: [\"example.com/m@>=v1.2.0\"]\n", &auditLog{}))
	r := h.get("/example.com/m/@latest")
	if r.code != 200 || !strings.Contains(string(r.body), `"v1.1.0"`) {
		t.Errorf("@latest with v1.2.0 denied = %d %s, want v1.1.0", r.code, r.body)
	}
	if r := h.get("/example.com/m/@v/list"); strings.Fields(string(r.body))[len(strings.Fields(string(r.body)))-1] != "v1.1.0" {
		t.Errorf("list = %q", r.body)
	}
	if r := h.get("/example.com/m/@v/v1.2.0.zip"); r.code != http.StatusForbidden || h.up.Requests("/example.com/m/@v/v1.2.0.zip") != 0 {
		t.Errorf("denied zip = %d (upstream saw %d requests), want 403 without a download", r.code, h.up.Requests("/example.com/m/@v/v1.2.0.zip"))
	}
}

func TestPolicyMinAge(t *testing.T) {
	h := newHarness(t, []*testkit.Built{testkit.Build(t, mod("example.com/young", "v1.0.0"))},
		withPolicy(t, "mode: enforce\nmin_age: 72h\n", &auditLog{}))
	m := module.Version{Path: "example.com/young", Version: "v1.0.0"}
	h.get("/example.com/young/@v/v1.0.0.mod") // first seen now
	r := h.get("/example.com/young/@v/v1.0.0.zip")
	if r.code != http.StatusForbidden || !strings.Contains(string(r.body), "min_age.unknown") ||
		!strings.Contains(string(r.body), "publication time unknown: the module index was never read") {
		t.Fatalf("a version no source dates = %d %q, want 403 by min_age.unknown", r.code, r.body)
	}
	// First seen 73 hours ago is no publication time.
	h.advance(73 * time.Hour)
	if r := h.get("/example.com/young/@v/v1.0.0.zip"); r.code != http.StatusForbidden || !strings.Contains(string(r.body), "min_age.unknown") {
		t.Errorf("73h after first sight, never dated = %d %q, want 403 by min_age.unknown", r.code, r.body)
	}
	// The index lists it as published an hour ago: min_age holds it.
	h.mu.Lock()
	published := h.now.Add(-time.Hour)
	h.mu.Unlock()
	if err := h.st.PutIndexPage(context.Background(), []store.IndexEntry{{Module: m, Timestamp: published}},
		store.IndexState{Since: published, ReadAt: published}); err != nil {
		t.Fatal(err)
	}
	h.advance(6 * time.Second) // past the decision cache
	if r := h.get("/example.com/young/@v/v1.0.0.zip"); r.code != http.StatusForbidden || !strings.Contains(string(r.body), "(min_age)") ||
		!strings.Contains(string(r.body), "module-index") {
		t.Errorf("listed an hour ago = %d %q, want 403 by min_age from the index", r.code, r.body)
	}
	h.advance(72 * time.Hour)
	if r := h.get("/example.com/young/@v/v1.0.0.zip"); r.code != 200 {
		t.Errorf("after min_age passed = %d %q", r.code, r.body)
	}
}

// min_age's fast lane: a young version that fixes an advisory affecting a
// version this organisation fetched passes early, recorded as such; without
// the option, or for a version that fixes nothing fetched here, min_age holds.
func TestPolicyMinAgeFastLane(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		wantCode     int
	}{
		{"allow", "mode: enforce\nmin_age: {age: 72h, fixes: allow}\n", http.StatusOK},
		{"hold", "mode: enforce\nmin_age: 72h\n", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &auditLog{}
			h := newHarness(t, textModules(t), withPolicy(t, tc.policy, log, "GO-2021-0113", "GO-2022-1059"))
			h.mu.Lock()
			published := h.now.Add(-time.Hour)
			h.mu.Unlock()
			var entries []store.IndexEntry
			for _, v := range []string{"v0.3.5", "v0.3.8"} {
				entries = append(entries, store.IndexEntry{Module: module.Version{Path: "golang.org/x/text", Version: v}, Timestamp: published})
			}
			if err := h.st.PutIndexPage(context.Background(), entries, store.IndexState{Since: published}); err != nil {
				t.Fatal(err)
			}
			// The organisation fetched v0.3.5 (GO-2022-1059, fixed in v0.3.8).
			h.get("/golang.org/x/text/@v/v0.3.5.mod")
			h.get("/golang.org/x/text/@v/v0.3.8.mod")
			r := h.get("/golang.org/x/text/@v/v0.3.8.zip")
			if r.code != tc.wantCode {
				t.Fatalf("young fix v0.3.8 = %d %q, want %d", r.code, r.body, tc.wantCode)
			}
			if tc.wantCode == http.StatusOK {
				d, err := h.px.Decide(context.Background(), module.Version{Path: "golang.org/x/text", Version: "v0.3.8"})
				if err != nil {
					t.Fatal(err)
				}
				if d.Blocked || len(d.Findings) == 0 || d.Findings[0].Rule != policy.RuleMinAge || d.Findings[0].Action != policy.Warn ||
					!strings.Contains(d.Findings[0].Reason, "passed early (min_age.fixes: allow): fixes GO-2022-1059 in golang.org/x/text@v0.3.5, fetched here") {
					t.Errorf("decision = %+v, want min_age warned with the fast lane", d)
				}
			}
			// v0.3.5 fixes nothing fetched here: held either way.
			if r := h.get("/golang.org/x/text/@v/v0.3.5.zip"); r.code != http.StatusForbidden || !strings.Contains(string(r.body), "(min_age)") {
				t.Errorf("young v0.3.5 = %d %q, want 403 by min_age", r.code, r.body)
			}
		})
	}
}
