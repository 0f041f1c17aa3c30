// Package web will serve the security team's dashboard and JSON API under
// /ui/ and /api/. It is empty until the dashboard issue builds it; the
// directory exists because the project's layout is fixed from the start.
package web
