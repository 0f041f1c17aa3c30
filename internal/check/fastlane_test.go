package check

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/scanner"
)

// modgate check applies min_age's fast lane as the proxy does: x/text
// v0.3.8, listed by the index an hour ago, fixes GO-2022-1059 in v0.3.5,
// which this organisation fetched.
func TestLocalMinAgeFastLane(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entry, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vulndb", "ID", "GO-2022-1059.json"))
	if err != nil {
		t.Fatal(err)
	}
	dbDir := t.TempDir()
	testkit.WriteVulnDB(t, dbDir, entry)
	sc, err := scanner.New(scanner.Options{Store: st, Source: "file://" + dbDir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	fetched := module.Version{Path: "golang.org/x/text", Version: "v0.3.5"}
	fix := module.Version{Path: "golang.org/x/text", Version: "v0.3.8"}
	if err := st.PutIndexPage(ctx, []store.IndexEntry{{Module: fetched, Timestamp: now.Add(-time.Hour)}, {Module: fix, Timestamp: now.Add(-time.Hour)}},
		store.IndexState{Since: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []module.Version{fetched, fix} {
		if _, err := sc.Facts(ctx, m, []byte("module golang.org/x/text\n"), ""); err != nil {
			t.Fatal(err)
		}
	}
	st2, err := sc.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data := policy.Data{VulnSynced: st2.SyncedAt, VulnAttempted: st2.AttemptedAt}
	for _, tc := range []struct {
		policy      string
		wantBlocked bool
	}{
		{"min_age: {age: 72h, fixes: allow}\n", false},
		{"min_age: 72h\n", true},
	} {
		p, err := policy.Parse("p.yaml", []byte(tc.policy))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Local(ctx, p, sc, nil, data, []module.Version{fix, fetched}, now)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Blocked != tc.wantBlocked || !got[1].Blocked {
			t.Errorf("%q: v0.3.8 blocked %v (want %v), v0.3.5 blocked %v (want true): %+v", tc.policy, got[0].Blocked, tc.wantBlocked, got[1].Blocked, got)
		}
	}
}
