package storetest

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// sbomTests are the conformance cases of the SBOMs role.
var sbomTests = []testCase{
	{"SBOMRoundTrip", testSBOMRoundTrip},
	{"SBOMNotFound", testSBOMNotFound},
	{"SBOMIdempotent", testSBOMIdempotent},
	{"SBOMLatest", testSBOMLatest},
	{"SBOMInvalid", testSBOMInvalid},
	{"SBOMCopies", testSBOMCopies},
}

func sbomRecord(m module.Version, id string, created time.Time) *store.SBOMRecord {
	return &store.SBOMRecord{
		ID:      "https://modgate.example.com/sbom/" + id,
		Module:  m,
		Created: created,
		Input:   []byte(fmt.Sprintf(`{"Path":%q,"Version":%q}`, m.Path, m.Version)),
	}
}

func testSBOMRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	created := time.Date(2025, 3, 1, 8, 0, 0, 123456789, time.FixedZone("UTC+1", 3600))
	tests := []struct {
		name string
		rec  *store.SBOMRecord
	}{
		{"plain", sbomRecord(module.Version{Path: "example.com/m", Version: "v1.0.0"}, "m-v1.0.0-1", created)},
		{"upper case path", sbomRecord(module.Version{Path: "github.com/Azure/Go-AutoRest", Version: "v14.2.0+incompatible"}, "Azure", created)},
		{"lower case path differs", sbomRecord(module.Version{Path: "github.com/azure/go-autorest", Version: "v14.2.0+incompatible"}, "azure", created)},
		{"hostile", &store.SBOMRecord{ID: hostile + "/\"%_*?", Module: module.Version{Path: "example.com/" + hostile, Version: "v1.0.0-" + hostile},
			Created: created, Input: []byte("\x00\xff" + hostile)}},
	}
	for _, tt := range tests {
		if err := s.PutSBOM(ctx, tt.rec); err != nil {
			t.Fatalf("%s: PutSBOM: %v", tt.name, err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := *tt.rec
			want.Created = created.UTC().Truncate(time.Microsecond)
			got, err := s.SBOM(ctx, tt.rec.Module)
			if err != nil {
				t.Fatalf("SBOM: %v", err)
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("SBOM (-want +got):\n%s", diff)
			}
			if !isUTC(got.Created) {
				t.Errorf("Created %v is in %v, want UTC", got.Created, got.Created.Location())
			}
			got, err = s.SBOMByID(ctx, tt.rec.ID)
			if err != nil {
				t.Fatalf("SBOMByID: %v", err)
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("SBOMByID (-want +got):\n%s", diff)
			}
		})
	}
}

func testSBOMNotFound(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	if err := s.PutSBOM(ctx, sbomRecord(m, "one", t2024)); err != nil {
		t.Fatalf("PutSBOM: %v", err)
	}
	for _, other := range []module.Version{
		{Path: "example.com/m", Version: "v1.0.1"},
		{Path: "example.com/M", Version: "v1.0.0"},
		{Path: "example.com/m/v2", Version: "v1.0.0"},
		{Path: hostile, Version: hostile},
	} {
		if _, err := s.SBOM(ctx, other); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("SBOM(%s): got %v, want fs.ErrNotExist", other, err)
		}
	}
	for _, id := range []string{"https://modgate.example.com/sbom/two", "https://modgate.example.com/sbom/ONE", "", hostile, "%"} {
		if _, err := s.SBOMByID(ctx, id); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("SBOMByID(%q): got %v, want fs.ErrNotExist", id, err)
		}
	}
}

func testSBOMIdempotent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	first := sbomRecord(m, "same", t2024)
	for range 3 {
		if err := s.PutSBOM(ctx, first); err != nil {
			t.Fatalf("PutSBOM: %v", err)
		}
	}
	// The ID is a digest of the content, so a second record with the same ID
	// is the same record: the store keeps the first and reports no error.
	again := sbomRecord(m, "same", t2024.Add(time.Hour))
	if err := s.PutSBOM(ctx, again); err != nil {
		t.Fatalf("PutSBOM of a stored ID: %v", err)
	}
	got, err := s.SBOMByID(ctx, first.ID)
	if err != nil {
		t.Fatalf("SBOMByID: %v", err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("SBOMByID after repeated puts (-first +got):\n%s", diff)
	}
	if got, err := s.SBOM(ctx, m); err != nil || got.ID != first.ID {
		t.Errorf("SBOM = %v, %v; want the one record", got, err)
	}
}

func testSBOMLatest(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	// Stored out of order: the latest Created wins, then the last stored.
	for _, r := range []*store.SBOMRecord{
		sbomRecord(m, "middle", t2024),
		sbomRecord(m, "newest-first-stored", t2024.Add(time.Hour)),
		sbomRecord(m, "oldest", t2021),
		sbomRecord(m, "newest-last-stored", t2024.Add(time.Hour)),
		sbomRecord(module.Version{Path: "example.com/m", Version: "v1.0.1"}, "other-version", t2024.Add(2*time.Hour)),
	} {
		if err := s.PutSBOM(ctx, r); err != nil {
			t.Fatalf("PutSBOM(%s): %v", r.ID, err)
		}
	}
	got, err := s.SBOM(ctx, m)
	if err != nil {
		t.Fatalf("SBOM: %v", err)
	}
	if want := "https://modgate.example.com/sbom/newest-last-stored"; got.ID != want {
		t.Errorf("SBOM(%s).ID = %q, want %q", m, got.ID, want)
	}
	// Older records stay reachable by ID: audit records name them.
	if _, err := s.SBOMByID(ctx, "https://modgate.example.com/sbom/oldest"); err != nil {
		t.Errorf("SBOMByID(oldest): %v", err)
	}
}

func testSBOMInvalid(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	tests := []struct {
		name   string
		change func(r *store.SBOMRecord)
	}{
		{"empty ID", func(r *store.SBOMRecord) { r.ID = "" }},
		{"empty path", func(r *store.SBOMRecord) { r.Module.Path = "" }},
		{"empty version", func(r *store.SBOMRecord) { r.Module.Version = "" }},
		{"zero time", func(r *store.SBOMRecord) { r.Created = time.Time{} }},
		{"no input", func(r *store.SBOMRecord) { r.Input = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sbomRecord(m, "invalid", t2024)
			tt.change(r)
			if err := s.PutSBOM(ctx, r); err == nil {
				t.Fatalf("PutSBOM(%+v) succeeded, want an error", r)
			}
			if _, err := s.SBOM(ctx, m); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after a rejected PutSBOM, SBOM: got %v, want fs.ErrNotExist", err)
			}
		})
	}
}

func testSBOMCopies(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	r := sbomRecord(m, "copies", t2024)
	want := string(r.Input)
	if err := s.PutSBOM(ctx, r); err != nil {
		t.Fatalf("PutSBOM: %v", err)
	}
	r.Input[0] = 'X'
	got, err := s.SBOM(ctx, m)
	if err != nil {
		t.Fatalf("SBOM: %v", err)
	}
	if string(got.Input) != want {
		t.Errorf("stored Input changed to %q by the caller", got.Input)
	}
	got.Input[0] = 'Y'
	if got, _ := s.SBOM(ctx, m); string(got.Input) != want {
		t.Errorf("stored Input changed to %q through a returned record", got.Input)
	}
}
