package scanner

import (
	"slices"
	"strings"
	"sync"

	"github.com/google/licensecheck"
)

// CommonLicenses are the licenses (licensecheck ids, mostly SPDX) the
// scanner recognises besides those a policy names (see
// [Scanner.LicensesFrom]): the licenses pkgsite accepts, their -only and
// -or-later forms, and the copyleft, non-commercial and source-available
// licenses a policy is most likely to deny. A license file with another
// license is recorded as NOASSERTION (not recognised), which
// licenses.unknown decides on.
//
// licensecheck's scanner over all of its 423 licenses costs 318 MiB of
// allocation and about 110 MiB of RSS to build (on the first zip); over
// these it costs 50 MiB and about 20 MiB. Their detection is the same as the
// full set's on the license files of real module zips (TestLicensesAsFullSet:
// modgate's own module cache, and the 864 zips of the hugo graph, where
// OFL-1.1 beside MIT in chroma's LICENSE was the one difference before
// OFL-1.1 was added).
var CommonLicenses = []string{
	"0BSD", "AGPL-3.0", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-1.1", "Apache-2.0", "Artistic-2.0",
	"BlueOak-1.0.0", "BSD-1-Clause", "BSD-2-Clause", "BSD-2-Clause-Patent", "BSD-2-Clause-Views",
	"BSD-3-Clause", "BSD-3-Clause-Clear", "BSD-4-Clause", "BSL-1.0", "CC-BY-3.0", "CC-BY-4.0",
	"CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", "CC-BY-ND-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC0-1.0",
	"CDDL-1.0", "CommonsClause", "EPL-1.0", "EPL-2.0", "EUPL-1.2", "GPL-2.0", "GPL-2.0-only",
	"GPL-2.0-or-later", "GPL-3.0", "GPL-3.0-only", "GPL-3.0-or-later", "GooglePatentClause",
	"GooglePatentsFile", "ISC", "JSON", "LGPL-2.1", "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0",
	"LGPL-3.0-only", "LGPL-3.0-or-later", "MIT", "MIT-0", "MPL-2.0", "MPL-2.0-no-copyleft-exception",
	"NCSA", "OFL-1.1", "OpenSSL", "OSL-3.0", "PostgreSQL", "Python-2.0", "SSPL-1.0", "Unicode-DFS-2016", "Unlicense",
	"UPL-1.0", "WTFPL", "X11", "Zlib",
}

// licenseScanner is licensecheck's scanner over a set of licenses, built on
// first use.
type licenseScanner struct {
	ids   []string          // licensecheck ids, sorted
	known map[string]string // every licensecheck id with a text, by its lower case
	once  sync.Once
	sc    *licensecheck.Scanner
	err   error
}

// newLicenseScanner returns a scanner over CommonLicenses and the licenses
// of licensecheck whose ids match extra case-insensitively (unknown ones are
// left out: no text could be recognised as them).
func newLicenseScanner(extra []string) *licenseScanner {
	want := map[string]bool{}
	for _, id := range CommonLicenses {
		want[strings.ToLower(id)] = true
	}
	for _, id := range extra {
		want[strings.ToLower(id)] = true
	}
	var ids []string
	known := map[string]string{}
	for _, l := range licensecheck.BuiltinLicenses() {
		if l.LRE == "" {
			continue
		}
		known[strings.ToLower(l.ID)] = l.ID
		if want[strings.ToLower(l.ID)] {
			ids = append(ids, l.ID)
		}
	}
	slices.Sort(ids)
	return &licenseScanner{ids: slices.Compact(ids), known: known}
}

// covers reports whether the scanner recognises every licensecheck license
// that ids name.
func (l *licenseScanner) covers(ids []string) bool {
	for _, id := range ids {
		if b, ok := l.known[strings.ToLower(id)]; ok {
			if _, found := slices.BinarySearch(l.ids, b); !found {
				return false
			}
		}
	}
	return true
}

// scan returns text's coverage by the scanner's licenses.
func (l *licenseScanner) scan(text []byte) (licensecheck.Coverage, error) {
	l.once.Do(func() {
		want := map[string]bool{}
		for _, id := range l.ids {
			want[id] = true
		}
		var list []licensecheck.License
		for _, lic := range licensecheck.BuiltinLicenses() {
			if want[lic.ID] {
				list = append(list, lic)
			}
		}
		l.sc, l.err = licensecheck.NewScanner(list)
	})
	if l.err != nil {
		return licensecheck.Coverage{}, l.err
	}
	return l.sc.Scan(text), nil
}

// LicensesFrom makes the scanner recognise, besides CommonLicenses, the
// licenses that ids returns (the ids the policy in force names, so that a
// denied license is never recorded as merely not recognised). It is called
// before each license scan; when it names a license not recognised yet, the
// scanner is built again (once) over the larger set. Call it before the
// Scanner is used.
func (s *Scanner) LicensesFrom(ids func() []string) {
	s.licenseIDs = ids
}

// licenseScanner returns the license scanner for the current set.
func (s *Scanner) licenseScanner() *licenseScanner {
	var extra []string
	if s.licenseIDs != nil {
		extra = s.licenseIDs()
	}
	s.licMu.Lock()
	defer s.licMu.Unlock()
	if s.lic == nil || !s.lic.covers(extra) {
		s.lic = newLicenseScanner(extra)
	}
	return s.lic
}
