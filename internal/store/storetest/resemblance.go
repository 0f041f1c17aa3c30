package storetest

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

var originTests = []testCase{
	{"PathCheckFirstWriterWins", testPathCheckFirstWriterWins},
	{"ModulePaths", testModulePaths},
	{"ZipFilesRoundTrip", testZipFilesRoundTrip},
	{"ZipFilesConcurrent", testZipFilesConcurrent},
	{"SimilarZips", testSimilarZips},
	{"CloneRoundTrip", testCloneRoundTrip},
	{"ZipCheckRoundTrip", testZipCheckRoundTrip},
}

// The look-alike check of a path is made once: a second writer gets the
// first record back, and hostile text round-trips unchanged.
func testPathCheckFirstWriterWins(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	if _, err := s.PathCheck(ctx, "github.com/shopsprint/decimal"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("PathCheck of an unchecked path: err = %v, want fs.ErrNotExist", err)
	}
	first := &store.PathCheck{Path: "github.com/shopsprint/decimal", CheckedAt: t2021, Resembles: "github.com/shopspring/decimal",
		Kind: "edit", How: "1 edit from github.com/shopspring/decimal (shopsprint for shopspring) '; DROP TABLE x; --", Uses: 40, Listed: true, Others: 2}
	got, err := s.PutPathCheck(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("PutPathCheck (-want +got):\n%s", diff)
	}
	second := &store.PathCheck{Path: first.Path, CheckedAt: t2024}
	if got, err = s.PutPathCheck(ctx, second); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("second PutPathCheck returned (-want +got):\n%s", diff)
	}
	clean, err := s.PutPathCheck(ctx, &store.PathCheck{Path: "github.com/shopspring/decimal"})
	if err != nil {
		t.Fatal(err)
	}
	if clean.CheckedAt.IsZero() || clean.Resembles != "" {
		t.Errorf("PutPathCheck of a clean path = %+v, want CheckedAt set and nothing resembled", clean)
	}
}

// ModulePaths lists paths with stored artifacts (counting versions) and
// paths only checked.
func testModulePaths(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	for _, m := range []module.Version{{Path: "example.com/b", Version: "v1.0.0"}, {Path: "example.com/b", Version: "v1.1.0"}, {Path: "example.com/a", Version: "v1.0.0"}} {
		for _, k := range []store.Kind{store.KindInfo, store.KindMod} {
			data := []byte(m.String() + string(k))
			if _, err := s.PutArtifact(ctx, &store.Artifact{Module: m, Kind: k, SHA256: sum(data), Size: int64(len(data)), Data: data}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range []string{"example.com/c", "example.com/a"} {
		if _, err := s.PutPathCheck(ctx, &store.PathCheck{Path: p}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ModulePaths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.PathUse{{Path: "example.com/a", Versions: 1}, {Path: "example.com/b", Versions: 2}, {Path: "example.com/c", Versions: 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ModulePaths (-want +got):\n%s", diff)
	}
}

func zipFiles(n int, prefix string) []store.ZipFile {
	var out []store.ZipFile
	for i := range n {
		name := prefix + string(rune('a'+i)) + ".go"
		out = append(out, store.ZipFile{Name: name, SHA256: sum([]byte(name)), Size: int64(10 + i)})
	}
	return out
}

func testZipFilesRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	if _, err := s.ZipFiles(ctx, m); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ZipFiles of an unindexed zip: err = %v, want fs.ErrNotExist", err)
	}
	files := zipFiles(3, "dir/")
	files = append(files, store.ZipFile{Name: "go.mod", SHA256: sum([]byte("module example.com/m")), Size: 20})
	if err := s.PutZipFiles(ctx, m, files); err != nil {
		t.Fatal(err)
	}
	// Recording again replaces.
	if err := s.PutZipFiles(ctx, m, files); err != nil {
		t.Fatal(err)
	}
	got, err := s.ZipFiles(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]store.ZipFile{}, files...) // sorted by name: dir/a.go, dir/b.go, dir/c.go, go.mod
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ZipFiles (-want +got):\n%s", diff)
	}
}

// SimilarZips counts files with the same name and contents in other
// modules' zips only, best first.
func testSimilarZips(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	orig := zipFiles(10, "")
	put := func(path, version string, files []store.ZipFile) {
		if err := s.PutZipFiles(ctx, module.Version{Path: path, Version: version}, files); err != nil {
			t.Fatal(err)
		}
	}
	put("github.com/shopspring/decimal", "v1.3.1", orig)
	put("github.com/shopspring/decimal", "v1.3.2", orig[:8])
	renamed := append([]store.ZipFile{}, orig...)
	for i := range renamed {
		renamed[i].Name = "x/" + renamed[i].Name // same contents, other names: no match
	}
	put("example.com/renamed", "v1.0.0", renamed)
	clone := append(append([]store.ZipFile{}, orig...), store.ZipFile{Name: "loader.go", SHA256: sum([]byte("loader")), Size: 6})
	put("github.com/shopsprint/decimal", "v1.3.0", clone) // its own earlier version: not another module
	got, err := s.SimilarZips(ctx, "github.com/shopsprint/decimal", clone, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.ZipMatch{
		{Module: module.Version{Path: "github.com/shopspring/decimal", Version: "v1.3.1"}, Files: 10},
		{Module: module.Version{Path: "github.com/shopspring/decimal", Version: "v1.3.2"}, Files: 8},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SimilarZips (-want +got):\n%s", diff)
	}
	// Many files: more than one batch of a driver's query.
	var many []store.ZipFile
	for i := range 1123 { // five full batches and the odd rest
		name := strings.Repeat("d/", i%7) + "f" + string(rune('A'+i%26)) + string(rune('a'+i/26)) + ".go"
		many = append(many, store.ZipFile{Name: name, SHA256: sum([]byte(name)), Size: 1})
	}
	put("example.com/big", "v1.0.0", many)
	if index, err := s.ZipFiles(ctx, module.Version{Path: "example.com/big", Version: "v1.0.0"}); err != nil || len(index) != len(many) {
		t.Errorf("ZipFiles of 1123 files: %d files, %v", len(index), err)
	}
	if got, err = s.SimilarZips(ctx, "example.com/other", many, 1); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Files != len(many) {
		t.Errorf("SimilarZips of 1123 files = %+v, want example.com/big with 1123", got)
	}
	// Fewer files than a full batch: 9 of them, none repeated in the count.
	if got, err = s.SimilarZips(ctx, "example.com/other", many[:9], 1); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Files != 9 {
		t.Errorf("SimilarZips of 9 files = %+v, want example.com/big with 9", got)
	}
}

func testCloneRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "github.com/shopsprint/decimal", Version: "v1.3.3"}
	if _, err := s.Clone(ctx, m); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Clone of an unchecked version: err = %v, want fs.ErrNotExist", err)
	}
	c := &store.Clone{Module: m, CheckedAt: t2021, Original: module.Version{Path: "github.com/shopspring/decimal", Version: "v1.3.1"},
		Similarity: 916, Added: []string{"loader.go"}, Changed: []string{"decimal.go"},
		Capabilities: []string{"EXEC in loader.go:12", "NETWORK in loader.go:9"}, CapabilitiesKnown: true}
	if err := s.PutClone(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.Clone(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("Clone (-want +got):\n%s", diff)
	}
	// A check made again replaces the record; no original: empty lists.
	none := &store.Clone{Module: m, CheckedAt: t2024}
	if err := s.PutClone(ctx, none); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Clone(ctx, m); err != nil {
		t.Fatal(err)
	}
	want := &store.Clone{Module: m, CheckedAt: t2024, Added: []string{}, Changed: []string{}, Capabilities: []string{}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Clone after a second check (-want +got):\n%s", diff)
	}
}

// Replicas that decide on one zip at once record its file index at once:
// neither may fail (two PostgreSQL replicas did, with a duplicate key, and
// answered 500).
func testZipFilesConcurrent(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "example.com/m", Version: "v1.0.0"}
	files := zipFiles(3, "dir/")
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- s.PutZipFiles(ctx, m, files) }()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent PutZipFiles: %v", err)
		}
	}
	if got, err := s.ZipFiles(ctx, m); err != nil || len(got) != len(files) {
		t.Errorf("ZipFiles after concurrent recording: %d files, %v; want %d", len(got), err, len(files))
	}
}

