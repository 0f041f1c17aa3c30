package storetest

import (
	"errors"
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

var upstreamTests = []testCase{
	{"UpstreamRoundTrip", testUpstreamRoundTrip},
	{"UpstreamUpdateSerialised", testUpstreamUpdateSerialised},
	{"UpstreamPagesAndFindings", testUpstreamPagesAndFindings},
}

// UpdateUpstream stores what fn returns, every field, and reads back what it
// stored; fn sees the stored state; nil from fn stores nothing.
func testUpstreamRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/" + hostile, Version: "v1.2.3"}
	if _, err := s.UpstreamState(ctx, m); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("UpstreamState of an unknown version: err = %v, want fs.ErrNotExist", err)
	}
	origin := store.Origin{VCS: "git", URL: "https://github.com/x/" + hostile, Hash: "0123456789abcdef0123456789abcdef01234567", Ref: "refs/tags/v1.2.3"}
	first, changed := store.MergeOrigin(nil, m, "https://proxy.example", origin, t2021)
	if changed {
		t.Error("MergeOrigin of a first origin says it changed")
	}
	got, err := s.UpdateUpstream(ctx, m, func(cur *store.UpstreamState) (*store.UpstreamState, error) {
		if cur != nil {
			t.Errorf("fn got %+v for a version never stored, want nil", cur)
		}
		return first, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("UpdateUpstream returned (-want +got):\n%s", diff)
	}
	full := *first
	full.Moved = store.Origin{VCS: "git", URL: origin.URL, Hash: "fedcba9876543210fedcba9876543210fedcba98", Ref: origin.Ref}
	full.MovedAt = t2024.Add(time.Second)
	full.CheckedAt, full.LastStatus, full.LastError, full.Failures = t2024.Add(2*time.Second), 410, "upstream answered 410 Gone; "+hostile, 3
	full.WithdrawnAt, full.WithdrawnStatus, full.ReturnedAt = t2024.Add(3*time.Second), 410, t2024.Add(4*time.Second)
	if _, err := s.UpdateUpstream(ctx, m, func(cur *store.UpstreamState) (*store.UpstreamState, error) {
		if diff := cmp.Diff(first, cur); diff != "" {
			t.Errorf("fn got (-want +got):\n%s", diff)
		}
		return &full, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.UpstreamState(ctx, m); err != nil || !cmp.Equal(&full, got) {
		t.Errorf("UpstreamState = %+v, %v; want %+v", got, err, full)
	}
	// nil stores nothing and returns what is stored; fn's error is returned.
	if got, err := s.UpdateUpstream(ctx, m, func(*store.UpstreamState) (*store.UpstreamState, error) { return nil, nil }); err != nil || !cmp.Equal(&full, got) {
		t.Errorf("UpdateUpstream with nil = %+v, %v; want the stored state", got, err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateUpstream(ctx, m, func(*store.UpstreamState) (*store.UpstreamState, error) { return &store.UpstreamState{}, boom }); !errors.Is(err, boom) {
		t.Errorf("UpdateUpstream with an error = %v, want boom", err)
	}
	if got, _ := s.UpstreamState(ctx, m); !cmp.Equal(&full, got) {
		t.Errorf("after a failed update: %+v, want %+v", got, full)
	}
}

// Concurrent updates of one version each see the result of the one before.
func testUpstreamUpdateSerialised(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	var wg sync.WaitGroup
	const n = 8
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.UpdateUpstream(ctx, m, func(cur *store.UpstreamState) (*store.UpstreamState, error) {
				next := store.UpstreamState{}
				if cur != nil {
					next = *cur
				}
				next.Failures++
				return &next, nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got, err := s.UpstreamState(ctx, m); err != nil || got.Failures != n {
		t.Errorf("after %d concurrent increments: %+v, %v", n, got, err)
	}
}

// UpstreamStates pages in (path, version) order; UpstreamFindings lists the
// withdrawn, returned and moved versions, latest event first.
func testUpstreamPagesAndFindings(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	put := func(u store.UpstreamState) {
		t.Helper()
		if _, err := s.UpdateUpstream(ctx, u.Module, func(*store.UpstreamState) (*store.UpstreamState, error) { return &u, nil }); err != nil {
			t.Fatal(err)
		}
	}
	mv := func(p, v string) module.Version { return module.Version{Path: p, Version: v} }
	put(store.UpstreamState{Module: mv("example.com/b", "v1.0.0"), Source: "direct"})
	put(store.UpstreamState{Module: mv("example.com/a", "v1.1.0"), WithdrawnAt: t2021, WithdrawnStatus: 404})
	put(store.UpstreamState{Module: mv("example.com/a", "v1.0.0"), Moved: store.Origin{Hash: "ab"}, MovedAt: t2024})
	put(store.UpstreamState{Module: mv("example.com/c", "v1.0.0"), ReturnedAt: t2021.Add(time.Hour)})
	var all []module.Version
	after := module.Version{}
	for {
		page, err := s.UpstreamStates(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page {
			all = append(all, u.Module)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].Module
	}
	want := []module.Version{mv("example.com/a", "v1.0.0"), mv("example.com/a", "v1.1.0"), mv("example.com/b", "v1.0.0"), mv("example.com/c", "v1.0.0")}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("UpstreamStates pages (-want +got):\n%s", diff)
	}
	found, err := s.UpstreamFindings(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []module.Version
	for _, u := range found {
		got = append(got, u.Module)
	}
	want = []module.Version{mv("example.com/a", "v1.0.0"), mv("example.com/c", "v1.0.0"), mv("example.com/a", "v1.1.0")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UpstreamFindings (-want +got):\n%s", diff)
	}
	if found, err := s.UpstreamFindings(ctx, 1); err != nil || len(found) != 1 {
		t.Errorf("UpstreamFindings(1) = %d, %v", len(found), err)
	}
}
