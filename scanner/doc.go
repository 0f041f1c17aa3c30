// Package scanner will establish the facts about one module version that the
// policy decides on: known vulnerabilities from the Go vulnerability database,
// license, retraction, deprecation and publish time. It is empty until the
// vulnerability issue builds it; the directory exists because the project's
// layout is fixed from the start.
package scanner
