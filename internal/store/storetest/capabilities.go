package storetest

import (
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// capabilityTests are the conformance cases of the Capabilities role.
var capabilityTests = []testCase{
	{"CapabilitiesRoundTrip", testCapabilitiesRoundTrip},
	{"CapabilitiesNotFound", testCapabilitiesNotFound},
	{"CapabilitiesReplace", testCapabilitiesReplace},
	{"CapabilityVersions", testCapabilityVersions},
	{"CapabilitiesInvalid", testCapabilitiesInvalid},
}

func capFacts(m module.Version) *store.CapabilityFacts {
	return &store.CapabilityFacts{
		Module: m,
		Uses: []store.CapabilityUse{
			{Package: m.Path, Capability: "CAPABILITY_EXEC", File: "decimal.go", Line: 20, Via: "os/exec.CommandContext", Init: true, InitPath: "init → poll"},
			{Package: m.Path + "/cmd/x", Capability: "CAPABILITY_FILES_WRITE", File: "cmd/x/main.go", Line: 3, Via: "os.Create", Main: true},
		},
		Binaries: []store.BinaryFile{{File: "tool", Kind: "ELF"}, {File: "testdata/x", Kind: "PE", Testdata: true}},
		Files:    3,
		Skipped:  []string{"big.go: too large"},
		Base:     "v1.0.0",
		Added: []store.CapabilityUse{
			{Package: m.Path, Capability: "CAPABILITY_EXEC", File: "decimal.go", Line: 20, Via: "os/exec.CommandContext", Init: true, InitPath: "init → poll"},
		},
		AddedBinaries: []store.BinaryFile{{File: "tool", Kind: "ELF"}},
		ComputedAt:    time.Date(2026, 12, 2, 1, 2, 3, 0, time.UTC),
	}
}

func testCapabilitiesRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for _, m := range []module.Version{
		{Path: "example.test/decimal", Version: "v1.0.1"},
		{Path: "github.com/Azure/Go-AutoRest", Version: "v14.2.0+incompatible"},
		{Path: "example.com/" + hostile, Version: "v1.0.0-" + hostile},
	} {
		want := capFacts(m)
		want.Uses[0].Via = hostile + "\x00<script>"
		if err := s.PutCapabilities(ctx, want); err != nil {
			t.Fatalf("PutCapabilities(%s): %v", m, err)
		}
		got, err := s.CapabilityFacts(ctx, m)
		if err != nil {
			t.Fatalf("CapabilityFacts(%s): %v", m, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", m, diff)
		}
	}
	// Case matters: github.com/azure/go-autorest is another module.
	if _, err := s.CapabilityFacts(ctx, module.Version{Path: "github.com/azure/go-autorest", Version: "v14.2.0+incompatible"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("other case: err = %v, want fs.ErrNotExist", err)
	}
}

func testCapabilitiesNotFound(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.CapabilityFacts(ctx, module.Version{Path: "example.com/m", Version: "v1.0.0"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
	vs, err := s.CapabilityVersions(ctx, "example.com/m")
	if err != nil || len(vs) != 0 {
		t.Errorf("CapabilityVersions = %q, %v; want none", vs, err)
	}
}

func testCapabilitiesReplace(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	first := &store.CapabilityFacts{Module: m, Failed: "reading the zip: unexpected EOF", ComputedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := s.PutCapabilities(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := capFacts(m)
	if err := s.PutCapabilities(ctx, second); err != nil {
		t.Fatal(err)
	}
	got, err := s.CapabilityFacts(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(second, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func testCapabilityVersions(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range []*store.CapabilityFacts{
		{Module: module.Version{Path: "example.com/m", Version: "v1.0.0"}, ComputedAt: at},
		{Module: module.Version{Path: "example.com/m", Version: "v1.1.0"}, ComputedAt: at},
		{Module: module.Version{Path: "example.com/m", Version: "v1.2.0"}, ComputedAt: at, Failed: "zip unreadable"},
		{Module: module.Version{Path: "example.com/m/v2", Version: "v2.0.0"}, ComputedAt: at},
		{Module: module.Version{Path: "example.com/M", Version: "v1.3.0"}, ComputedAt: at},
	} {
		if err := s.PutCapabilities(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := s.CapabilityVersions(ctx, "example.com/m")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(vs)
	if diff := cmp.Diff([]string{"v1.0.0", "v1.1.0"}, vs); diff != "" {
		t.Errorf("versions with facts, not failed (-want +got):\n%s", diff)
	}
}

func testCapabilitiesInvalid(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for _, f := range []*store.CapabilityFacts{
		{Module: module.Version{Path: "", Version: "v1.0.0"}, ComputedAt: time.Now()},
		{Module: module.Version{Path: "example.com/m", Version: "v1.0.0"}},
	} {
		if err := s.PutCapabilities(ctx, f); err == nil {
			t.Errorf("PutCapabilities(%+v) stored an invalid record", f)
		}
	}
}
