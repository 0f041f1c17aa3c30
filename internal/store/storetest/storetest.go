// Package storetest is the conformance suite of [store.Store]: every driver's
// tests call [Run], so the drivers behave the same and callers may rely on the
// contract written in package store rather than on a driver.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// testCase is one conformance check.
type testCase struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// Run runs the conformance suite. open must return a new, empty, migrated store
// each time it is called; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []testCase{
		{"NotFound", testNotFound},
		{"ArtifactRoundTrip", testArtifactRoundTrip},
		{"ArtifactCreatedAtDefault", testArtifactCreatedAtDefault},
		{"ArtifactKeys", testArtifactKeys},
		{"ArtifactInvalid", testArtifactInvalid},
		{"ArtifactFirstWriterWins", testArtifactFirstWriterWins},
		{"ArtifactFirstWriterWinsConcurrent", testArtifactFirstWriterWinsConcurrent},
		{"ArtifactCopies", testArtifactCopies},
		{"MetaRoundTrip", testMetaRoundTrip},
		{"MetaReplaces", testMetaReplaces},
		{"TileRoundTrip", testTileRoundTrip},
		{"TileKeepsFirst", testTileKeepsFirst},
		{"LockExcludes", testLockExcludes},
		{"LockKeysIndependent", testLockKeysIndependent},
		{"LockCancelWhileWaiting", testLockCancelWhileWaiting},
		{"LockCancelledContext", testLockCancelledContext},
		{"LockMutualExclusion", testLockMutualExclusion},
		{"Ping", testPing},
	}
	// Each later feature lists its cases in a file of its own.
	tests = append(tests, sumsTests...)
	tests = append(tests, vulnTests...)
	tests = append(tests, auditTests...)
	tests = append(tests, sbomTests...)
	tests = append(tests, exemptionTests...)
	tests = append(tests, tokenTests...)
	tests = append(tests, lockoutTests...)
	tests = append(tests, integrityTests...)
	tests = append(tests, indexTests...)
	tests = append(tests, advisoryTests...)
	tests = append(tests, leaseTests...)
	tests = append(tests, treeSizeTests...)
	tests = append(tests, capabilityTests...)
	tests = append(tests, originTests...)
	tests = append(tests, upstreamTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// hostile is stored and read back verbatim wherever a string goes.
const hostile = `'; DROP TABLE artifacts; --`

// waitBlocked is how long a goroutine must stay blocked for the suite to believe
// it is blocked on a lock.
const waitBlocked = 150 * time.Millisecond

// waitLong bounds waits that should end promptly, so a broken driver fails the
// test instead of hanging it.
const waitLong = 20 * time.Second

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	t.Cleanup(cancel)
	return ctx
}

func isUTC(t time.Time) bool { return t.Location() == time.UTC }

func testNotFound(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mod := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	tests := []struct {
		name string
		call func() error
	}{
		{"Artifact", func() error { _, err := s.Artifact(ctx, mod, store.KindMod); return err }},
		{"ArtifactHostile", func() error {
			_, err := s.Artifact(ctx, module.Version{Path: hostile, Version: hostile}, store.Kind(hostile))
			return err
		}},
		{"Meta", func() error { _, err := s.Meta(ctx, "example.com/m", store.MetaList); return err }},
		{"Tile", func() error { _, err := s.Tile(ctx, "sum.golang.org", "tile/8/0/000"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("got error %v, want one satisfying errors.Is(err, fs.ErrNotExist)", err)
			}
		})
	}
}

func testArtifactRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	created := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("UTC+5", 5*3600))
	binary := []byte("\x00go.mod\x00\xff\xfe\x00")
	tests := []struct {
		name string
		in   store.Artifact
	}{
		{"info", store.Artifact{
			Module: module.Version{Path: "example.com/m", Version: "v1.0.0"}, Kind: store.KindInfo,
			SHA256: sum([]byte(`{"Version":"v1.0.0"}`)), Size: 20, Data: []byte(`{"Version":"v1.0.0"}`),
			Upstream: "https://proxy.golang.org", CreatedAt: created,
		}},
		{"mod empty data", store.Artifact{
			Module: module.Version{Path: "example.com/m", Version: "v1.0.0"}, Kind: store.KindMod,
			SHA256: sum(nil), Size: 0, Data: []byte{}, Upstream: "direct", CreatedAt: created,
		}},
		{"zip nil data", store.Artifact{
			Module: module.Version{Path: "example.com/m", Version: "v1.0.0"}, Kind: store.KindZip,
			SHA256: sum([]byte("zip")), Size: 1 << 40, Data: nil, Upstream: "file:///srv/mods", CreatedAt: created,
		}},
		{"binary with NUL", store.Artifact{
			Module: module.Version{Path: "example.com/bin", Version: "v0.0.0-20240229235958-0123456789ab"}, Kind: store.KindMod,
			SHA256: sum(binary), Size: int64(len(binary)), Data: binary, CreatedAt: created,
		}},
		{"upper case path", store.Artifact{
			Module: module.Version{Path: "github.com/Azure/Go-AutoRest", Version: "v14.2.0+incompatible"}, Kind: store.KindMod,
			SHA256: sum([]byte("module x")), Size: 8, Data: []byte("module x"), CreatedAt: created,
		}},
		{"lower case path differs", store.Artifact{
			Module: module.Version{Path: "github.com/azure/go-autorest", Version: "v14.2.0+incompatible"}, Kind: store.KindMod,
			SHA256: sum([]byte("module y")), Size: 8, Data: []byte("module y"), CreatedAt: created,
		}},
		{"hostile strings", store.Artifact{
			Module: module.Version{Path: "example.com/" + hostile + `/"\%_*?`, Version: "v1.0.0-" + hostile}, Kind: store.KindInfo,
			SHA256: sum([]byte(hostile)), Size: int64(len(hostile)), Data: []byte(hostile),
			Upstream: hostile, CreatedAt: created,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.in
			want.Data = bytes.Clone(tt.in.Data)
			want.CreatedAt = created.UTC().Truncate(time.Microsecond)

			in := tt.in
			put, err := s.PutArtifact(ctx, &in)
			if err != nil {
				t.Fatalf("PutArtifact: %v", err)
			}
			if diff := cmp.Diff(&want, put); diff != "" {
				t.Errorf("PutArtifact returned (-want +got):\n%s", diff)
			}
			got, err := s.Artifact(ctx, tt.in.Module, tt.in.Kind)
			if err != nil {
				t.Fatalf("Artifact: %v", err)
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("Artifact returned (-want +got):\n%s", diff)
			}
			for name, a := range map[string]*store.Artifact{"PutArtifact": put, "Artifact": got} {
				if !isUTC(a.CreatedAt) || !a.CreatedAt.Equal(want.CreatedAt) {
					t.Errorf("%s: CreatedAt = %v (%v), want %v in UTC", name, a.CreatedAt, a.CreatedAt.Location(), want.CreatedAt)
				}
			}
		})
	}
}

func testArtifactCreatedAtDefault(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	before := time.Now().Add(-time.Second)
	a := &store.Artifact{
		Module: module.Version{Path: "example.com/m", Version: "v1.0.0"}, Kind: store.KindMod,
		SHA256: sum([]byte("module m")), Size: 8, Data: []byte("module m"),
	}
	put, err := s.PutArtifact(ctx, a)
	if err != nil {
		t.Fatalf("PutArtifact: %v", err)
	}
	after := time.Now().Add(time.Second)
	got, err := s.Artifact(ctx, a.Module, a.Kind)
	if err != nil {
		t.Fatalf("Artifact: %v", err)
	}
	if diff := cmp.Diff(put, got); diff != "" {
		t.Errorf("Artifact differs from what PutArtifact returned (-put +got):\n%s", diff)
	}
	if !isUTC(got.CreatedAt) || got.CreatedAt.Before(before) || got.CreatedAt.After(after) {
		t.Errorf("CreatedAt = %v, want a UTC time between %v and %v", got.CreatedAt, before, after)
	}
	if !a.CreatedAt.IsZero() {
		t.Errorf("PutArtifact changed its argument's CreatedAt to %v", a.CreatedAt)
	}
}

