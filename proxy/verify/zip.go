// Package verify checks module artifacts before modgate stores or serves them.
//
// This file holds the structural checks of module zips, following the rules the
// go command enforces (golang.org/x/mod/zip): size limits, file names, path
// traversal, duplicate and case-folding names, and the module@version prefix of
// every file.
package verify

import (
	"errors"
	"fmt"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// ZipError reports a zip that breaks the module zip rules. Such a zip is refused
// and never stored: it is hostile or broken, whichever upstream served it.
type ZipError struct {
	Module module.Version
	Err    error
}

func (e *ZipError) Error() string {
	return fmt.Sprintf("%s@%s: invalid module zip: %v", e.Module.Path, e.Module.Version, e.Err)
}

func (e *ZipError) Unwrap() error { return e.Err }

// CheckZip checks the zip file at path against the rules for m's zip. It returns a
// *ZipError when the file breaks them (including when it is not a readable zip
// at all, as a truncated download is not).
func CheckZip(m module.Version, path string) error {
	cf, err := modzip.CheckZip(m, path)
	if err == nil {
		err = cf.Err()
	}
	if err == nil {
		return nil
	}
	var fe modzip.FileErrorList
	if errors.As(err, &fe) && len(fe) > 3 {
		// Keep the message short: the go command shows at most 8 lines.
		err = fmt.Errorf("%v (and %d more)", fe[:3], len(fe)-3)
	}
	return &ZipError{Module: m, Err: err}
}
