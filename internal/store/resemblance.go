package store

import (
	"context"
	"sort"
	"time"

	"golang.org/x/mod/module"
)

// PathCheck is the record of a module path's look-alike check, made the
// first time the path was requested (scanner/lookalike): the known path it
// resembles, if any.
type PathCheck struct {
	Path      string
	CheckedAt time.Time // UTC, set by the store if zero
	// Resembles is the known path it resembles, "" when it resembles none
	// (then the other fields are zero too).
	Resembles string
	// Kind is how (lookalike.Kind*: "edit", "transposed", "affix", ...), How
	// says it in words naming Resembles.
	Kind, How string
	// Uses is how many versions of Resembles this organisation had fetched
	// when the check was made; Listed says Resembles is on the shipped list
	// of widely used public modules.
	Uses   int
	Listed bool
	// Others is how many more known paths it resembles.
	Others int
}

// ZipFile is one file of a module zip, for the index of file contents: its
// name without the "module@version/" prefix, the SHA-256 of its bytes (lower
// case hex) and its size.
type ZipFile struct {
	Name   string
	SHA256 string
	Size   int64
}

// ZipMatch is a stored version whose zip shares Files files (same name, same
// SHA-256) with a zip being compared.
type ZipMatch struct {
	Module module.Version
	Files  int
}

// Clone is the record of a version's clone check, made when its zip was
// ingested: the stored version of another module its files are copied from,
// if any.
type Clone struct {
	Module    module.Version
	CheckedAt time.Time // UTC, set by the store if zero
	// Original is the version it copies; zero when it copies none (then the
	// other fields are zero too).
	Original module.Version
	// Similarity is the share of the version's files (license and read-me
	// files and go.mod aside) identical to the original's, in thousandths.
	Similarity int
	// Added are the files the original does not have, Changed those it has
	// with other contents (go.mod aside; see ModuleLineOnly), sorted.
	Added, Changed []string
	// ModuleLineOnly says its go.mod differs from the original's only in
	// the module line (a fork that renamed itself, nothing else).
	ModuleLineOnly bool
	// Capabilities are the capabilities the added and changed files use
	// that the original does not ("EXEC in loader.go:12"), sorted; empty
	// when they add none. CapabilitiesKnown is false when they could not be
	// analysed (then Capabilities is empty too).
	Capabilities      []string
	CapabilitiesKnown bool
}

// Resemblance keeps what tells where a module comes from: the look-alike check
// of every module path requested, the index of the files of every stored
// zip, and the clone check of every zip ingested.
type Resemblance interface {
	// PathCheck returns the look-alike check of path, or an error satisfying
	// errors.Is(err, fs.ErrNotExist) when the path was never checked.
	PathCheck(ctx context.Context, path string) (*PathCheck, error)
	// PutPathCheck stores c unless path was checked already, and returns
	// the stored check (the first writer wins).
	PutPathCheck(ctx context.Context, c *PathCheck) (*PathCheck, error)
	// ModulePaths returns every module path with a stored artifact or a
	// look-alike check, with how many versions of it have a stored artifact
	// (0 for a path only checked), sorted by path.
	ModulePaths(ctx context.Context) ([]PathUse, error)
	// PutZipFiles records the files of m's zip; recording them again
	// replaces them.
	PutZipFiles(ctx context.Context, m module.Version, files []ZipFile) error
	// ZipFiles returns the recorded files of m's zip sorted by name, or an
	// error satisfying errors.Is(err, fs.ErrNotExist) when none are.
	ZipFiles(ctx context.Context, m module.Version) ([]ZipFile, error)
	// SimilarZips returns the stored versions of modules other than path
	// that share the most files (same name and SHA-256) with files, most
	// first (then by path and version), at most n.
	SimilarZips(ctx context.Context, path string, files []ZipFile, n int) ([]ZipMatch, error)
	// Clone returns the clone check of m, or an error satisfying
	// errors.Is(err, fs.ErrNotExist) when none was made.
	Clone(ctx context.Context, m module.Version) (*Clone, error)
	// PutClone stores (or replaces) the clone check of c.Module.
	PutClone(ctx context.Context, c *Clone) error
	// PutZipCheck records the files of c.Module's zip (as PutZipFiles) and
	// its clone check c (as PutClone) in one transaction: both or neither.
	PutZipCheck(ctx context.Context, files []ZipFile, c *Clone) error
}

// PathUse is a module path and how many of its versions are stored.
type PathUse struct {
	Path     string
	Versions int
}

// BestMatches orders counted matches for [Resemblance.SimilarZips]: most files
// first, then by path and version; at most n.
func BestMatches(count map[module.Version]int, n int) []ZipMatch {
	out := make([]ZipMatch, 0, len(count))
	for m, c := range count {
		out = append(out, ZipMatch{Module: m, Files: c})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Files != b.Files {
			return a.Files > b.Files
		}
		if a.Module.Path != b.Module.Path {
			return a.Module.Path < b.Module.Path
		}
		return a.Module.Version < b.Module.Version
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
