package storetest

import (
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/modgate/modgate/internal/store"
)

// exemptionTests are the conformance cases of the Exemptions role.
var exemptionTests = []testCase{
	{"ExemptionRoundTrip", testExemptionRoundTrip},
	{"ExemptionCreatedAtDefault", testExemptionCreatedAtDefault},
	{"ExemptionRemove", testExemptionRemove},
	{"ExemptionIDsNotReused", testExemptionIDsNotReused},
	{"ExemptionInvalid", testExemptionInvalid},
}

func testExemptionRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if got, err := s.ListExemptions(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ListExemptions of an empty store = %v, %v; want none, nil", got, err)
	}
	zone := time.FixedZone("UTC+5", 5*3600)
	created := time.Date(2025, 3, 1, 8, 0, 0, 123456789, zone)
	in := []store.Exemption{
		{Module: "example.com/m", Versions: "v1.2.3", Rule: "GO-2022-0493", Reason: "not reachable from our code",
			GrantedBy: "alice", CreatedAt: created, ExpiresAt: created.Add(30 * 24 * time.Hour)},
		{Module: "corp.example.com/*", Versions: ">=v1.2.0,<v1.3.0", Rule: "min_age", Reason: "our own modules",
			GrantedBy: "bob", CreatedAt: created, ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
		// Expired exemptions are listed too: callers compare with their clock.
		{Module: "example.com/old", Reason: "expired", GrantedBy: "carol", CreatedAt: t2021, ExpiresAt: t2021.Add(time.Hour)},
		{Module: "example.com/" + hostile, Versions: hostile, Rule: hostile, Reason: hostile + "\n\t'\"%_\\",
			GrantedBy: hostile, CreatedAt: created, ExpiresAt: created.Add(time.Hour)},
	}
	var want []store.Exemption
	var lastID int64
	for _, e := range in {
		arg := e
		got, err := s.AddExemption(ctx, &arg)
		if err != nil {
			t.Fatalf("AddExemption(%+v): %v", e, err)
		}
		if diff := cmp.Diff(e, arg); diff != "" {
			t.Errorf("AddExemption changed its argument (-before +after):\n%s", diff)
		}
		if got.ID <= lastID {
			t.Errorf("AddExemption assigned ID %d after %d, want increasing IDs", got.ID, lastID)
		}
		lastID = got.ID
		w := e
		w.ID = got.ID
		w.CreatedAt = e.CreatedAt.UTC().Truncate(time.Microsecond)
		w.ExpiresAt = e.ExpiresAt.UTC().Truncate(time.Microsecond)
		if diff := cmp.Diff(w, *got); diff != "" {
			t.Errorf("AddExemption returned (-want +got):\n%s", diff)
		}
		if !isUTC(got.CreatedAt) || !isUTC(got.ExpiresAt) {
			t.Errorf("AddExemption returned times not in UTC: %v, %v", got.CreatedAt, got.ExpiresAt)
		}
		want = append(want, w)
	}
	got, err := s.ListExemptions(ctx)
	if err != nil {
		t.Fatalf("ListExemptions: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListExemptions (-want +got):\n%s", diff)
	}
	for _, e := range got {
		if !isUTC(e.CreatedAt) || !isUTC(e.ExpiresAt) {
			t.Errorf("ListExemptions: exemption %d has times not in UTC: %v, %v", e.ID, e.CreatedAt, e.ExpiresAt)
		}
	}
}

func testExemptionCreatedAtDefault(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	before := time.Now().Add(-time.Second)
	got, err := s.AddExemption(ctx, &store.Exemption{Module: "example.com/m", Reason: "r", GrantedBy: "alice", ExpiresAt: t2024})
	if err != nil {
		t.Fatalf("AddExemption: %v", err)
	}
	after := time.Now().Add(time.Second)
	if !isUTC(got.CreatedAt) || got.CreatedAt.Before(before) || got.CreatedAt.After(after) {
		t.Errorf("CreatedAt = %v, want a UTC time between %v and %v", got.CreatedAt, before, after)
	}
	list, err := s.ListExemptions(ctx)
	if err != nil {
		t.Fatalf("ListExemptions: %v", err)
	}
	if diff := cmp.Diff([]store.Exemption{*got}, list); diff != "" {
		t.Errorf("ListExemptions differs from what AddExemption returned (-added +listed):\n%s", diff)
	}
}

func testExemptionRemove(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	var added []*store.Exemption
	for _, m := range []string{"example.com/a", "example.com/b", "example.com/c"} {
		e, err := s.AddExemption(ctx, &store.Exemption{Module: m, Reason: "r", GrantedBy: "alice", CreatedAt: t2021, ExpiresAt: t2024})
		if err != nil {
			t.Fatalf("AddExemption(%s): %v", m, err)
		}
		added = append(added, e)
	}
	got, err := s.RemoveExemption(ctx, added[1].ID)
	if err != nil {
		t.Fatalf("RemoveExemption(%d): %v", added[1].ID, err)
	}
	if diff := cmp.Diff(added[1], got); diff != "" {
		t.Errorf("RemoveExemption returned (-added +removed):\n%s", diff)
	}
	list, err := s.ListExemptions(ctx)
	if err != nil {
		t.Fatalf("ListExemptions: %v", err)
	}
	if diff := cmp.Diff([]store.Exemption{*added[0], *added[2]}, list); diff != "" {
		t.Errorf("ListExemptions after a removal (-want +got):\n%s", diff)
	}
	for _, id := range []int64{added[1].ID, added[2].ID + 1000, 0, -1} {
		if got, err := s.RemoveExemption(ctx, id); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("RemoveExemption(%d) = %v, %v; want fs.ErrNotExist", id, got, err)
		}
	}
}

func testExemptionIDsNotReused(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	e := &store.Exemption{Module: "example.com/m", Reason: "r", GrantedBy: "alice", ExpiresAt: t2024}
	first, err := s.AddExemption(ctx, e)
	if err != nil {
		t.Fatalf("AddExemption: %v", err)
	}
	if _, err := s.RemoveExemption(ctx, first.ID); err != nil {
		t.Fatalf("RemoveExemption: %v", err)
	}
	second, err := s.AddExemption(ctx, e)
	if err != nil {
		t.Fatalf("AddExemption: %v", err)
	}
	if second.ID <= first.ID {
		t.Errorf("ID %d of a removed exemption was reused (got %d): audit records name exemptions by ID", first.ID, second.ID)
	}
}

func testExemptionInvalid(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	valid := store.Exemption{Module: "example.com/m", Reason: "r", GrantedBy: "alice", ExpiresAt: t2024}
	tests := []struct {
		name   string
		change func(e *store.Exemption)
	}{
		{"empty module", func(e *store.Exemption) { e.Module = "" }},
		{"no expiry", func(e *store.Exemption) { e.ExpiresAt = time.Time{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid
			tt.change(&e)
			if got, err := s.AddExemption(ctx, &e); err == nil {
				t.Fatalf("AddExemption(%+v) = %+v, want an error", e, got)
			}
			if list, err := s.ListExemptions(ctx); err != nil || len(list) != 0 {
				t.Errorf("after a rejected AddExemption, ListExemptions = %v, %v; want none", list, err)
			}
		})
	}
}
