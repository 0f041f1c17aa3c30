package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/modgate/modgate/internal/store"
)

// auditTests are the conformance cases of the audit role.
var auditTests = []testCase{
	{"AuditEmpty", testAuditEmpty},
	{"AuditAppendChain", testAuditAppendChain},
	{"AuditRoundTrip", testAuditRoundTrip},
	{"AuditQuery", testAuditQuery},
	{"AuditPaging", testAuditPaging},
	{"AuditConcurrentAppend", testAuditConcurrentAppend},
	{"AuditPrune", testAuditPrune},
	{"AuditCheckpoints", testAuditCheckpoints},
	{"AuditSpools", testAuditSpools},
}

// testAuditSpools: a spooled append moves the spool's mark with the records,
// in one transaction; marks never move back and are kept per spool.
func testAuditSpools(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mark := func(spool string) int64 {
		t.Helper()
		m, err := s.AuditSpoolMark(ctx, spool)
		if err != nil {
			t.Fatalf("AuditSpoolMark(%q): %v", spool, err)
		}
		return m
	}
	if m := mark("a"); m != 0 {
		t.Fatalf("mark of an unknown spool = %d, want 0", m)
	}
	events := func(n int) []*store.AuditEvent {
		var b []*store.AuditEvent
		for j := range n {
			b = append(b, &store.AuditEvent{Time: auditT0.Add(time.Duration(j) * time.Second), Type: store.AuditFetch,
				ClientIP: "10.0.0.1", Module: "example.com/spooled", Version: "v1.0.0", Kind: "info",
				Decision: store.DecisionServed, Source: "cache", Bytes: int64(j)})
		}
		return b
	}
	first := events(70)
	if err := s.AppendAuditSpooled(ctx, "a", 70, first); err != nil {
		t.Fatalf("AppendAuditSpooled: %v", err)
	}
	if err := s.AppendAuditSpooled(ctx, "b", 3, events(3)); err != nil {
		t.Fatalf("AppendAuditSpooled: %v", err)
	}
	if m := mark("a"); m != 70 {
		t.Errorf("mark of spool a = %d, want 70", m)
	}
	if m := mark("b"); m != 3 {
		t.Errorf("mark of spool b = %d, want 3", m)
	}
	if first[69].Seq != 70 || first[69].Hash != store.AuditHash(first[69]) {
		t.Errorf("spooled records not sealed as AppendAudit seals them: last Seq %d", first[69].Seq)
	}
	// A mark does not move back (a replay that raced a newer append).
	if err := s.AppendAuditSpooled(ctx, "a", 5, nil); err != nil {
		t.Fatalf("AppendAuditSpooled without records: %v", err)
	}
	if m := mark("a"); m != 70 {
		t.Errorf("mark of spool a after a lower one = %d, want 70", m)
	}
	// A failed append moves neither the log nor the mark.
	bad := events(2)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.AppendAuditSpooled(cctx, "a", 99, bad); err == nil {
		t.Fatal("AppendAuditSpooled with a cancelled context succeeded")
	}
	if m := mark("a"); m != 70 {
		t.Errorf("mark of spool a after a failed append = %d, want 70", m)
	}
	chain, err := s.AuditChain(ctx)
	if err != nil {
		t.Fatalf("AuditChain: %v", err)
	}
	if chain.HeadSeq != 73 {
		t.Errorf("chain head after the spooled appends = %d, want 73", chain.HeadSeq)
	}
}