// testArtifactKeys checks that module path, version and kind each tell
// artifacts apart.
func testArtifactKeys(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	keys := []struct {
		mod  module.Version
		kind store.Kind
	}{
		{module.Version{Path: "example.com/a", Version: "v1.0.0"}, store.KindInfo},
		{module.Version{Path: "example.com/a", Version: "v1.0.0"}, store.KindMod},
		{module.Version{Path: "example.com/a", Version: "v1.0.1"}, store.KindMod},
		{module.Version{Path: "example.com/A", Version: "v1.0.0"}, store.KindMod},
		{module.Version{Path: "example.com/a/v2", Version: "v2.0.0"}, store.KindMod},
	}
	for _, k := range keys {
		data := []byte(fmt.Sprintf("%s %s", k.mod, k.kind))
		a := &store.Artifact{Module: k.mod, Kind: k.kind, SHA256: sum(data), Size: int64(len(data)), Data: data}
		if _, err := s.PutArtifact(ctx, a); err != nil {
			t.Fatalf("PutArtifact(%s %s): %v", k.mod, k.kind, err)
		}
	}
	for _, k := range keys {
		got, err := s.Artifact(ctx, k.mod, k.kind)
		if err != nil {
			t.Fatalf("Artifact(%s %s): %v", k.mod, k.kind, err)
		}
		if want := fmt.Sprintf("%s %s", k.mod, k.kind); string(got.Data) != want {
			t.Errorf("Artifact(%s %s).Data = %q, want %q", k.mod, k.kind, got.Data, want)
		}
	}
	_, err := s.Artifact(ctx, module.Version{Path: "example.com/a", Version: "v1.0.1"}, store.KindInfo)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Artifact of a kind never stored: got %v, want fs.ErrNotExist", err)
	}
}

func testArtifactInvalid(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mod := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	data := []byte("module m")
	valid := store.Artifact{Module: mod, Kind: store.KindMod, SHA256: sum(data), Size: int64(len(data)), Data: data}
	tests := []struct {
		name   string
		change func(a *store.Artifact)
	}{
		{"unknown kind", func(a *store.Artifact) { a.Kind = "tar" }},
		{"empty kind", func(a *store.Artifact) { a.Kind = "" }},
		{"upper-case SHA256", func(a *store.Artifact) { a.SHA256 = "AB" + a.SHA256[2:] }},
		{"short SHA256", func(a *store.Artifact) { a.SHA256 = a.SHA256[:63] }},
		{"empty SHA256", func(a *store.Artifact) { a.SHA256 = "" }},
		{"negative size", func(a *store.Artifact) { a.Data, a.Size = nil, -1 }},
		{"size mismatch", func(a *store.Artifact) { a.Size++ }},
		{"zip with data", func(a *store.Artifact) { a.Kind = store.KindZip }},
		{"empty path", func(a *store.Artifact) { a.Module.Path = "" }},
		{"empty version", func(a *store.Artifact) { a.Module.Version = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := valid
			tt.change(&a)
			if got, err := s.PutArtifact(ctx, &a); err == nil {
				t.Fatalf("PutArtifact(%+v) = %+v, want an error", a, got)
			}
			if _, err := s.Artifact(ctx, a.Module, a.Kind); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after a rejected PutArtifact, Artifact: got %v, want fs.ErrNotExist", err)
			}
		})
	}
}

