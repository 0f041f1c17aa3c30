// Package verify checks module artifacts before modgate stores or serves them.
//
// This file holds the structural checks of module zips, following the rules the
// go command enforces (golang.org/x/mod/zip): size limits, file names, path
// traversal, duplicate and case-folding names, and the module@version prefix of
// every file. On top of those, modgate refuses what the go command never puts
// in a module zip it creates, because a zip that has it was not made by the go
// command and is extracted into every developer's module cache:
//
//   - entries that are not regular files (symbolic links, devices, named pipes,
//     sockets: the zip's external attributes say so). golang.org/x/mod/zip
//     leaves irregular files out when it creates a zip (golang.org/issue/27093)
//     but does not look at the mode when it checks or extracts one, so such an
//     entry would land in the module cache as a file holding the link's target;
//   - version control metadata: any path element named .git, .hg, .svn or .bzr
//     (compared without case, as case-insensitive file systems and git itself
//     compare them). zip.CreateFromDir, which the go command uses for modules
//     fetched from version control, leaves these directories out; in the module
//     cache, a .git/config or .hg/hgrc would be obeyed by any git or hg command
//     an editor or a developer runs there (core.fsmonitor, hooks: code execution).
package verify

import (
	"archive/zip"
	"errors"
	"fmt"
	"io/fs"
	"strings"

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
// at all, as a truncated download is not). It reads the zip's directory, not
// its contents: [HashZip] reads those.
func CheckZip(m module.Version, path string) error {
	if err := checkZipRules(m, path); err != nil {
		return zipError(m, err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return zipError(m, err)
	}
	defer zr.Close()
	if err := checkEntries(m, &zr.Reader); err != nil {
		return zipError(m, err)
	}
	return nil
}

// checkZipRules applies golang.org/x/mod/zip's checks.
func checkZipRules(m module.Version, path string) error {
	cf, err := modzip.CheckZip(m, path)
	if err == nil {
		err = cf.Err()
	}
	return err
}

// zipError makes err a *ZipError whose message fits what the go command shows.
func zipError(m module.Version, err error) error {
	var fe modzip.FileErrorList
	if errors.As(err, &fe) && len(fe) > 3 {
		// Keep the message short: the go command shows at most 8 lines.
		err = fmt.Errorf("%v (and %d more)", fe[:3], len(fe)-3)
	}
	return &ZipError{Module: m, Err: err}
}

// Errors of entries the go command never puts in a module zip.
var (
	errSymlink    = errors.New("is a symbolic link (the go command leaves links out of module zips)")
	errNotRegular = errors.New("is not a regular file (the go command leaves such files out of module zips)")
	errVCS        = errors.New("is version control metadata (the go command leaves .git, .hg, .svn and .bzr out of module zips)")
)

// checkEntries refuses the entries of zr that are not regular files or
// directories, or that lie in (or are) version control metadata. It runs after
// golang.org/x/mod/zip's checks, so every name has m's prefix.
func checkEntries(m module.Version, zr *zip.Reader) error {
	prefix := m.Path + "@" + m.Version + "/"
	var errs modzip.FileErrorList
	for _, zf := range zr.File {
		name := strings.TrimPrefix(zf.Name, prefix)
		dir := strings.HasSuffix(name, "/")
		typ := zf.Mode().Type()
		if dir {
			typ &^= fs.ModeDir // archive/zip marks every name ending in "/" as a directory
		}
		switch {
		case typ&fs.ModeSymlink != 0:
			errs = append(errs, modzip.FileError{Path: zf.Name, Err: errSymlink})
		case typ != 0:
			errs = append(errs, modzip.FileError{Path: zf.Name, Err: errNotRegular})
		case isVCS(name):
			errs = append(errs, modzip.FileError{Path: zf.Name, Err: errVCS})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// isVCS reports whether a path element of name (relative to the module root,
// slash-separated) is a version control metadata directory's name.
func isVCS(name string) bool {
	for elem := range strings.SplitSeq(strings.TrimSuffix(name, "/"), "/") {
		switch strings.ToLower(elem) {
		case ".git", ".hg", ".svn", ".bzr":
			return true
		}
	}
	return false
}
