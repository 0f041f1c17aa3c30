package store

import (
	"context"
	"errors"
	"time"

	"golang.org/x/mod/module"
)

// CapabilityUse is one capability of one package of a version (see package
// scanner/caps, which computes them): where the package's code gets it.
type CapabilityUse struct {
	Package    string // import path
	Capability string // capslock's name: CAPABILITY_EXEC, ...
	File       string // path in the module, without the module@version/ prefix
	Line       int
	Via        string // what gives it: "os/exec.Command", `import "C"`, ...
	// Init is set when package initialisation reaches it; InitPath is the
	// chain of functions from it ("init → poll").
	Init     bool
	InitPath string `json:",omitempty"`
	// Main is set for a command's package (package main).
	Main bool `json:",omitempty"`
	// Had is set, in CapabilityFacts.Added, for a capability the base
	// version had, though not from initialisation.
	Had bool `json:",omitempty"`
}

// BinaryFile is a program (ELF, Mach-O, PE, a #! script, a .syso object)
// inside a module zip.
type BinaryFile struct {
	File     string
	Kind     string
	Testdata bool `json:",omitempty"`
}

// CapabilityFacts are the capabilities of one version's zip and what they add
// to the version before it.
type CapabilityFacts struct {
	Module module.Version
	// Uses are the capabilities per package; Binaries the programs in the
	// zip; Files how many Go files were analysed and Skipped the ones that
	// were not, with why.
	Uses     []CapabilityUse
	Binaries []BinaryFile `json:",omitempty"`
	Files    int
	Skipped  []string `json:",omitempty"`
	// Failed, when not empty, is why the pass could not run: the other
	// fields are then unknown, and the facts are no base for later versions.
	Failed string `json:",omitempty"`
	// Base is the version Added compares against: the highest lower version
	// of the module with facts. BaseNote says why there is none when Base is
	// empty ("the first version modgate has of this module", "v1.2.0: its
	// zip could not be fetched: ...").
	Base     string `json:",omitempty"`
	BaseNote string `json:",omitempty"`
	// Added are the uses of capabilities Base's library packages did not
	// have (or, with Init set, did not reach from initialisation);
	// AddedBinaries the binaries outside testdata Base did not have.
	Added         []CapabilityUse `json:",omitempty"`
	AddedBinaries []BinaryFile    `json:",omitempty"`
	// ComputedAt is when the pass ran (UTC).
	ComputedAt time.Time
}

// Validate reports whether f is a record the store may keep.
func (f *CapabilityFacts) Validate() error {
	switch {
	case f.Module.Path == "" || f.Module.Version == "":
		return errors.New("capability facts with an empty module path or version")
	case f.ComputedAt.IsZero():
		return errors.New("capability facts without a computation time")
	}
	return nil
}

// Capabilities stores the capability facts of versions.
type Capabilities interface {
	// PutCapabilities stores f, replacing the facts of f.Module.
	PutCapabilities(ctx context.Context, f *CapabilityFacts) error
	// CapabilityFacts returns the facts of m, or an error satisfying
	// errors.Is(err, fs.ErrNotExist) when there are none.
	CapabilityFacts(ctx context.Context, m module.Version) (*CapabilityFacts, error)
	// CapabilityVersions returns the versions of the module path whose facts
	// were computed (not Failed), in no particular order; none is not an
	// error.
	CapabilityVersions(ctx context.Context, path string) ([]string, error)
}
