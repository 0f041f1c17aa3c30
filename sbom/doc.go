// Package sbom renders software bills of materials for Go module versions and
// build lists: SPDX 2.3 (https://spdx.github.io/spdx-spec/v2.3/) through
// github.com/spdx/tools-golang, and CycloneDX 1.6
// (https://cyclonedx.org/docs/1.6/json/) through github.com/CycloneDX/cyclonedx-go.
//
// The package is pure: it does no I/O beyond the io.Writer given to an
// encoder, reads no clock and imports no storage. Callers pass plain input
// structs ([Module], [Project]) and [Options] carrying the creation time and the
// namespace base, so the same input always yields the same bytes.
//
// # What goes where
//
// A module version becomes one SPDX package (one CycloneDX component) with:
//   - name = module path, version = module version;
//   - a purl, pkg:golang/<path>@<version>, keeping the path's case (see [PURL]);
//   - the SHA-256 and SHA-512 of the module zip as checksums (hashes);
//   - the go.sum hashes (h1: of the zip's file tree and of go.mod) in the
//     package comment, written as the go.sum lines they are, so a reader can
//     compare them with a go.sum file ("go.sum: <path> <version> h1:..."); in
//     CycloneDX they are the properties "modgate:go.sum:h1" and
//     "modgate:go.sum:go.mod.h1". SPDX has no checksum algorithm for Go's
//     dirhash, and a hash is not an external reference, so the comment is the
//     one place both SPDX serialisations keep exactly (tag-value drops
//     package-level annotations);
//   - the supplier (see [Supplier]);
//   - the declared license (and the concluded one: modgate read the license
//     files itself; the license comment says it is an automatic detection);
//   - copyright text, download location and publish time (SPDX releaseDate);
//   - known vulnerabilities as SECURITY/advisory external references (SPDX)
//     and a vulnerabilities section with affects references (CycloneDX);
//   - its go.mod requirements as packages (components) with DEPENDS_ON edges.
//
// A module's served/blocked status (Module.Status, set for project and window
// SBOMs: [ProjectSPDX], [ProjectCycloneDX]) is a line "modgate status: <status>"
// of the package comment and the CycloneDX property "modgate:status".
//
// # Identity
//
// The SPDX document namespace is Options.Namespace + "/" + the escaped root
// name and version + "-" + the hex SHA-256 of the document's JSON rendering
// with an empty namespace. Regenerating with the same input and time gives the
// same namespace; any change of content (a new vulnerability, a new time)
// gives a new one, as SPDX requires of a namespace. The CycloneDX serial number
// is a name-based (version 5) UUID of the same kind of content digest.
//
// # Hostile input
//
// Module paths, versions, requirements and hashes are validated (with
// golang.org/x/mod/module) and rejected with an error. Free text (license
// strings, copyright, supplier, vulnerability summaries, project names) is
// kept but made safe: single-line fields lose control characters, a license
// that is not an SPDX license expression becomes NOASSERTION with the text
// moved to the license comment, and a URL that is not absolute http(s)
// becomes NOASSERTION (or the default advisory URL). Tag-value has no escape
// for its <text> markers, so [EncodeSPDXTagValue] refuses, with an error, a
// document whose text contains "<text>" or "</text>" where it cannot be
// written unambiguously; the JSON encodings take any text.
package sbom
