package sbom

import (
	"strings"

	"golang.org/x/mod/module"
)

// PURL returns the package URL of a module version,
// pkg:golang/<namespace>/<name>@<version>, where name is the last element of
// the module path and namespace the elements before it
// (https://github.com/package-url/purl-spec, type golang).
//
// The path keeps its case: Go module paths are case-sensitive
// (github.com/Azure/azure-sdk-for-go and github.com/azure/azure-sdk-for-go are
// different modules), so lower-casing would name a module that does not
// exist. Each path element and the version are percent-encoded as the purl
// specification requires: every character but ASCII letters, digits and
// ".-_~:" (a "+incompatible" version's "+" becomes "%2B").
func PURL(m module.Version) string {
	var b strings.Builder
	b.WriteString("pkg:golang/")
	for i, elem := range strings.Split(m.Path, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		purlEscape(&b, elem)
	}
	if m.Version != "" {
		b.WriteByte('@')
		purlEscape(&b, m.Version)
	}
	return b.String()
}

func purlEscape(b *strings.Builder, s string) {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '-', c == '_', c == '~', c == ':':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
}
