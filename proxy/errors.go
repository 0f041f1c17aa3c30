package proxy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/blob"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/proxy/upstream"
	"github.com/modgate/modgate/proxy/verify"
)

// badRequestError is a malformed module path, version or URL.
type badRequestError struct{ msg string }

func (e *badRequestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &badRequestError{msg: fmt.Sprintf(format, args...)}
}

// upstreamError marks a failure that came from an upstream (not from modgate's
// own storage), so that it maps to 502/504 rather than 500.
type upstreamError struct{ err error }

func (e *upstreamError) Error() string { return e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// noSpaceError is an artifact modgate could not store because its disk (the
// blob store's or the database's) is full: the operator's problem, not the
// upstream's nor the developer's. Its message names no path.
type noSpaceError struct {
	mod  module.Version
	kind string
	err  error
}

func (e *noSpaceError) Error() string {
	return fmt.Sprintf("%s@%s: modgate cannot store the .%s: its disk is full."+
		" The module and the upstream are fine; the operator must free space, then retry.", e.mod.Path, e.mod.Version, e.kind)
}

func (e *noSpaceError) Unwrap() error { return e.err }

// noSpace reports whether err says a disk (blob store or database) is full.
func noSpace(err error) bool {
	return blob.NoSpace(err) || errors.Is(err, store.ErrNoSpace)
}

// fetchDisabledError answers a cache miss for a request that said
// Disable-Module-Fetch: true.
var errFetchDisabled = fmt.Errorf("not in modgate's cache, and the request disabled fetching (Disable-Module-Fetch: true): %w", fs.ErrNotExist)

// statusOf maps an error to the HTTP status the go command expects. This is the
// only place that does so.
//
//   - 400: malformed path or version.
//   - 403: a refusal that a client's GOPROXY fallback must not walk around (a zip
//     that breaks the module zip rules; later: checksum mismatch, policy).
//   - 404: the module or version does not exist (a client's "," fallback then
//     tries its next proxy), also when upstream is "off" or fetching is disabled.
//   - 504: an upstream timed out; 502: any other upstream failure.
//   - 507: modgate's disk is full (never blamed on the upstream).
//   - 503: a stored artifact failed its integrity check (retrying fetches it anew),
//     or the blob store cannot be reached (never 404: nothing is missing).
//   - 500: modgate's own storage failed.
func statusOf(err error) int {
	var bad *badRequestError
	var zipErr *verify.ZipError
	var upErr *upstreamError
	var private *privateLookupError
	var mismatch *verify.MismatchError
	var unverified *verify.UnverifiedError
	var blocked *BlockedError
	var full *noSpaceError
	var tampered *integrityError
	var unavailable *blob.UnavailableError
	switch {
	case errors.As(err, &full), noSpace(err):
		return http.StatusInsufficientStorage
	case errors.As(err, &tampered), errors.As(err, &unavailable):
		return http.StatusServiceUnavailable
	case errors.As(err, &blocked):
		return http.StatusForbidden
	case errors.As(err, &mismatch):
		return http.StatusForbidden
	case errors.As(err, &unverified):
		if unverified.Reason == verify.Unknown {
			return http.StatusForbidden
		}
		return http.StatusBadGateway
	case errors.As(err, &private):
		return http.StatusForbidden
	case errors.As(err, &bad):
		return http.StatusBadRequest
	case errors.As(err, &zipErr):
		return http.StatusForbidden
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, upstream.ErrOff):
		return http.StatusNotFound
	case errors.Is(err, upstream.ErrTimeout):
		return http.StatusGatewayTimeout
	case errors.As(err, &upErr):
		if errors.Is(err, context.DeadlineExceeded) {
			return http.StatusGatewayTimeout
		}
		return http.StatusBadGateway
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// maxErrorBody is what the go command shows of an error body: up to 8 lines and
// 648 bytes, up to the first blank line.
const maxErrorBody = 648

// writeError writes err as a text/plain body the go command will show.
func writeError(w http.ResponseWriter, code int, err error) {
	msg := errorText(code, err)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write([]byte(msg))
}

// errorText renders err for a developer: the essentials first, on at most 8
// lines within the go command's 648-byte budget, with control characters
// (which may come from hostile upstreams) removed.
func errorText(code int, err error) string {
	var b strings.Builder
	msg := err.Error()
	var full *noSpaceError
	switch {
	case code == http.StatusInternalServerError:
		// Do not leak storage internals to clients; the log has the details.
		msg = "modgate: internal error; the operator's log has the details"
	case code == http.StatusInsufficientStorage && !errors.As(err, &full):
		msg = "modgate: its disk is full; the operator must free space, then retry"
	case code == http.StatusInsufficientStorage:
		msg = full.Error()
	}
	var blocked *BlockedError
	if errors.As(err, &blocked) {
		// A refusal fits its summary to what the go command shows itself and
		// lists every finding after a blank line (where the go command stops).
		for _, line := range strings.Split(strings.TrimSuffix(msg, "\n"), "\n") {
			b.WriteString(sanitize(line))
			b.WriteByte('\n')
		}
		return b.String()
	}
	lines := 0
	for _, line := range strings.Split(msg, "\n") {
		line = sanitize(line)
		if line == "" {
			continue
		}
		if lines == 8 {
			break
		}
		b.WriteString(line)
		b.WriteByte('\n')
		lines++
	}
	s := b.String()
	if len(s) > maxErrorBody {
		s = s[:maxErrorBody-4]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "...\n"
	}
	return s
}

// sanitize drops control characters and trims space, so hostile strings cannot
// forge extra lines or terminal escapes in a developer's terminal.
func sanitize(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s))
}