func testAuditCheckpoints(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.LatestAuditCheckpoint(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LatestAuditCheckpoint of none = %v, want fs.ErrNotExist", err)
	}
	if got, err := s.AuditCheckpoints(ctx, 0, 100); err != nil || got != nil {
		t.Fatalf("AuditCheckpoints of none = %v, %v; want nil, nil", got, err)
	}
	in := []*store.AuditCheckpoint{
		{Size: 10, Hash: "aa", Time: auditT0.Add(2 * time.Hour), Note: []byte("ten\n\n\u2014 key sig\n")},
		{Size: 5, Hash: "bb", Time: auditT0.Add(3 * time.Hour), Note: []byte{0, 1, 2, 0xff}},
		{Size: 10, Hash: "aa", Time: auditT0.Add(time.Hour + 1500*time.Nanosecond), Note: []byte(hostile)},
		{Size: 20, Hash: "cc", Note: []byte("twenty")},
	}
	for _, c := range in {
		if err := s.PutAuditCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	latest, err := s.LatestAuditCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if latest.Size != 20 || string(latest.Note) != "twenty" || latest.Time.IsZero() || !isUTC(latest.Time) {
		t.Errorf("latest checkpoint %+v, want the last stored, its time set in UTC", latest)
	}
	got, err := s.AuditCheckpoints(ctx, 5, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []*store.AuditCheckpoint{
		{Size: 10, Hash: "aa", Time: auditT0.Add(time.Hour + 1000*time.Nanosecond), Note: []byte(hostile)},
		{Size: 10, Hash: "aa", Time: auditT0.Add(2 * time.Hour), Note: []byte("ten\n\n\u2014 key sig\n")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AuditCheckpoints(5, 10) (-want +got):\n%s", diff)
	}
	if got, err := s.AuditCheckpoints(ctx, 0, 5); err != nil || len(got) != 1 || !bytes.Equal(got[0].Note, []byte{0, 1, 2, 0xff}) {
		t.Errorf("AuditCheckpoints(0, 5) = %+v, %v; want the size-5 one, bytes intact", got, err)
	}
}

var auditT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testAuditEmpty(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if err := s.AppendAudit(ctx, nil); err != nil {
		t.Fatalf("AppendAudit(nil): %v", err)
	}
	got, err := s.AuditEvents(ctx, store.AuditQuery{})
	if err != nil || len(got) != 0 {
		t.Fatalf("AuditEvents on an empty log = %v, %v; want none", got, err)
	}
	chain, err := s.AuditChain(ctx)
	if err != nil {
		t.Fatalf("AuditChain: %v", err)
	}
	if diff := cmp.Diff(store.AuditChain{}, chain); diff != "" {
		t.Errorf("AuditChain of an empty log (-want +got):\n%s", diff)
	}
	if n, err := s.PruneAudit(ctx, time.Now(), 0); err != nil || n != 0 {
		t.Errorf("PruneAudit on an empty log = %d, %v; want 0, nil", n, err)
	}
}

// appendN appends n fetch records, one per second from auditT0, in batches.
func appendN(t *testing.T, s store.Audit, n, batch int) []*store.AuditEvent {
	t.Helper()
	var all []*store.AuditEvent
	for i := 0; i < n; i += batch {
		var b []*store.AuditEvent
		for j := i; j < min(n, i+batch); j++ {
			b = append(b, &store.AuditEvent{Time: auditT0.Add(time.Duration(j) * time.Second), Type: store.AuditFetch,
				ClientIP: fmt.Sprintf("10.0.0.%d", j%3), Module: fmt.Sprintf("example.com/m%d", j%2), Version: "v1.0.0",
				Kind: "zip", Decision: store.DecisionServed, Source: "cache", Bytes: int64(j)})
		}
		if err := s.AppendAudit(ctxT(t), b); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		all = append(all, b...)
	}
	return all
}

func testAuditAppendChain(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	// Batches of 7, then one of 87 (a driver may split a batch into
	// statements of many rows: 64+16+4+1+1+1) and one of 3.
	want := appendN(t, s, 25, 7)
	want = append(want, appendN(t, s, 90, 87)...)
	prev := ""
	for i, e := range want {
		if e.Seq != int64(i+1) || e.PrevHash != prev || e.Hash != store.AuditHash(e) {
			t.Fatalf("record %d after append: Seq %d PrevHash %q Hash %q; want Seq %d linked to %q and hashed",
				i, e.Seq, e.PrevHash, e.Hash, i+1, prev)
		}
		prev = e.Hash
	}
	got, err := s.AuditEvents(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatalf("AuditEvents: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AuditEvents (-appended +read):\n%s", diff)
	}
	chain, err := s.AuditChain(ctx)
	if err != nil {
		t.Fatalf("AuditChain: %v", err)
	}
	if want := (store.AuditChain{HeadSeq: 115, HeadHash: prev}); chain != want {
		t.Errorf("AuditChain = %+v, want %+v", chain, want)
	}
}

func testAuditRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	zone := time.FixedZone("UTC+5", 5*3600)
	tests := []struct {
		name     string
		in, want store.AuditEvent
	}{
		{"every field",
			store.AuditEvent{Time: time.Date(2026, 2, 28, 23, 59, 59, 123456789, zone), Type: store.AuditFetch,
				ClientToken: "ci-bot", ClientIP: "2001:db8::1", UserAgent: "Go-http-client/1.1 go1.26",
				Module: "github.com/Azure/Go-AutoRest", Version: "v14.2.0+incompatible", Kind: "zip",
				Decision: store.DecisionBlocked, Reasons: []string{"GO-2024-0001", "license: AGPL-3.0"},
				Source: "https://proxy.golang.org", Bytes: 1 << 40, Duration: 1500 * time.Millisecond, SBOM: "sbom-1"},
			store.AuditEvent{Time: time.Date(2026, 2, 28, 18, 59, 59, 123456000, time.UTC), Type: store.AuditFetch,
				ClientToken: "ci-bot", ClientIP: "2001:db8::1", UserAgent: "Go-http-client/1.1 go1.26",
				Module: "github.com/Azure/Go-AutoRest", Version: "v14.2.0+incompatible", Kind: "zip",
				Decision: store.DecisionBlocked, Reasons: []string{"GO-2024-0001", "license: AGPL-3.0"},
				Source: "https://proxy.golang.org", Bytes: 1 << 40, Duration: 1500 * time.Millisecond, SBOM: "sbom-1"}},
		{"hostile strings",
			store.AuditEvent{Time: auditT0, Type: hostile, ClientToken: hostile, ClientIP: `"'\`, UserAgent: "=cmd|' /C calc'!A0",
				Module: "example.com/" + hostile, Version: "v1.0.0\n\r", Kind: "", Decision: "%_*?",
				Reasons: []string{hostile, "", "a,b\"c"}, Source: "@SUM(1+1)"},
			store.AuditEvent{Time: auditT0, Type: hostile, ClientToken: hostile, ClientIP: `"'\`, UserAgent: "=cmd|' /C calc'!A0",
				Module: "example.com/" + hostile, Version: "v1.0.0\n\r", Kind: "", Decision: "%_*?",
				Reasons: []string{hostile, "", "a,b\"c"}, Source: "@SUM(1+1)"}},
		{"NUL and invalid UTF-8 become U+FFFD",
			store.AuditEvent{Time: auditT0, UserAgent: "a\x00b", Module: "m\xff", Reasons: []string{"\x00"}},
			store.AuditEvent{Time: auditT0, UserAgent: "a\uFFFDb", Module: "m\uFFFD", Reasons: []string{"\uFFFD"}}},
		{"empty reasons read back nil",
			store.AuditEvent{Time: auditT0, Reasons: []string{}},
			store.AuditEvent{Time: auditT0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if err := s.AppendAudit(ctx, []*store.AuditEvent{&in}); err != nil {
				t.Fatalf("AppendAudit: %v", err)
			}
			want := tt.want
			want.Seq, want.PrevHash = in.Seq, in.PrevHash
			want.Hash = store.AuditHash(&want)
			got, err := s.AuditEvents(ctx, store.AuditQuery{AfterSeq: in.Seq - 1, Limit: 1})
			if err != nil || len(got) != 1 {
				t.Fatalf("AuditEvents = %v, %v; want the record", got, err)
			}
			if diff := cmp.Diff(&want, got[0]); diff != "" {
				t.Errorf("read back (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(&want, &in); diff != "" {
				t.Errorf("AppendAudit's sealed argument (-want +got):\n%s", diff)
			}
			if got[0].Time.Location() != time.UTC {
				t.Errorf("Time in %v, want UTC", got[0].Time.Location())
			}
		})
	}
	// One batch whose records repeat, change and drop reasons (the SQLite
	// driver reuses the JSON of equal consecutive reasons): each reads back
	// its own.
	shared := []string{"warn vulnerabilities: GO-2023-2153", "warn capabilities.binaries: x.sh (script (#!))"}
	batch := [][]string{shared, slices.Clone(shared), nil, shared, shared[:1], {"\xffbad"}, shared}
	var events []*store.AuditEvent
	for _, r := range batch {
		events = append(events, &store.AuditEvent{Time: auditT0, Type: store.AuditFetch, Reasons: r})
	}
	if err := s.AppendAudit(ctx, events); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	got, err := s.AuditEvents(ctx, store.AuditQuery{AfterSeq: events[0].Seq - 1, Limit: len(events)})
	if err != nil || len(got) != len(events) {
		t.Fatalf("AuditEvents = %d records, %v; want %d", len(got), err, len(events))
	}
	for i, r := range batch {
		want := r
		if i == 5 {
			want = []string{"\uFFFDbad"}
		}
		if !slices.Equal(got[i].Reasons, want) || got[i].Hash != events[i].Hash {
			t.Errorf("batch record %d: reasons %q (hash %s), want %q (hash %s)", i, got[i].Reasons, got[i].Hash, want, events[i].Hash)
		}
	}
	if batch[5][0] != "\xffbad" {
		t.Errorf("the caller's reasons were written to: %q", batch[5])
	}

	// A zero time is set by the store.
	before := time.Now().Add(-time.Second)
	e := &store.AuditEvent{Type: store.AuditAdmin}
	if err := s.AppendAudit(ctx, []*store.AuditEvent{e}); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if e.Time.Before(before) || e.Time.After(time.Now().Add(time.Second)) || e.Time.Location() != time.UTC {
		t.Errorf("zero Time became %v, want about now in UTC", e.Time)
	}
}

func testAuditQuery(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	day := 24 * time.Hour
	events := []*store.AuditEvent{
		{Time: auditT0, Type: store.AuditFetch, ClientToken: "alice", ClientIP: "10.0.0.1", Module: "example.com/a", Version: "v1.0.0", Kind: "zip", Decision: store.DecisionServed},
		{Time: auditT0.Add(day), Type: store.AuditFetch, ClientIP: "10.0.0.2", Module: "example.com/a", Version: "v1.1.0", Decision: store.DecisionBlocked},
		{Time: auditT0.Add(2 * day), Type: store.AuditFetch, ClientIP: "alice", Module: "example.com/b", Version: "v1.0.0", Kind: "mod", Decision: store.DecisionServed},
		{Time: auditT0.Add(3 * day), Type: store.AuditChecksum, ClientToken: "bob", ClientIP: "10.0.0.1", Module: "example.com/A", Version: "v1.0.0", Decision: store.DecisionBlocked},
		{Time: auditT0.Add(4 * day), Type: store.AuditAdmin, Decision: "exemption.add"},
	}
	if err := s.AppendAudit(ctx, events); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	tests := []struct {
		name string
		q    store.AuditQuery
		want []int64
	}{
		{"all", store.AuditQuery{}, []int64{1, 2, 3, 4, 5}},
		{"since inclusive", store.AuditQuery{Since: auditT0.Add(day)}, []int64{2, 3, 4, 5}},
		{"until exclusive", store.AuditQuery{Until: auditT0.Add(day)}, []int64{1}},
		{"window", store.AuditQuery{Since: auditT0.Add(day), Until: auditT0.Add(3 * day)}, []int64{2, 3}},
		{"module exact, case kept", store.AuditQuery{Module: "example.com/a"}, []int64{1, 2}},
		{"module and version", store.AuditQuery{Module: "example.com/a", Version: "v1.1.0"}, []int64{2}},
		{"version alone", store.AuditQuery{Version: "v1.0.0"}, []int64{1, 3, 4}},
		{"client by token or IP", store.AuditQuery{Client: "alice"}, []int64{1, 3}},
		{"client by IP", store.AuditQuery{Client: "10.0.0.1"}, []int64{1, 4}},
		{"empty token matches nothing", store.AuditQuery{Client: hostile}, nil},
		{"decision", store.AuditQuery{Decision: store.DecisionBlocked}, []int64{2, 4}},
		{"decision in window", store.AuditQuery{Decision: store.DecisionBlocked, Since: auditT0.Add(2 * day)}, []int64{4}},
		{"type", store.AuditQuery{Type: store.AuditAdmin}, []int64{5}},
		{"kind", store.AuditQuery{Kind: "zip"}, []int64{1}},
		{"kind and decision", store.AuditQuery{Kind: "mod", Decision: store.DecisionServed}, []int64{3}},
		{"after and through", store.AuditQuery{AfterSeq: 1, ThroughSeq: 3}, []int64{2, 3}},
		{"limit", store.AuditQuery{Limit: 2}, []int64{1, 2}},
		{"hostile module", store.AuditQuery{Module: hostile}, nil},
		{"like wildcards are literal", store.AuditQuery{Module: "example.com/%"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.AuditEvents(ctx, tt.q)
			if err != nil {
				t.Fatalf("AuditEvents: %v", err)
			}
			var seqs []int64
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			if diff := cmp.Diff(tt.want, seqs); diff != "" {
				t.Errorf("Seqs (-want +got):\n%s", diff)
			}
		})
	}
}

func testAuditPaging(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	appendN(t, s, 2500, 1000)
	tests := []struct {
		limit, want int
	}{{0, 1000}, {-1, 1000}, {7, 7}, {store.MaxAuditPage + 1, 2500}}
	for _, tt := range tests {
		got, err := s.AuditEvents(ctx, store.AuditQuery{Limit: tt.limit})
		if err != nil || len(got) != tt.want {
			t.Errorf("AuditEvents(Limit %d) = %d records, %v; want %d", tt.limit, len(got), err, tt.want)
		}
	}
	var after int64
	n := 0
	for {
		page, err := s.AuditEvents(ctx, store.AuditQuery{AfterSeq: after, Limit: 300, Module: "example.com/m1"})
		if err != nil {
			t.Fatalf("AuditEvents: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.Seq <= after || e.Module != "example.com/m1" {
				t.Fatalf("page after %d holds record %d of %s", after, e.Seq, e.Module)
			}
			after = e.Seq
			n++
		}
	}
	if n != 1250 {
		t.Errorf("paged through %d records of example.com/m1, want 1250", n)
	}
}

// AuditConcurrentAppend checks that appenders on a and b (two stores on one
// database, as two replicas, or one store twice) build one gapless chain. It
// is exported for the drivers' replica tests.
func AuditConcurrentAppend(t *testing.T, a, b store.Audit) {
	t.Helper()
	ctx := ctxT(t)
	const goroutines, rounds, batch = 16, 10, 5
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*rounds)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if g%2 == 1 {
				s = b
			}
			for r := range rounds {
				var events []*store.AuditEvent
				for i := range batch {
					events = append(events, &store.AuditEvent{Type: store.AuditFetch,
						Module: fmt.Sprintf("example.com/g%d", g), Version: fmt.Sprintf("v1.%d.%d", r, i)})
				}
				if err := s.AppendAudit(context.WithoutCancel(ctx), events); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AppendAudit: %v", err)
	}
	var all []*store.AuditEvent
	for after := int64(0); ; {
		page, err := a.AuditEvents(ctx, store.AuditQuery{AfterSeq: after})
		if err != nil {
			t.Fatalf("AuditEvents: %v", err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
	if len(all) != goroutines*rounds*batch {
		t.Fatalf("%d records, want %d", len(all), goroutines*rounds*batch)
	}
	prev := ""
	for i, e := range all {
		if e.Seq != int64(i+1) || e.PrevHash != prev || store.AuditHash(e) != e.Hash {
			t.Fatalf("record %d (Seq %d) breaks the chain: PrevHash %q, want %q", i, e.Seq, e.PrevHash, prev)
		}
		prev = e.Hash
	}
	// Each appender's batch is contiguous: appends are atomic and serialised.
	for i := 0; i < len(all); i += batch {
		for j := i; j < i+batch; j++ {
			if all[j].Module != all[i].Module {
				t.Fatalf("batch at Seq %d is interleaved with another appender's", all[i].Seq)
			}
		}
	}
	chain, err := b.(interface {
		AuditChain(context.Context) (store.AuditChain, error)
	}).AuditChain(ctx)
	if err != nil || chain.HeadSeq != int64(len(all)) || chain.HeadHash != prev {
		t.Errorf("AuditChain = %+v, %v; want head %d %s", chain, err, len(all), prev)
	}
}

func testAuditConcurrentAppend(t *testing.T, s store.Store) { AuditConcurrentAppend(t, s, s) }

func testAuditPrune(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	all := appendN(t, s, 20, 20)
	late := &store.AuditEvent{Time: auditT0.Add(time.Hour), Type: store.AuditFetch} // record 21
	if err := s.AppendAudit(ctx, []*store.AuditEvent{late}); err != nil {
		t.Fatal(err)
	}
	// Limit: at most 3 per call.
	n, err := s.PruneAudit(ctx, auditT0.Add(5*time.Second), 3)
	if err != nil || n != 3 {
		t.Fatalf("PruneAudit(limit 3) = %d, %v; want 3", n, err)
	}
	chain, err := s.AuditChain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if chain.AnchorSeq != 3 || chain.AnchorHash != all[2].Hash || !chain.AnchorTime.Equal(all[2].Time) {
		t.Errorf("anchor after pruning 3 = %d %s %v, want 3 %s %v", chain.AnchorSeq, chain.AnchorHash, chain.AnchorTime, all[2].Hash, all[2].Time)
	}
	n, err = s.PruneAudit(ctx, auditT0.Add(5*time.Second), 0)
	if err != nil || n != 2 {
		t.Fatalf("second PruneAudit = %d, %v; want 2 (records 4 and 5)", n, err)
	}
	n, err = s.PruneAudit(ctx, auditT0.Add(5*time.Second), 0)
	if err != nil || n != 0 {
		t.Fatalf("third PruneAudit = %d, %v; want 0", n, err)
	}
	// Record 22 is older than record 21 (clocks of replicas differ):
	// pruning stops at 21, keeping the kept records a contiguous chain.
	old := &store.AuditEvent{Time: auditT0, Type: store.AuditFetch}
	if err := s.AppendAudit(ctx, []*store.AuditEvent{old}); err != nil {
		t.Fatal(err)
	}
	n, err = s.PruneAudit(ctx, auditT0.Add(30*time.Minute), 0)
	if err != nil || n != 15 {
		t.Fatalf("PruneAudit up to the late record = %d, %v; want 15 (records 6 to 20)", n, err)
	}
	n, err = s.PruneAudit(ctx, auditT0.Add(30*time.Minute), 0)
	if err != nil || n != 0 {
		t.Fatalf("PruneAudit again = %d, %v; want 0: record 21 is not older", n, err)
	}
	n, err = s.PruneAudit(ctx, auditT0.Add(2*time.Hour), 0)
	if err != nil || n != 2 {
		t.Fatalf("PruneAudit of the rest = %d, %v; want 2", n, err)
	}
	chain, err = s.AuditChain(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if chain.AnchorSeq != 22 || chain.AnchorHash != old.Hash || chain.HeadSeq != 22 || chain.HeadHash != old.Hash {
		t.Errorf("chain after pruning all = %+v, want anchor and head at 22 %s", chain, old.Hash)
	}
	got, err := s.AuditEvents(ctx, store.AuditQuery{})
	if err != nil || len(got) != 0 {
		t.Errorf("AuditEvents after pruning all = %d records, %v", len(got), err)
	}
	// Appending continues the chain from the head.
	next := &store.AuditEvent{Type: store.AuditAdmin}
	if err := s.AppendAudit(ctx, []*store.AuditEvent{next}); err != nil {
		t.Fatal(err)
	}
	if next.Seq != 23 || next.PrevHash != old.Hash {
		t.Errorf("append after pruning: Seq %d PrevHash %s, want 23 %s", next.Seq, next.PrevHash, old.Hash)
	}
}