func testArtifactFirstWriterWins(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mod := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	first := &store.Artifact{Module: mod, Kind: store.KindMod, SHA256: sum([]byte("first")), Size: 5,
		Data: []byte("first"), Upstream: "https://one.example"}
	second := &store.Artifact{Module: mod, Kind: store.KindMod, SHA256: sum([]byte("second!")), Size: 7,
		Data: []byte("second!"), Upstream: "https://two.example", CreatedAt: time.Now().Add(time.Hour)}
	want, err := s.PutArtifact(ctx, first)
	if err != nil {
		t.Fatalf("PutArtifact(first): %v", err)
	}
	got, err := s.PutArtifact(ctx, second)
	if err != nil {
		t.Fatalf("PutArtifact(second): %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("second PutArtifact returned (-first +got):\n%s", diff)
	}
	got, err = s.Artifact(ctx, mod, store.KindMod)
	if err != nil {
		t.Fatalf("Artifact: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Artifact after two puts (-first +got):\n%s", diff)
	}
}

func testArtifactFirstWriterWinsConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const n = 50
	mod := module.Version{Path: "example.com/race", Version: "v1.2.3"}
	results := make([]*store.Artifact, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := []byte(fmt.Sprintf("module example.com/race // writer %d", i))
			a := &store.Artifact{Module: mod, Kind: store.KindMod, SHA256: sum(data), Size: int64(len(data)),
				Data: data, Upstream: fmt.Sprintf("writer %d", i)}
			<-start
			results[i], errs[i] = s.PutArtifact(ctx, a)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: PutArtifact: %v", i, err)
		}
	}
	want, err := s.Artifact(ctx, mod, store.KindMod)
	if err != nil {
		t.Fatalf("Artifact: %v", err)
	}
	if want.SHA256 != sum(want.Data) {
		t.Errorf("stored record mixes writers: SHA256 %s, Data %q", want.SHA256, want.Data)
	}
	for i, got := range results {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("writer %d got a record other than the stored one (-stored +got):\n%s", i, diff)
		}
	}
}

// testArtifactCopies checks that the store neither keeps nor hands out memory
// the caller can change afterwards.
func testArtifactCopies(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mod := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	data := []byte("module m")
	in := &store.Artifact{Module: mod, Kind: store.KindMod, SHA256: sum(data), Size: int64(len(data)), Data: data}
	put, err := s.PutArtifact(ctx, in)
	if err != nil {
		t.Fatalf("PutArtifact: %v", err)
	}
	data[0] = 'X'
	if string(put.Data) != "module m" {
		t.Errorf("PutArtifact's result shares Data with its argument: %q", put.Data)
	}
	put.Data[1] = 'Y'
	got, err := s.Artifact(ctx, mod, store.KindMod)
	if err != nil {
		t.Fatalf("Artifact: %v", err)
	}
	if string(got.Data) != "module m" {
		t.Errorf("stored Data changed to %q by the caller", got.Data)
	}
}

func testMetaRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	fetched := time.Date(2025, 1, 2, 3, 4, 5, 999999999, time.FixedZone("UTC-8", -8*3600))
	tests := []struct {
		name string
		in   store.Meta
		want store.Meta
	}{
		{"list",
			store.Meta{Path: "example.com/m", Kind: store.MetaList, Data: []byte("v1.0.0\nv1.1.0\n"), FetchedAt: fetched},
			store.Meta{Path: "example.com/m", Kind: store.MetaList, Data: []byte("v1.0.0\nv1.1.0\n"),
				FetchedAt: fetched.UTC().Truncate(time.Microsecond)}},
		{"latest of the same path",
			store.Meta{Path: "example.com/m", Kind: store.MetaLatest, Data: []byte(`{"Version":"v1.1.0"}`), FetchedAt: fetched},
			store.Meta{Path: "example.com/m", Kind: store.MetaLatest, Data: []byte(`{"Version":"v1.1.0"}`),
				FetchedAt: fetched.UTC().Truncate(time.Microsecond)}},
		{"empty list reads back empty, not nil",
			store.Meta{Path: "example.com/EMPTY", Kind: store.MetaList, Data: nil, FetchedAt: fetched},
			store.Meta{Path: "example.com/EMPTY", Kind: store.MetaList, Data: []byte{},
				FetchedAt: fetched.UTC().Truncate(time.Microsecond)}},
		{"hostile",
			store.Meta{Path: hostile, Kind: store.MetaList, Data: []byte("\x00" + hostile), FetchedAt: fetched},
			store.Meta{Path: hostile, Kind: store.MetaList, Data: []byte("\x00" + hostile),
				FetchedAt: fetched.UTC().Truncate(time.Microsecond)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if err := s.PutMeta(ctx, &in); err != nil {
				t.Fatalf("PutMeta: %v", err)
			}
			got, err := s.Meta(ctx, tt.in.Path, tt.in.Kind)
			if err != nil {
				t.Fatalf("Meta: %v", err)
			}
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("Meta (-want +got):\n%s", diff)
			}
			if !isUTC(got.FetchedAt) {
				t.Errorf("FetchedAt %v is in %v, want UTC", got.FetchedAt, got.FetchedAt.Location())
			}
		})
	}
}

