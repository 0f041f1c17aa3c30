package verify_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/proxy/verify"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/modgate.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newVerifier(t *testing.T, st store.Store, db *testkit.SumDB, url string, mod func(*verify.Options)) *verify.Verifier {
	t.Helper()
	opts := verify.Options{Store: st, SumDB: verify.SumDB{Name: db.Name, Key: db.Key}, URL: url, NoSumDB: "corp.example.com"}
	if mod != nil {
		mod(&opts)
	}
	v, err := verify.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func built(t *testing.T, path, version, content string) *testkit.Built {
	return testkit.Build(t, testkit.Module{Path: path, Version: version, Files: map[string]string{"a.go": "package a\n// " + content + "\n"}})
}

func zipOf(b *testkit.Built) verify.Artifact {
	return verify.Artifact{Module: module.Version{Path: b.Path, Version: b.Version}, Kind: store.KindZip, Hash: b.Hash, Upstream: "test"}
}

func modOf(b *testkit.Built) verify.Artifact {
	return verify.Artifact{Module: module.Version{Path: b.Path, Version: b.Version}, Kind: store.KindMod, Hash: b.ModSum, Upstream: "test"}
}

func TestHashes(t *testing.T) {
	b := built(t, "example.com/m", "v1.0.0", "x")
	h, err := verify.HashMod(b.Mod)
	if err != nil || h != b.ModSum {
		t.Errorf("HashMod = %s, %v; want %s", h, err, b.ModSum)
	}
}

func TestPublicModules(t *testing.T) {
	good := built(t, "example.com/m", "v1.0.0", "good")
	evil := built(t, "example.com/m", "v1.0.0", "evil")
	unknown := built(t, "example.com/m", "v1.9.0", "x")
	db := testkit.NewSumDB(t, "sum.test", good)
	st := openStore(t)
	v := newVerifier(t, st, db, db.URL, nil)
	ctx := context.Background()

	for _, a := range []verify.Artifact{zipOf(good), modOf(good)} {
		res, err := v.Check(ctx, a)
		if err != nil || res.Source != "sumdb:sum.test" {
			t.Fatalf("Check(%s) = %+v, %v", a.Kind, res, err)
		}
		rec, err := st.Checksum(ctx, a.Module, a.Kind)
		if err != nil || rec.Hash != a.Hash || rec.Source != "sumdb:sum.test" {
			t.Errorf("recorded %+v, %v", rec, err)
		}
	}
	_, err := v.Check(ctx, zipOf(evil))
	var mm *verify.MismatchError
	if !errors.As(err, &mm) || mm.Want != good.Hash || !strings.Contains(err.Error(), good.Hash) || !strings.Contains(err.Error(), evil.Hash) {
		t.Fatalf("tampered zip: %v, want a mismatch naming both hashes", err)
	}

	_, err = v.Check(ctx, zipOf(unknown))
	var uv *verify.UnverifiedError
	if !errors.As(err, &uv) || uv.Reason != verify.Unknown {
		t.Fatalf("unknown version: %v, want Unknown", err)
	}
	// Once the database learns the version, a retry verifies it.
	db.Add(unknown)
	if _, err := v.Check(ctx, zipOf(unknown)); err != nil {
		t.Errorf("retry after the database learnt the version: %v", err)
	}

	allow := newVerifier(t, openStore(t), db, db.URL, func(o *verify.Options) { o.AllowUnknown = true })
	res, err := allow.Check(ctx, zipOf(built(t, "example.com/m", "v1.8.0", "x")))
	if err != nil || res.Warning == "" || res.Source != store.SourceTOFU {
		t.Errorf("AllowUnknown: %+v, %v; want pinned with a warning", res, err)
	}
}

func TestUnreachableFailsClosedThenRecovers(t *testing.T) {
	good := built(t, "example.com/m", "v1.0.0", "good")
	db := testkit.NewSumDB(t, "sum.test", good)
	sw := testkit.NewSwitch(t, "")
	ctx := context.Background()

	v := newVerifier(t, openStore(t), db, sw.URL, nil)
	_, err := v.Check(ctx, zipOf(good))
	var uv *verify.UnverifiedError
	if !errors.As(err, &uv) || uv.Reason != verify.Unreachable {
		t.Fatalf("database down: %v, want Unreachable", err)
	}
	sw.Set(db.URL)
	if _, err := v.Check(ctx, zipOf(good)); err != nil {
		t.Errorf("after the database came back: %v (a failure must not be remembered)", err)
	}

	sw.Set("")
	open := newVerifier(t, openStore(t), db, sw.URL, func(o *verify.Options) { o.FailOpen = true })
	res, err := open.Check(ctx, zipOf(good))
	if err != nil || res.Warning == "" {
		t.Errorf("FailOpen: %+v, %v; want allowed with a warning", res, err)
	}
}

