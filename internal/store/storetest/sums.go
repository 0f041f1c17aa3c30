package storetest

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// sumsTests are the conformance cases of the Sums and SumDBState roles, and of
// EachArtifact.
var sumsTests = []testCase{
	{"ChecksumRoundTrip", testChecksumRoundTrip},
	{"ChecksumFirstWriterWins", testChecksumFirstWriterWins},
	{"ChecksumInvalid", testChecksumInvalid},
	{"EachChecksumOrdered", testEachChecksum},
	{"EachArtifact", testEachArtifact},
	{"SumDBConfigSwap", testSumDBConfigSwap},
	{"SumDBConfigSwapConcurrent", testSumDBConfigSwapConcurrent},
	{"ChecksumPinAudited", testChecksumPinAudited},
	{"SumDBForkRoundTrip", testSumDBForkRoundTrip},
}

func testChecksumRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/Upper/" + hostile, Version: "v1.0.0"}
	if _, err := s.Checksum(ctx, m, store.KindZip); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Checksum of nothing = %v, want fs.ErrNotExist", err)
	}
	in := &store.Checksum{Module: m, Kind: store.KindZip, Hash: "h1:abc=", Source: store.SourceTOFU,
		Upstream: "https://corp.example/" + hostile, Client: "10.0.0.1", CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600))}
	got, err := s.PutChecksum(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want := *in
	want.CreatedAt = in.CreatedAt.UTC()
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("PutChecksum returned (-want +got):\n%s", diff)
	}
	read, err := s.Checksum(ctx, m, store.KindZip)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, read); diff != "" {
		t.Errorf("Checksum read back (-want +got):\n%s", diff)
	}
	if !isUTC(read.CreatedAt) {
		t.Errorf("CreatedAt not UTC: %v", read.CreatedAt.Location())
	}
	if _, err := s.Checksum(ctx, m, store.KindMod); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the mod hash exists without being put: %v", err)
	}
}

func testChecksumFirstWriterWins(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	var wg sync.WaitGroup
	results := make([]*store.Checksum, 20)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := s.PutChecksum(ctx, &store.Checksum{Module: m, Kind: store.KindMod, Hash: fmt.Sprintf("h1:%d=", i), Source: store.SourceTOFU})
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = c
		}(i)
	}
	wg.Wait()
	for i, c := range results {
		if c == nil || c.Hash != results[0].Hash {
			t.Fatalf("writer %d got %+v, writer 0 got %+v: want one winner for all", i, c, results[0])
		}
	}
	// Only the winner's pin is in the audit log.
	events, err := s.AuditEvents(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("%d audit records after 20 racing pins, want 1", len(events))
	}
	if _, _, h, ok := store.Pin(events[0]); !ok || h != results[0].Hash {
		t.Errorf("the audit record names %q, the winner pinned %q", h, results[0].Hash)
	}
}