func testMetaReplaces(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	old := &store.Meta{Path: "example.com/m", Kind: store.MetaList, Data: []byte("v1.0.0\n"), FetchedAt: t0}
	if err := s.PutMeta(ctx, old); err != nil {
		t.Fatalf("PutMeta(old): %v", err)
	}
	newer := &store.Meta{Path: "example.com/m", Kind: store.MetaList, Data: []byte("v1.0.0\nv1.0.1\n"), FetchedAt: t0.Add(time.Minute)}
	if err := s.PutMeta(ctx, newer); err != nil {
		t.Fatalf("PutMeta(new): %v", err)
	}
	got, err := s.Meta(ctx, "example.com/m", store.MetaList)
	if err != nil {
		t.Fatalf("Meta: %v", err)
	}
	if diff := cmp.Diff(newer, got); diff != "" {
		t.Errorf("Meta after replacing (-want +got):\n%s", diff)
	}

	// A zero FetchedAt is set by the store.
	before := time.Now().Add(-time.Second)
	if err := s.PutMeta(ctx, &store.Meta{Path: "example.com/m", Kind: store.MetaList, Data: []byte("x")}); err != nil {
		t.Fatalf("PutMeta(zero time): %v", err)
	}
	got, err = s.Meta(ctx, "example.com/m", store.MetaList)
	if err != nil {
		t.Fatalf("Meta: %v", err)
	}
	if !isUTC(got.FetchedAt) || got.FetchedAt.Before(before) || got.FetchedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("FetchedAt = %v, want about now, in UTC", got.FetchedAt)
	}
}

func testTileRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	tests := []struct {
		name     string
		db, path string
		data     []byte
	}{
		{"hash tile", "sum.golang.org", "tile/8/0/x001/234.p/5", []byte("\x00\x01\x02hash\x00")},
		{"data tile", "sum.golang.org", "tile/8/data/000", []byte("go.sum lines\n")},
		{"other db same path", "sum.example.com", "tile/8/0/x001/234.p/5", []byte("other")},
		{"hostile", hostile, hostile, []byte(hostile)},
	}
	for _, tt := range tests {
		if err := s.PutTile(ctx, tt.db, tt.path, tt.data); err != nil {
			t.Fatalf("%s: PutTile: %v", tt.name, err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Tile(ctx, tt.db, tt.path)
			if err != nil {
				t.Fatalf("Tile: %v", err)
			}
			if diff := cmp.Diff(tt.data, got); diff != "" {
				t.Errorf("Tile (-want +got):\n%s", diff)
			}
		})
	}
}

func testTileKeepsFirst(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if err := s.PutTile(ctx, "sum.golang.org", "tile/8/0/001", []byte("first")); err != nil {
		t.Fatalf("PutTile(first): %v", err)
	}
	if err := s.PutTile(ctx, "sum.golang.org", "tile/8/0/001", []byte("second")); err != nil {
		t.Fatalf("PutTile(second): %v", err)
	}
	got, err := s.Tile(ctx, "sum.golang.org", "tile/8/0/001")
	if err != nil {
		t.Fatalf("Tile: %v", err)
	}
	if diff := cmp.Diff([]byte("first"), got); diff != "" {
		t.Errorf("Tile after two puts (-first +got):\n%s", diff)
	}
}

// lockAsync calls Lock in a goroutine and reports the result on the channel.
func lockAsync(ctx context.Context, l store.Locker, key string) <-chan lockResult {
	ch := make(chan lockResult, 1)
	go func() {
		unlock, err := l.Lock(ctx, key)
		ch <- lockResult{unlock, err}
	}()
	return ch
}

type lockResult struct {
	unlock func()
	err    error
}

