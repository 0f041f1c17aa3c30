package proxy

import (
	"github.com/modgate/modgate/scanner"
)

// zipVisitor is what the one read of a zip's files at ingest (the h1: hash,
// verify.CheckHashZipFiles) gives the files to: the capability pass (caps),
// and the version's license files, kept for its facts
// (scanner.WithLicenseFiles), which were read from the stored zip again.
type zipVisitor struct {
	caps     *capsFeed
	capsWant int64 // what caps wants of the file being read
	license  bool  // the file being read is a license file
	licenses []scanner.LicenseText
}

func (v *zipVisitor) Want(name string, size int64) int64 {
	v.capsWant = v.caps.Want(name, size)
	v.license = scanner.IsLicenseFile(name)
	if v.license {
		return max(v.capsWant, min(size, scanner.MaxLicenseFile))
	}
	return v.capsWant
}

// Buffer lets the capability pass keep the file without a copy
// (verify.FileBuffer), when it wants all that is read of it (a license file
// is read further, into the hash's own buffer).
func (v *zipVisitor) Buffer(n int64) []byte {
	if v.capsWant < n {
		return nil
	}
	return v.caps.Buffer(n)
}

func (v *zipVisitor) File(name string, size int64, data []byte) {
	if v.license {
		// Not nil when empty, as read from the stored zip (data may be nil).
		v.licenses = append(v.licenses, scanner.LicenseText{Name: name, Text: append([]byte{}, data[:min(len(data), scanner.MaxLicenseFile)]...)})
	}
	// The capability pass gets what it asked for, as when it was given
	// the files alone.
	v.caps.File(name, size, data[:min(int64(len(data)), v.capsWant)])
}
