package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/sbom"
	"github.com/modgate/modgate/sbom/assembly"
	"github.com/modgate/modgate/sbom/buildlist"
)

// The SBOM API, every answer in the format of ?format= (spdx-json, the
// default; spdx-tv; cyclonedx-json):
//
//	GET  /api/sbom/{escaped module path}/@v/{escaped version}
//	     the latest SBOM made at ingest of that version (404 if modgate
//	     never ingested it); path and version are case-escaped as in the
//	     GOPROXY protocol ("!" before an upper-case letter)
//	GET  /api/sbom/id/{id}
//	     the SBOM whose id (SPDX document namespace, as audit records name
//	     it) is the path-escaped {id}
//	POST /api/sbom/project[?name=N]
//	     one SBOM of a project's build list; the body is either
//	       - multipart/form-data with a "go.mod" and/or a "go.sum" (or "list")
//	         part, or
//	       - text, one module per line, each line one of
//	           path@version                 a list of module versions
//	           path version [=> ...]        the output of `go list -m all`
//	           path version[/go.mod] h1:... a go.sum file
//	         (see [buildlist.Parse])
//	GET  /api/sbom/window?client=C[&client=D...][&since=T][&until=T]
//	     one SBOM of every module version whose zip the clients were
//	     served or refused in [since, until), from the audit log; T is
//	     RFC 3339 or a date (see package assembly)
//
// Errors are text/plain. Every string in a request is hostile: nothing is
// reflected into HTML, and every answer carries X-Content-Type-Options:
// nosniff and a Content-Security-Policy that allows nothing.

// SBOMOptions configures [NewSBOMHandler] and [NewSBOMs].
type SBOMOptions struct {
	// SBOMs holds the records made at ingest; required.
	SBOMs store.SBOMs
	// Audit is read for window SBOMs and for the served/blocked status of
	// the modules of project SBOMs. Nil: window SBOMs fail and project SBOMs
	// show no status.
	Audit store.Audit
	// Facts, if set, refreshes project and window SBOMs with what modgate
	// knows now (see [assembly.Options]). Nil: a version's data is its
	// record's, as at ingest.
	Facts store.VersionFacts
	// Artifacts, if set, gives the .info files whose Time is a version's
	// publication time when none was recorded from upstream.
	Artifacts store.Artifacts
	// Base is the generation settings: Namespace (required), ToolVersion,
	// Organization. Created is ignored: a stored SBOM keeps its creation
	// time (and the settings it was made with, see [sbom.DecodeRecord]), and
	// project and window SBOMs are created at Now.
	Base sbom.Options
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Logger logs failures the client is not told about; nil: slog.Default().
	Logger *slog.Logger
	// Authorize is called first for every request (the seam for
	// authentication and per-team access): a non-nil error refuses the
	// request with 403 and the error's text. Nil: every request is allowed.
	Authorize func(r *http.Request) error
}

// sboms serves the SBOM API with the documents package assembly makes.
type sboms struct {
	opts SBOMOptions
	b    *assembly.Builder
	log  *slog.Logger
}

func newSBOMs(opts SBOMOptions) *sboms {
	s := &sboms{opts: opts, log: opts.Logger, b: assembly.New(assembly.Options{
		SBOMs: opts.SBOMs, Audit: opts.Audit, Facts: opts.Facts, Artifacts: opts.Artifacts, Base: opts.Base, Now: opts.Now,
	})}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// maxProjectBody bounds a project upload: a go.sum of a large project is
// well under a megabyte.
const maxProjectBody = 8 << 20

// NewSBOMHandler returns the handler of the SBOM API (see the list above),
// for paths under /api/sbom/.
func NewSBOMHandler(opts SBOMOptions) http.Handler {
	s := newSBOMs(opts)
	mux := http.NewServeMux()
	mux.Handle("GET /api/sbom/id/{id...}", s.handle(s.serveID))
	mux.Handle("POST /api/sbom/project", s.handle(s.serveProject))
	mux.Handle("GET /api/sbom/window", s.handle(s.serveWindow))
	mux.Handle("GET /api/sbom/{mod...}", s.handle(s.serveModule))
	return secureHeaders(mux)
}

// secureHeaders sets the headers every answer carries, the mux's own 404 and
// 405 included.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
		h.ServeHTTP(w, r)
	})
}