// testChecksumPinAudited: a recorded hash is an audit record in the chain,
// appended with the pin; a hash recorded already appends nothing.
func testChecksumPinAudited(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "corp.example.com/" + hostile, Version: "v1.0.0"}
	pins := []*store.Checksum{
		{Module: m, Kind: store.KindZip, Hash: "h1:zip=", Source: store.SourceTOFU, Upstream: "https://corp.example/" + hostile, Client: "alice (10.0.0.1)"},
		{Module: m, Kind: store.KindMod, Hash: "h1:mod=", Source: store.SourceGoSum + "/src/go.sum", Client: "ops via modgate checksum import"},
		{Module: module.Version{Path: "golang.org/x/text", Version: "v0.3.8"}, Kind: store.KindZip, Hash: "h1:pub=", Source: store.SourceSumDB + "sum.golang.org", Upstream: "https://proxy.golang.org", Client: "10.0.0.2"},
	}
	for _, c := range pins {
		if _, err := s.PutChecksum(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// The same hash again, and a different one: no change, no record.
	for _, h := range []string{"h1:zip=", "h1:other="} {
		if _, err := s.PutChecksum(ctx, &store.Checksum{Module: m, Kind: store.KindZip, Hash: h, Source: store.SourceTOFU}); err != nil {
			t.Fatal(err)
		}
	}
	events, err := s.AuditEvents(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	type pin struct {
		Mod               module.Version
		Kind              store.Kind
		Hash, By, Asked   string
		Type, Decision    string
		Source            string
		Token, IP         string
		Seq               int64
		HashOK, ChainedOK bool
	}
	var got []pin
	prev := ""
	for _, e := range events {
		mod, k, h, ok := store.Pin(e)
		if !ok {
			t.Errorf("record %d is not a pin: %+v", e.Seq, e)
			continue
		}
		p := pin{Mod: mod, Kind: k, Hash: h, Type: e.Type, Decision: e.Decision, Source: e.Source, Seq: e.Seq, Token: e.ClientToken, IP: e.ClientIP,
			HashOK: store.AuditHash(e) == e.Hash, ChainedOK: e.PrevHash == prev}
		prev = e.Hash
		if len(e.Reasons) > 1 {
			p.By = e.Reasons[1]
		}
		if len(e.Reasons) > 2 {
			p.Asked = e.Reasons[2]
		}
		got = append(got, p)
	}
	want := []pin{
		{Mod: m, Kind: store.KindZip, Hash: "h1:zip=", By: "vouched for by first use via https://corp.example/" + hostile, Asked: "asked by alice (10.0.0.1)", Token: "alice", IP: "10.0.0.1",
			Type: store.AuditChecksum, Decision: store.DecisionPinned, Source: "https://corp.example/" + hostile, Seq: 1, HashOK: true, ChainedOK: true},
		{Mod: m, Kind: store.KindMod, Hash: "h1:mod=", By: "vouched for by import of /src/go.sum", Asked: "asked by ops via modgate checksum import",
			Type: store.AuditChecksum, Decision: store.DecisionPinned, Seq: 2, HashOK: true, ChainedOK: true},
		{Mod: module.Version{Path: "golang.org/x/text", Version: "v0.3.8"}, Kind: store.KindZip, Hash: "h1:pub=", By: "vouched for by checksum database sum.golang.org", Asked: "asked by 10.0.0.2", IP: "10.0.0.2",
			Type: store.AuditChecksum, Decision: store.DecisionPinned, Source: "https://proxy.golang.org", Seq: 3, HashOK: true, ChainedOK: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pin records (-want +got):\n%s", diff)
	}
	chain, err := s.AuditChain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if chain.HeadSeq != 3 || chain.HeadHash != events[len(events)-1].Hash {
		t.Errorf("chain head %d %s after the pins, want 3 and the last record's hash", chain.HeadSeq, chain.HeadHash)
	}
}

func testSumDBForkRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.SumDBFork(ctx, "sum.golang.org"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("SumDBFork of nothing = %v, want fs.ErrNotExist", err)
	}
	if _, err := s.ClearSumDBFork(ctx, "sum.golang.org"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ClearSumDBFork of nothing = %v, want fs.ErrNotExist", err)
	}
	first := &store.SumDBFork{DB: "sum.golang.org", Detail: "downloaded inconsistent tile\n" + hostile,
		DetectedAt: time.Date(2026, 1, 2, 3, 4, 5, 6789, time.FixedZone("x", 3600))}
	got, err := s.PutSumDBFork(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	want := *first
	want.DetectedAt = time.Date(2026, 1, 2, 2, 4, 5, 6000, time.UTC)
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("PutSumDBFork (-want +got):\n%s", diff)
	}
	// A later detection keeps the first.
	got, err = s.PutSumDBFork(ctx, &store.SumDBFork{DB: "sum.golang.org", Detail: "later"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("second PutSumDBFork (-want +got):\n%s", diff)
	}
	// Another database is independent; a zero time is set by the store.
	other, err := s.PutSumDBFork(ctx, &store.SumDBFork{DB: "sum.other.test", Detail: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if other.DetectedAt.IsZero() || !isUTC(other.DetectedAt) {
		t.Errorf("DetectedAt not set by the store: %v", other.DetectedAt)
	}
	read, err := s.SumDBFork(ctx, "sum.golang.org")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, read); diff != "" {
		t.Errorf("SumDBFork (-want +got):\n%s", diff)
	}
	cleared, err := s.ClearSumDBFork(ctx, "sum.golang.org")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, cleared); diff != "" {
		t.Errorf("ClearSumDBFork (-want +got):\n%s", diff)
	}
	if _, err := s.SumDBFork(ctx, "sum.golang.org"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SumDBFork after clearing = %v, want fs.ErrNotExist", err)
	}
	if _, err := s.SumDBFork(ctx, "sum.other.test"); err != nil {
		t.Errorf("clearing one database cleared another: %v", err)
	}
	if _, err := s.PutSumDBFork(ctx, &store.SumDBFork{Detail: "x"}); err == nil {
		t.Errorf("PutSumDBFork without a database name succeeded")
	}
}

func testChecksumInvalid(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	for _, c := range []*store.Checksum{
		{Module: m, Kind: store.KindInfo, Hash: "h1:x=", Source: "tofu"},
		{Module: m, Kind: store.KindZip, Hash: "sha256:x", Source: "tofu"},
		{Module: m, Kind: store.KindZip, Hash: "h1:x=", Source: ""},
		{Module: module.Version{Path: "example.com/m"}, Kind: store.KindZip, Hash: "h1:x=", Source: "tofu"},
	} {
		if _, err := s.PutChecksum(ctx, c); err == nil {
			t.Errorf("PutChecksum(%+v) succeeded, want an error", c)
		}
	}
}

func testEachChecksum(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for _, p := range []string{"example.com/b", "example.com/a"} {
		for _, k := range []store.Kind{store.KindZip, store.KindMod} {
			if _, err := s.PutChecksum(ctx, &store.Checksum{Module: module.Version{Path: p, Version: "v1.0.0"}, Kind: k, Hash: "h1:x=", Source: "tofu"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	err := s.EachChecksum(ctx, func(c *store.Checksum) error {
		got = append(got, c.Module.Path+" "+string(c.Kind))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"example.com/a mod", "example.com/a zip", "example.com/b mod", "example.com/b zip"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EachChecksum order (-want +got):\n%s", diff)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.EachChecksum(ctx, func(*store.Checksum) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("EachChecksum did not stop at fn's error: %v after %d calls", err, n)
	}
}

func testEachArtifact(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	data := []byte("module example.com/m\n")
	for _, v := range []string{"v1.1.0", "v1.0.0"} {
		if _, err := s.PutArtifact(ctx, &store.Artifact{Module: module.Version{Path: "example.com/m", Version: v}, Kind: store.KindMod,
			SHA256: sum(data), Size: int64(len(data)), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := s.EachArtifact(ctx, func(a *store.Artifact) error {
		if a.Data != nil {
			t.Errorf("EachArtifact returned inline data")
		}
		got = append(got, a.Module.Version+" "+string(a.Kind)+" "+a.SHA256[:8])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"v1.0.0 mod " + sum(data)[:8], "v1.1.0 mod " + sum(data)[:8]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EachArtifact (-want +got):\n%s", diff)
	}
}

func testSumDBConfigSwap(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const key = "sum.example.com/latest"
	if _, err := s.SumDBConfig(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("SumDBConfig of nothing = %v, want fs.ErrNotExist", err)
	}
	if err := s.SwapSumDBConfig(ctx, key, []byte("stale"), []byte("a")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("swap from a wrong old value of an absent key = %v, want ErrConflict", err)
	}
	if err := s.SwapSumDBConfig(ctx, key, nil, []byte("a")); err != nil {
		t.Fatalf("first swap: %v", err)
	}
	if err := s.SwapSumDBConfig(ctx, key, nil, []byte("b")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("swap from a stale empty value = %v, want ErrConflict", err)
	}
	if err := s.SwapSumDBConfig(ctx, key, []byte("a"), []byte("b\x00c")); err != nil {
		t.Fatalf("second swap: %v", err)
	}
	got, err := s.SumDBConfig(ctx, key)
	if err != nil || string(got) != "b\x00c" {
		t.Errorf("SumDBConfig = %q, %v; want %q", got, err, "b\x00c")
	}
}

func testSumDBConfigSwapConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	const key = "sum.example.com/latest"
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := s.SwapSumDBConfig(ctx, key, nil, []byte(fmt.Sprint(i)))
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, store.ErrConflict) {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent swaps from empty succeeded, want exactly 1", wins)
	}
}

// PinEdit is an edit behind the store's back of one column of the checksum
// row of (m, k), made by a driver's own test with raw SQL: the column is
// "hash", "source" or "created_at", and value the text written into it.
type PinEdit func(t *testing.T, m module.Version, k store.Kind, column, value string)

// CorruptChecksums checks that checksum rows edited behind the store's back
// into something it could not have written (each of corruptions, column to
// value; the driver lists what its column types can hold) are reported per
// row: Checksum returns a *store.CorruptChecksumError naming the row and the
// column, and EachChecksum hands the row to fn with Corrupt set and goes on
// to the rows after it.
func CorruptChecksums(t *testing.T, s store.Store, edit PinEdit, corruptions map[string]string) {
	ctx := t.Context()
	pin := func(path string, k store.Kind) module.Version {
		m := module.Version{Path: path, Version: "v1.0.0"}
		if _, err := s.PutChecksum(ctx, &store.Checksum{Module: m, Kind: k, Hash: "h1:" + path[:1] + "AAA=", Source: store.SourceTOFU}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for column, value := range corruptions {
		t.Run(column, func(t *testing.T) {
			// Rows before and after the edited one, in EachChecksum's order.
			prefix := "example.com/" + column
			first, bad, last := pin(prefix+"/a", store.KindZip), pin(prefix+"/b", store.KindZip), pin(prefix+"/c", store.KindMod)
			badMod := pin(prefix+"/b", store.KindMod)
			edit(t, bad, store.KindZip, column, value)

			_, err := s.Checksum(ctx, bad, store.KindZip)
			var corrupt *store.CorruptChecksumError
			if !errors.As(err, &corrupt) || corrupt.Module != bad || corrupt.Kind != store.KindZip ||
				!strings.Contains(corrupt.Detail, column[:4]) {
				t.Fatalf("Checksum of a row whose %s is %q: %v, want a *store.CorruptChecksumError naming the row and the column", column, value, err)
			}
			if c, err := s.Checksum(ctx, badMod, store.KindMod); err != nil || c.Corrupt != nil {
				t.Errorf("Checksum of the same version's untouched .mod row: %v %v", c, err)
			}
			// PutChecksum of the key reads the row back: the same error, no
			// pin that vouches.
			if c, err := s.PutChecksum(ctx, &store.Checksum{Module: bad, Kind: store.KindZip, Hash: "h1:AAAA", Source: store.SourceTOFU}); !errors.As(err, &corrupt) {
				t.Errorf("PutChecksum over a corrupt row: %v %v, want a *store.CorruptChecksumError", c, err)
			}

			var got []string
			err = s.EachChecksum(ctx, func(c *store.Checksum) error {
				if !strings.HasPrefix(c.Module.Path, prefix+"/") {
					return nil
				}
				line := c.Module.Path + " " + string(c.Kind)
				if c.Corrupt != nil {
					line += " corrupt"
					if c.Corrupt.Module != c.Module || c.Corrupt.Kind != c.Kind {
						t.Errorf("Corrupt of %s names %s .%s", line, c.Corrupt.Module, c.Corrupt.Kind)
					}
				}
				got = append(got, line)
				return nil
			})
			if err != nil {
				t.Fatalf("EachChecksum stopped at a corrupt row: %v", err)
			}
			want := []string{first.Path + " zip", bad.Path + " mod", bad.Path + " zip corrupt", last.Path + " mod"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("EachChecksum with a corrupt row (-want +got):\n%s", diff)
			}
		})
	}
}
