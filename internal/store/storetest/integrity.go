package storetest

import (
	"errors"
	"io/fs"
	"testing"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// integrityTests cover dropping the record of an artifact whose bytes failed
// their check.
var integrityTests = []testCase{
	{"DropArtifact", testDropArtifact},
}

func testDropArtifact(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	mod := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	other := module.Version{Path: "example.com/m", Version: "v1.0.1"}
	data := []byte("module example.com/m\n")
	for _, m := range []module.Version{mod, other} {
		for _, k := range []store.Kind{store.KindMod, store.KindZip} {
			a := &store.Artifact{Module: m, Kind: k, SHA256: sum(data), Size: int64(len(data))}
			if k == store.KindMod {
				a.Data = data
			}
			if _, err := s.PutArtifact(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A record that names other bytes (stored again meanwhile) stays.
	if err := s.DropArtifact(ctx, mod, store.KindMod, sum([]byte("other bytes"))); err != nil {
		t.Fatalf("DropArtifact with another hash: %v", err)
	}
	if _, err := s.Artifact(ctx, mod, store.KindMod); err != nil {
		t.Fatalf("after DropArtifact with another hash, Artifact: %v, want the record kept", err)
	}
	if err := s.DropArtifact(ctx, mod, store.KindMod, sum(data)); err != nil {
		t.Fatalf("DropArtifact: %v", err)
	}
	if _, err := s.Artifact(ctx, mod, store.KindMod); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after DropArtifact, Artifact: %v, want fs.ErrNotExist", err)
	}
	// Only that record went.
	for _, k := range []struct {
		m module.Version
		k store.Kind
	}{{mod, store.KindZip}, {other, store.KindMod}, {other, store.KindZip}} {
		if _, err := s.Artifact(ctx, k.m, k.k); err != nil {
			t.Errorf("Artifact(%s %s) after dropping another record: %v", k.m, k.k, err)
		}
	}
	// Dropping what is gone is not an error; storing again works.
	if err := s.DropArtifact(ctx, mod, store.KindMod, sum(data)); err != nil {
		t.Errorf("DropArtifact of a dropped record: %v", err)
	}
	fresh := []byte("module example.com/m // again\n")
	got, err := s.PutArtifact(ctx, &store.Artifact{Module: mod, Kind: store.KindMod, SHA256: sum(fresh), Size: int64(len(fresh)), Data: fresh})
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 != sum(fresh) {
		t.Errorf("PutArtifact after DropArtifact kept the old record (%s)", got.SHA256)
	}
}