// document is a rendered SBOM ready to be sent.
type document struct {
	body     []byte
	format   sbom.Format
	filename string // without extension
	cache    string // Cache-Control
}

// handle adapts a handler that returns a document or an error: the one place
// errors become statuses.
func (s *sboms) handle(fn func(r *http.Request) (*document, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var doc *document
		var err error
		if s.opts.Authorize != nil {
			if aerr := s.opts.Authorize(r); aerr != nil {
				err = &httpError{http.StatusForbidden, aerr.Error()}
			}
		}
		if err == nil {
			doc, err = fn(r)
		}
		if err != nil {
			s.serveError(w, r, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", doc.format.ContentType())
		h.Set("Content-Disposition", mime.FormatMediaType("attachment",
			map[string]string{"filename": safeFilename(doc.filename) + extension(doc.format)}))
		h.Set("Cache-Control", doc.cache)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(doc.body))
	})
}

// httpError is an error with the status and the message the client gets.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// errorStatus maps an error to the status and the message the client gets.
func errorStatus(err error) (int, string) {
	var he *httpError
	var ie *assembly.InputError
	var tv *sbom.TagValueError
	switch {
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.As(err, &ie):
		return http.StatusBadRequest, ie.Msg
	case errors.As(err, &tv):
		return http.StatusUnprocessableEntity, err.Error() + "; ask for format=spdx-json or cyclonedx-json"
	case errors.Is(err, assembly.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, assembly.ErrNoAudit):
		return http.StatusNotImplemented, err.Error()
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "request cancelled or timed out"
	}
	return http.StatusInternalServerError, "internal error: the SBOM could not be made (the server's log says why)"
}

func (s *sboms) serveError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := errorStatus(err)
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "sbom request failed", "path", r.URL.Path, "status", status, "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	io.WriteString(w, strings.ToValidUTF8(msg, "\uFFFD")+"\n")
}

// format reads ?format=.
func format(r *http.Request) (sbom.Format, error) {
	name := r.URL.Query().Get("format")
	if name == "" {
		return sbom.SPDXJSON, nil
	}
	f, err := sbom.ParseFormat(name)
	if err != nil {
		return 0, badRequest("format %q: want spdx-json (the default), spdx-tv or cyclonedx-json", name)
	}
	return f, nil
}