func TestPrivateModulesPinnedOnFirstUse(t *testing.T) {
	first := built(t, "corp.example.com/lib", "v1.0.0", "first")
	second := built(t, "corp.example.com/lib", "v1.0.0", "second")
	db := testkit.NewSumDB(t, "sum.test")
	st := openStore(t)
	v := newVerifier(t, st, db, db.URL, nil)
	ctx := context.Background()
	a := zipOf(first)
	a.Client = "10.1.2.3"
	res, err := v.Check(ctx, a)
	if err != nil || res.Source != store.SourceTOFU {
		t.Fatalf("first fetch: %+v, %v", res, err)
	}
	if db.Lookups("corp.example.com/lib", "v1.0.0") != 0 {
		t.Errorf("a private module was looked up in the checksum database")
	}
	if _, err := v.Check(ctx, zipOf(first)); err != nil {
		t.Errorf("same content again: %v", err)
	}
	_, err = v.Check(ctx, zipOf(second))
	var mm *verify.MismatchError
	if !errors.As(err, &mm) || !strings.Contains(err.Error(), "pinned on first fetch") {
		t.Fatalf("different content for a pinned version: %v", err)
	}
	rec, _ := st.Checksum(ctx, a.Module, store.KindZip)
	if rec.Client != "10.1.2.3" || rec.Upstream != "test" {
		t.Errorf("pin does not record who and where: %+v", rec)
	}
}

func TestImportedHashWins(t *testing.T) {
	good := built(t, "corp.example.com/lib", "v1.0.0", "good")
	evil := built(t, "corp.example.com/lib", "v1.0.0", "evil")
	st := openStore(t)
	ctx := context.Background()
	if _, err := st.PutChecksum(ctx, &store.Checksum{Module: module.Version{Path: good.Path, Version: good.Version}, Kind: store.KindZip,
		Hash: good.Hash, Source: store.SourceGoSum + "team/go.sum"}); err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, st, testkit.NewSumDB(t, "sum.test"), "http://127.0.0.1:1", nil)
	if _, err := v.Check(ctx, zipOf(evil)); err == nil || !strings.Contains(err.Error(), "imported team/go.sum") {
		t.Fatalf("first fetch of content differing from an imported hash: %v", err)
	}
	if _, err := v.Check(ctx, zipOf(good)); err != nil {
		t.Errorf("content matching the imported hash: %v", err)
	}
}

func TestForkedDatabaseIsDetected(t *testing.T) {
	skey, vkey := testkit.NewSumDBKey(t, "sum.test")
	a := built(t, "example.com/a", "v1.0.0", "a")
	b := built(t, "example.com/b", "v1.0.0", "b")
	honest := testkit.NewSumDBSigned(t, skey, vkey, a, b)
	forked := testkit.NewSumDBSigned(t, skey, vkey, a, b)
	sw := testkit.NewSwitch(t, honest.URL)
	st := openStore(t)
	ctx := context.Background()
	var alerts atomic.Int32
	onSec := func(o *verify.Options) { o.OnSecurityError = func(string) { alerts.Add(1) } }

	v := newVerifier(t, st, honest, sw.URL, onSec)
	if _, err := v.Check(ctx, zipOf(a)); err != nil {
		t.Fatal(err)
	}
	// The forked log has the same size but other records: b first, then a.
	forked.Add(b)
	if _, err := http.Get(forked.URL + "/lookup/example.com/b@v1.0.0"); err != nil {
		t.Fatal(err)
	}
	sw.Set(forked.URL)
	// A restarted process (a new verifier on the same database) must notice too.
	restarted := newVerifier(t, st, honest, sw.URL, onSec)
	_, err := restarted.Check(ctx, zipOf(b))
	var uv *verify.UnverifiedError
	if !errors.As(err, &uv) || uv.Reason != verify.Misbehaving {
		t.Fatalf("forked database: %v, want Misbehaving", err)
	}
	if restarted.Err() == nil || alerts.Load() != 1 {
		t.Errorf("security error not raised: Err()=%v, alerts=%d", restarted.Err(), alerts.Load())
	}
	// Everything public is refused from then on, even what the fork would vouch for.
	if _, err := restarted.Check(ctx, modOf(a)); !errors.As(err, &uv) || uv.Reason != verify.Misbehaving {
		t.Errorf("after a security error: %v, want Misbehaving", err)
	}
}