// LockExcludes checks that a second Lock of one key blocks until the first is
// released. It is exported so drivers can run it across two stores that share a
// database (two replicas): a and b may be the same store.
func LockExcludes(t *testing.T, a, b store.Locker) {
	t.Helper()
	ctx := ctxT(t)
	const key = "example.com/m@v1.0.0"
	unlock1, err := a.Lock(ctx, key)
	if err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	second := lockAsync(ctx, b, key)
	select {
	case r := <-second:
		if r.unlock != nil {
			r.unlock()
		}
		unlock1()
		t.Fatalf("second Lock of a held key returned (err %v) instead of blocking", r.err)
	case <-time.After(waitBlocked):
	}
	unlock1()
	select {
	case r := <-second:
		if r.err != nil {
			t.Fatalf("second Lock after unlock: %v", r.err)
		}
		r.unlock()
	case <-time.After(waitLong):
		t.Fatalf("second Lock still blocked %v after the first unlock", waitLong)
	}
	// Released again: the key can be taken at once.
	unlock3, err := a.Lock(ctx, key)
	if err != nil {
		t.Fatalf("third Lock: %v", err)
	}
	unlock3()
}

func testLockExcludes(t *testing.T, s store.Store) { LockExcludes(t, s, s) }

func testLockKeysIndependent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	unlockA, err := s.Lock(ctx, "a")
	if err != nil {
		t.Fatalf("Lock(a): %v", err)
	}
	defer unlockA()
	for _, key := range []string{"b", "A", "a ", hostile, ""} {
		select {
		case r := <-lockAsync(ctx, s, key):
			if r.err != nil {
				t.Fatalf("Lock(%q) while a is held: %v", key, r.err)
			}
			r.unlock()
		case <-time.After(waitLong):
			t.Fatalf("Lock(%q) blocked while only %q is held", key, "a")
		}
	}
}

func testLockCancelWhileWaiting(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const key = "example.com/m@v1.0.0"
	unlock, err := s.Lock(ctx, key)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	waiter := lockAsync(waitCtx, s, key)
	select {
	case r := <-waiter:
		t.Fatalf("Lock of a held key returned (err %v) instead of blocking", r.err)
	case <-time.After(waitBlocked):
	}
	cancel()
	select {
	case r := <-waiter:
		if r.err == nil {
			r.unlock()
			t.Fatalf("Lock whose context was cancelled while waiting succeeded")
		}
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("Lock whose context was cancelled: got %v, want context.Canceled", r.err)
		}
	case <-time.After(waitLong):
		t.Fatalf("Lock still blocked %v after its context was cancelled", waitLong)
	}
	unlock()
	// The cancelled waiter left nothing behind: the lock can be taken, twice in turn.
	for i := range 2 {
		select {
		case r := <-lockAsync(ctx, s, key):
			if r.err != nil {
				t.Fatalf("Lock after cancelled waiter (try %d): %v", i, r.err)
			}
			r.unlock()
		case <-time.After(waitLong):
			t.Fatalf("Lock after cancelled waiter blocked for %v", waitLong)
		}
	}
}

func testLockCancelledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	unlock, err := s.Lock(ctx, "free")
	if err == nil {
		unlock()
		t.Fatalf("Lock with a cancelled context succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a cancelled context: got %v, want context.Canceled", err)
	}
	unlock, err = s.Lock(ctxT(t), "free")
	if err != nil {
		t.Fatalf("Lock after a cancelled one: %v", err)
	}
	unlock()
}

func testLockMutualExclusion(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const goroutines, rounds = 10, 5
	var inside, maxInside, total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				unlock, err := s.Lock(ctx, "counter")
				if err != nil {
					errs <- err
					return
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				total.Add(1)
				time.Sleep(time.Millisecond) // widen the window for a broken lock
				inside.Add(-1)
				unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Lock: %v", err)
	}
	if got := maxInside.Load(); got != 1 {
		t.Errorf("%d goroutines held the lock at once, want 1", got)
	}
	if got, want := total.Load(), int64(goroutines*rounds); got != want {
		t.Errorf("lock taken %d times, want %d", got, want)
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctxT(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