// checkParams refuses query parameters other than the allowed ones, so a
// typo is not silently ignored.
func checkParams(r *http.Request, allowed ...string) error {
	for name := range r.URL.Query() {
		ok := false
		for _, a := range allowed {
			ok = ok || name == a
		}
		if !ok {
			return badRequest("unknown query parameter %q (known: %s)", name, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func (s *sboms) serveModule(r *http.Request) (*document, error) {
	if err := checkParams(r, "format"); err != nil {
		return nil, err
	}
	f, err := format(r)
	if err != nil {
		return nil, err
	}
	m, err := parseModulePath(r.PathValue("mod"))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := s.b.WriteModule(r.Context(), &b, f, m); err != nil {
		return nil, err
	}
	// The latest SBOM of a version changes when it is ingested again.
	return &document{b.Bytes(), f, m.Path + "@" + m.Version, "no-cache"}, nil
}

// parseModulePath parses "{escaped path}/@v/{escaped version}".
func parseModulePath(p string) (module.Version, error) {
	const usage = "want /api/sbom/{module path}/@v/{version}, case-escaped as in the GOPROXY protocol"
	escPath, escVersion, ok := strings.Cut(p, "/@v/")
	if !ok {
		return module.Version{}, badRequest("malformed SBOM path: %s", usage)
	}
	path, err := module.UnescapePath(escPath)
	if err != nil {
		return module.Version{}, badRequest("invalid module path: %v", err)
	}
	version, err := module.UnescapeVersion(escVersion)
	if err != nil {
		return module.Version{}, badRequest("invalid version: %v", err)
	}
	if err := module.Check(path, version); err != nil {
		return module.Version{}, badRequest("invalid module version: %v", err)
	}
	if c := module.CanonicalVersion(version); c != version {
		return module.Version{}, badRequest("version %q is not canonical: ask for %q", version, c)
	}
	return module.Version{Path: path, Version: version}, nil
}

func (s *sboms) serveID(r *http.Request) (*document, error) {
	if err := checkParams(r, "format"); err != nil {
		return nil, err
	}
	f, err := format(r)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	var b bytes.Buffer
	rec, err := s.b.WriteID(r.Context(), &b, f, id)
	if err != nil {
		return nil, err
	}
	// A document id names one content: it never changes.
	return &document{b.Bytes(), f, rec.Module.Path + "@" + rec.Module.Version, "private, max-age=31536000, immutable"}, nil
}

func (s *sboms) serveProject(r *http.Request) (*document, error) {
	if err := checkParams(r, "format", "name"); err != nil {
		return nil, err
	}
	f, err := format(r)
	if err != nil {
		return nil, err
	}
	gomod, list, err := readProjectBody(r)
	if err != nil {
		return nil, err
	}
	bl, err := buildlist.Parse(gomod, list)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if name := r.URL.Query().Get("name"); name != "" {
		bl.Name = name
	}
	var b bytes.Buffer
	if err := s.b.WriteProject(r.Context(), &b, f, bl); err != nil {
		return nil, err
	}
	return &document{b.Bytes(), f, assembly.ProjectName(bl), "no-store"}, nil
}

// readProjectBody returns the go.mod (nil if none) and the build-list text
// of a project upload.
func readProjectBody(r *http.Request) (gomod, list []byte, err error) {
	r.Body = http.MaxBytesReader(nil, r.Body, maxProjectBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		list, err = io.ReadAll(r.Body)
		if err != nil {
			return nil, nil, bodyError(err)
		}
		return nil, list, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, nil, badRequest("multipart body: %v", err)
	}
	seen := map[string]bool{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, bodyError(err)
		}
		name := p.FormName()
		if name != "go.mod" && name != "go.sum" && name != "list" {
			return nil, nil, badRequest("multipart part %q: want go.mod, go.sum or list", name)
		}
		if seen[name] {
			return nil, nil, badRequest("multipart part %q given twice", name)
		}
		seen[name] = true
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, bodyError(err)
		}
		if name == "go.mod" {
			gomod = data
		} else {
			list = append(append(list, data...), '\n')
		}
	}
	if !seen["go.mod"] && !seen["go.sum"] && !seen["list"] {
		return nil, nil, badRequest("multipart body without a go.mod, go.sum or list part")
	}
	return gomod, list, nil
}

func bodyError(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mb.Limit)}
	}
	return badRequest("reading the body: %v", err)
}

func (s *sboms) serveWindow(r *http.Request) (*document, error) {
	if err := checkParams(r, "format", "client", "since", "until"); err != nil {
		return nil, err
	}
	f, err := format(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	w := assembly.Window{Clients: q["client"]}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &w.Since}, {"until", &w.Until}} {
		vals := q[p.name]
		if len(vals) > 1 {
			return nil, badRequest("%s given %d times", p.name, len(vals))
		}
		if len(vals) == 1 && vals[0] != "" {
			if *p.t, err = ParseTime(vals[0]); err != nil {
				return nil, badRequest("%s: %v", p.name, err)
			}
		}
	}
	var b bytes.Buffer
	if err := s.b.WriteWindow(r.Context(), &b, f, w); err != nil {
		return nil, err
	}
	return &document{b.Bytes(), f, "fetches-" + strings.Join(w.Clients, "-"), "no-store"}, nil
}

// ParseTime parses a time of the API and the command line: RFC 3339
// (2026-03-01T08:00:00Z) or a date (2026-03-01, midnight UTC); the same
// forms as the audit export.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-03-01T08:00:00Z) or a date (2026-03-01)", s)
}

// safeFilename keeps letters, digits, '.', '-', '_' and '@' of s (others
// become '_'), so a hostile module path cannot shape the header or a path.
func safeFilename(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' || c == '@') {
			b[i] = '_'
		}
	}
	if len(b) > 120 {
		b = b[:120]
	}
	return strings.TrimLeft(string(b), ".")
}

func extension(f sbom.Format) string {
	switch f {
	case sbom.SPDXTagValue:
		return ".spdx"
	case sbom.CycloneDXJSON:
		return ".cdx.json"
	}
	return ".spdx.json"
}