// PutZipCheck records a zip's file index and clone check together, and a
// second check replaces both; a check that fails stores neither.
func testZipCheckRoundTrip(t *testing.T, s store.Store) {
	ctx := ctxT(t)
	m := module.Version{Path: "github.com/shopsprint/decimal", Version: "v1.3.3"}
	files := zipFiles(250, "dir/") // more than one INSERT's batch
	c := &store.Clone{Module: m, CheckedAt: t2021, Original: module.Version{Path: "github.com/shopspring/decimal", Version: "v1.3.1"},
		Similarity: 916, Added: []string{"loader.go"}, Capabilities: []string{"EXEC in loader.go:12"}, CapabilitiesKnown: true}
	if err := s.PutZipCheck(ctx, files, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.Clone(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	want := *c
	want.Changed = []string{}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("Clone (-want +got):\n%s", diff)
	}
	gotFiles, err := s.ZipFiles(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(files, gotFiles); diff != "" {
		t.Errorf("ZipFiles (-want +got):\n%s", diff)
	}
	// Found by the query of another module's check.
	matches, err := s.SimilarZips(ctx, "example.com/other", files[:10], 5)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.ZipMatch{{Module: m, Files: 10}}, matches); diff != "" {
		t.Errorf("SimilarZips (-want +got):\n%s", diff)
	}

	// Checked again: both replaced.
	again := zipFiles(3, "other/")
	none := &store.Clone{Module: m, CheckedAt: t2024}
	if err := s.PutZipCheck(ctx, again, none); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Clone(ctx, m); err != nil || got.Original.Path != "" || !got.CheckedAt.Equal(t2024) {
		t.Errorf("Clone after a second check = %+v, %v; want no original, checked %v", got, err, t2024)
	}
	if gotFiles, err = s.ZipFiles(ctx, m); err != nil || len(gotFiles) != len(again) {
		t.Errorf("ZipFiles after a second check: %d files, %v; want %d", len(gotFiles), err, len(again))
	}

	// A file the index refuses (a SHA-256 that is not one): neither is
	// stored.
	bad := module.Version{Path: "example.com/bad", Version: "v1.0.0"}
	if err := s.PutZipCheck(ctx, []store.ZipFile{{Name: "a.go", SHA256: "not a sha-256", Size: 1}}, &store.Clone{Module: bad}); err == nil {
		t.Errorf("PutZipCheck with a file whose SHA-256 is not one succeeded")
	}
	if _, err := s.Clone(ctx, bad); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Clone after a failed PutZipCheck: err = %v, want fs.ErrNotExist", err)
	}
}