// TestForkIsRemembered: a detected fork is recorded in the store, so another
// process (a restart, a replica) refuses at once, before any lookup, until an
// operator clears it; a running process notices the clearing on Refresh.
func TestForkIsRemembered(t *testing.T) {
	skey, vkey := testkit.NewSumDBKey(t, "sum.test")
	a := built(t, "example.com/a", "v1.0.0", "a")
	b := built(t, "example.com/b", "v1.0.0", "b")
	honest := testkit.NewSumDBSigned(t, skey, vkey, a, b)
	forked := testkit.NewSumDBSigned(t, skey, vkey, a, b)
	sw := testkit.NewSwitch(t, honest.URL)
	st := openStore(t)
	ctx := context.Background()

	v := newVerifier(t, st, honest, sw.URL, nil)
	if _, err := v.Check(ctx, zipOf(a)); err != nil {
		t.Fatal(err)
	}
	forked.Add(b)
	if _, err := http.Get(forked.URL + "/lookup/example.com/b@v1.0.0"); err != nil {
		t.Fatal(err)
	}
	sw.Set(forked.URL)
	if _, err := v.Check(ctx, zipOf(b)); err == nil || v.Err() == nil {
		t.Fatalf("fork not detected: %v", err)
	}
	if f, err := st.SumDBFork(ctx, "sum.test"); err != nil || f.Detail == "" {
		t.Fatalf("fork not recorded: %+v, %v", f, err)
	}

	// A restart, now with the honest database back: still refused, without
	// asking the database, until the record is cleared.
	sw.Set(honest.URL)
	restarted := newVerifier(t, st, honest, sw.URL, nil)
	if err := restarted.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if restarted.Err() == nil {
		t.Fatal("a restarted verifier forgot the fork")
	}
	lookups := honest.Lookups("example.com/b", "v1.0.0")
	var uv *verify.UnverifiedError
	if _, err := restarted.Check(ctx, zipOf(b)); !errors.As(err, &uv) || uv.Reason != verify.Misbehaving {
		t.Errorf("after a restart: %v, want Misbehaving", err)
	}
	if n := honest.Lookups("example.com/b", "v1.0.0"); n != lookups {
		t.Errorf("the refusal asked the database (%d lookups)", n-lookups)
	}
	// The operator clears it (modgate checksum reset-fork): a running
	// process verifies again after its next Refresh.
	if _, err := st.ClearSumDBFork(ctx, "sum.test"); err != nil {
		t.Fatal(err)
	}
	if err := restarted.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := restarted.Err(); err != nil {
		t.Errorf("after the operator cleared the fork: Err() = %v", err)
	}
	if _, err := restarted.Check(ctx, zipOf(b)); err != nil {
		t.Errorf("after the operator cleared the fork, the honest database's record: %v", err)
	}
}

// TestTamperedPinVouchesForNothing: a hash recorded in the checksum store
// behind modgate's back (edited, or inserted without its audit record)
// does not vouch for bytes, even bytes that match it.
func TestTamperedPinVouchesForNothing(t *testing.T) {
	good := built(t, "corp.example.com/m", "v1.0.0", "good")
	evil := built(t, "corp.example.com/m", "v1.0.0", "evil")
	other := built(t, "corp.example.com/other", "v1.0.0", "x")
	when := built(t, "corp.example.com/when", "v1.0.0", "w")
	from := built(t, "corp.example.com/from", "v1.0.0", "f")
	path := filepath.Join(t.TempDir(), "modgate.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := context.Background()
	v, err := verify.New(verify.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Check(ctx, zipOf(good)); err != nil { // pinned on first use, with its record
		t.Fatal(err)
	}
	if _, err := v.Check(ctx, zipOf(good)); err != nil {
		t.Fatalf("the pinned bytes again: %v", err)
	}
	for _, b := range []*testkit.Built{when, from} {
		if _, err := v.Check(ctx, zipOf(b)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`UPDATE checksums SET hash = ? WHERE module_path = 'corp.example.com/m'`, evil.Hash); err != nil {
		t.Fatal(err)
	}
	// Rows the store could not have written: a time that does not parse,
	// an empty source.
	if _, err := raw.Exec(`UPDATE checksums SET created_at = 'garbage' WHERE module_path = 'corp.example.com/when'`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE checksums SET source = '' WHERE module_path = 'corp.example.com/from'`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO checksums (module_path, version, kind, hash, source, upstream, client, created_at)
		VALUES ('corp.example.com/other', 'v1.0.0', 'zip', ?, 'tofu', '', '', '2026-01-01T00:00:00.000000Z')`, other.Hash); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		a    verify.Artifact
		want string
	}{
		{"edited pin, matching bytes", zipOf(evil), "but audit record 1 pinned " + good.Hash + ": the pin was changed behind modgate's back"},
		{"edited pin, the original bytes", zipOf(good), "the pin was changed behind modgate's back"},
		{"pin without a record", zipOf(other), "the audit log has no record of that pin"},
		{"unparsable created_at", zipOf(when), "modgate's recorded checksum for corp.example.com/when@v1.0.0 cannot be read: the checksum store was edited behind modgate's back; created_at: "},
		{"empty source", zipOf(from), "modgate's recorded checksum for corp.example.com/from@v1.0.0 cannot be read: the checksum store was edited behind modgate's back; empty checksum source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Check(ctx, tc.a)
			var me *verify.MismatchError
			if !errors.As(err, &me) || me.Tampered == "" || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %v, want a MismatchError saying %q", err, tc.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), tc.a.Module.Path+"@v1.0.0: .zip refused: modgate's recorded checksum cannot be trusted\n") {
				t.Errorf("the go command's first line should say what and why:\n%v", err)
			}
		})
	}
}

