// Package sbom will render SPDX 2.3 (and CycloneDX) documents for module
// versions and build lists. It is empty until the SBOM issue builds it; the
// directory exists because the project's layout is fixed from the start.
package sbom
