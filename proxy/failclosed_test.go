package proxy_test

import (
	"context"
	"errors"
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

// withUnsynced decides by the policy text with a scanner whose database
// (the given real entries) is not synced yet; the scanner is returned
// through sc.
func withUnsynced(t *testing.T, text string, sc **scanner.Scanner, wrap func(*scanner.Scanner) proxy.Scanner, ids ...string) harnessOpt {
	p, err := policy.Parse("test-policy.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	dbDir := t.TempDir()
	var entries [][]byte
	for _, id := range ids {
		data, err := os.ReadFile(filepath.Join("..", "testdata", "vulndb", "ID", id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, data)
	}
	testkit.WriteVulnDB(t, dbDir, entries...)
	return func(po *proxy.Options, uo *upstream.Options) {
		s, err := scanner.New(scanner.Options{Store: po.Store.(scanner.Store), Source: "file://" + dbDir, Now: po.Now})
		if err != nil {
			t.Fatal(err)
		}
		*sc = s
		po.Scanner = s
		if wrap != nil {
			po.Scanner = wrap(s)
		}
		po.Policy = func() *policy.Policy { return p }
		po.Exemptions = po.Store.(store.Exemptions)
		po.VulnStatusPath = "/vulndb-status"
	}
}

// TestMissingVulnDataFailsClosed: before the first sync, a blocking
// vulnerability rule refuses every zip with the reason, /readyz is not
// ready, and the version list is not emptied; after the sync, decisions
// are made on the data.
func TestMissingVulnDataFailsClosed(t *testing.T) {
	var sc *scanner.Scanner
	h := newHarness(t, textModules(t), withUnsynced(t, blockVulns, &sc, nil, "GO-2021-0113", "GO-2022-1059"))
	ctx := context.Background()

	r := h.get("/golang.org/x/text/@v/v0.3.8.zip")
	if r.code != http.StatusForbidden || !strings.Contains(string(r.body), "- vulnerabilities.unknown: vulnerability data: never synced (no attempt yet)") ||
		!strings.Contains(string(r.body), "modgate serves it once it has the data: operators, see http://127.0.0.1") {
		t.Errorf("zip without vulnerability data = %d:\n%s", r.code, r.body)
	}
	if n := h.up.Requests("/golang.org/x/text/@v/v0.3.8.zip"); n != 0 {
		t.Errorf("a zip refused for missing data was downloaded (%d requests)", n)
	}
	if r := h.get("/golang.org/x/text/@v/list"); strings.Fields(string(r.body)) == nil || len(strings.Fields(string(r.body))) != 2 {
		t.Errorf("list without data, hide_blocked = %q, want both versions (refused only for missing data)", r.body)
	}
	if err := h.px.Ready(ctx); err == nil || !strings.Contains(err.Error(), "vulnerabilities.unknown blocks: vulnerability data: never synced") {
		t.Errorf("Ready without data = %v", err)
	}

	if _, err := sc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	h.advance(6 * time.Second) // the data's state and decisions are cached for 5s
	if err := h.px.Ready(ctx); err != nil {
		t.Errorf("Ready after the sync = %v", err)
	}
	if r := h.get("/golang.org/x/text/@v/v0.3.8.zip"); r.code != http.StatusOK {
		t.Errorf("clean zip after the sync = %d %s", r.code, r.body)
	}
	if r := h.get("/golang.org/x/text/@v/v0.3.5.zip"); r.code != http.StatusForbidden || !strings.Contains(string(r.body), "GO-2021-0113") {
		t.Errorf("vulnerable zip after the sync = %d %s", r.code, r.body)
	}
	if r := h.get("/golang.org/x/text/@v/list"); strings.TrimSpace(string(r.body)) != "v0.3.8" {
		t.Errorf("list after the sync = %q, want v0.3.8", r.body)
	}

	// The data ages past --vulndb-max-age (7 days) without a sync: refused
	// again, saying how old.
	h.advance(8 * 24 * time.Hour)
	r = h.get("/golang.org/x/text/@v/v0.3.8.zip")
	if r.code != http.StatusForbidden || !strings.Contains(string(r.body), "vulnerability data is 8 days old (max 7d; last synced 2026-01-01 00:00 UTC)") {
		t.Errorf("zip with stale data = %d:\n%s", r.code, r.body)
	}
}

// failingLicenses is a scanner whose zip scan fails (licenses stay unknown):
// an injected failure.
type failingLicenses struct{ *scanner.Scanner }

func (f failingLicenses) Record(ctx context.Context, m module.Version, mod []byte, zipPath string, opts ...scanner.FactOption) error {
	if scanner.ScansZip(zipPath, opts...) {
		return errors.New("injected: license scan failed")
	}
	return f.Scanner.Record(ctx, m, mod, zipPath, opts...)
}

// TestUnscannedLicensesBlockTheZip: a zip about to be served whose license
// files were never scanned is refused when a license rule blocks.
func TestUnscannedLicensesBlockTheZip(t *testing.T) {
	var sc *scanner.Scanner
	wrap := func(s *scanner.Scanner) proxy.Scanner { return failingLicenses{s} }
	h := newHarness(t, textModules(t), withUnsynced(t, "licenses: {deny: [AGPL-3.0-only]}\n", &sc, wrap, "GO-2021-0113"))
	if _, err := sc.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := h.get("/golang.org/x/text/@v/v0.3.8.zip")
	if r.code != http.StatusForbidden || !strings.Contains(string(r.body), "- licenses.unscanned: licenses not known") {
		t.Errorf("zip whose licenses were not scanned = %d:\n%s", r.code, r.body)
	}
}

// TestDataArrivalAppliesAtOnce: once the server has seen the vulnerability
// data arrive (its /readyz turned ready), no decision remembered from before
// the data may refuse a version any more, however recent that decision is.
func TestDataArrivalAppliesAtOnce(t *testing.T) {
	var sc *scanner.Scanner
	h := newHarness(t, textModules(t), withUnsynced(t, blockVulns, &sc, nil, "GO-2021-0113", "GO-2022-1059"))
	ctx := context.Background()
	if err := h.px.Ready(ctx); err == nil {
		t.Fatal("Ready without data = nil")
	}
	h.advance(3 * time.Second)
	if r := h.get("/golang.org/x/text/@v/v0.3.8.zip"); r.code != http.StatusForbidden {
		t.Fatalf("zip without data = %d %s", r.code, r.body)
	}
	if _, err := sc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	h.advance(3 * time.Second) // the data's state is read again; the refusal above is 3s old
	if err := h.px.Ready(ctx); err != nil {
		t.Fatalf("Ready after the sync = %v", err)
	}
	if r := h.get("/golang.org/x/text/@v/v0.3.8.zip"); r.code != http.StatusOK {
		t.Errorf("ready, but the clean zip is still refused by a decision made without data: %d %s", r.code, r.body)
	}
}