// TestClientBudget: the sumdb client, which keeps every tile and record it
// read, is replaced once it has read more than Options.ClientBudget; a
// replacement still verifies everything (tree head from the store, tiles
// checked again), refuses tampered bytes, and catches a fork of the log that
// happened while the old client was in use.
func TestClientBudget(t *testing.T) {
	skey, vkey := testkit.NewSumDBKey(t, "sum.test")
	var mods []*testkit.Built
	for i := range 40 {
		mods = append(mods, built(t, fmt.Sprintf("example.com/m%02d", i), "v1.0.0", "x"))
	}
	honest := testkit.NewSumDBSigned(t, skey, vkey, mods...)
	ctx := context.Background()

	// The default budget: one client does all of it.
	roomy := newVerifier(t, openStore(t), honest, honest.URL, nil)
	for _, b := range mods[:30] {
		if res, err := roomy.Check(ctx, zipOf(b)); err != nil || res.Source != "sumdb:sum.test" {
			t.Fatalf("%s: %+v, %v", b.Path, res, err)
		}
	}
	if n := roomy.ClientsMade(); n != 0 {
		t.Errorf("default budget: %d clients made after the first, want 0", n)
	}

	// A budget of one byte: a new client after every lookup.
	sw := testkit.NewSwitch(t, honest.URL)
	st := openStore(t)
	var alerts atomic.Int32
	tight := newVerifier(t, st, honest, sw.URL, func(o *verify.Options) {
		o.ClientBudget = 1
		o.OnSecurityError = func(string) { alerts.Add(1) }
	})
	for _, b := range mods[:30] {
		for _, a := range []verify.Artifact{modOf(b), zipOf(b)} {
			if res, err := tight.Check(ctx, a); err != nil || res.Source != "sumdb:sum.test" {
				t.Fatalf("%s .%s: %+v, %v", b.Path, a.Kind, res, err)
			}
		}
	}
	if n := tight.ClientsMade(); n < 29 {
		t.Errorf("budget of 1 byte: %d clients made after the first, want one per lookup (29 or more)", n)
	}
	evil := built(t, mods[30].Path, "v1.0.0", "evil")
	var mm *verify.MismatchError
	if _, err := tight.Check(ctx, zipOf(evil)); !errors.As(err, &mm) || mm.Want != mods[30].Hash {
		t.Fatalf("tampered zip after the client was replaced: %v, want a mismatch with %s", err, mods[30].Hash)
	}

	// A fork: same key, same size, other records. The client in use has
	// the honest tree in memory; its replacement has only the store's.
	forked := testkit.NewSumDBSigned(t, skey, vkey)
	for _, b := range mods[:31] {
		forked.Add(b)
	}
	forked.Add(mods[32])
	for _, b := range append([]*testkit.Built{mods[32]}, mods[:31]...) {
		if _, err := http.Get(forked.URL + "/lookup/" + b.Path + "@v1.0.0"); err != nil {
			t.Fatal(err)
		}
	}
	sw.Set(forked.URL)
	_, err := tight.Check(ctx, zipOf(mods[32]))
	var uv *verify.UnverifiedError
	if !errors.As(err, &uv) || uv.Reason != verify.Misbehaving {
		t.Fatalf("forked database after the client was replaced: %v, want Misbehaving", err)
	}
	if alerts.Load() != 1 {
		t.Errorf("security alerts: %d, want 1", alerts.Load())
	}
}
