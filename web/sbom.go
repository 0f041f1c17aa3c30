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
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/sbom"
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
//	         (see [ParseBuildList])
//	GET  /api/sbom/window?client=C[&client=D...][&since=T][&until=T]
//	     one SBOM of every module version the clients were served in
//	     [since, until), from the audit log; T is RFC 3339 or a date
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
	// knows now: the current vulnerabilities of every version, and the
	// requirements and licenses of versions without an SBOM record. Nil: a
	// version's data is its record's, as at ingest.
	Facts store.VersionFacts
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

// SBOMs renders stored SBOMs and assembles project and window SBOMs from
// modgate's records. The HTTP handler and `modgate sbom` share it.
type SBOMs struct {
	opts SBOMOptions
	log  *slog.Logger
	now  func() time.Time
}

// NewSBOMs returns an SBOMs. It does no I/O.
func NewSBOMs(opts SBOMOptions) *SBOMs {
	s := &SBOMs{opts: opts, log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// maxProjectBody bounds a project upload: a go.sum of a large project is
// well under a megabyte.
const maxProjectBody = 8 << 20

// maxWindowModules bounds the versions of one window SBOM.
const maxWindowModules = 100000

// NewSBOMHandler returns the handler of the SBOM API (see the list above),
// for paths under /api/sbom/.
func NewSBOMHandler(opts SBOMOptions) http.Handler {
	s := NewSBOMs(opts)
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
func (s *SBOMs) handle(fn func(r *http.Request) (*document, error)) http.Handler {
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
	switch {
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.Is(err, fs.ErrNotExist):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "request cancelled or timed out"
	}
	return http.StatusInternalServerError, "internal error: the SBOM could not be made (the server's log says why)"
}

func (s *SBOMs) serveError(w http.ResponseWriter, r *http.Request, err error) {
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

// notFound is the "not found" error of a module version.
func notFound(m module.Version, what string) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf("%s@%s: %s", m.Path, m.Version, what)}
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

func (s *SBOMs) serveModule(r *http.Request) (*document, error) {
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
	if err := s.WriteModule(r.Context(), &b, f, m); err != nil {
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

func (s *SBOMs) serveID(r *http.Request) (*document, error) {
	if err := checkParams(r, "format"); err != nil {
		return nil, err
	}
	f, err := format(r)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	var b bytes.Buffer
	rec, err := s.WriteID(r.Context(), &b, f, id)
	if err != nil {
		return nil, err
	}
	// A document id names one content: it never changes.
	return &document{b.Bytes(), f, rec.Module.Path + "@" + rec.Module.Version, "private, max-age=31536000, immutable"}, nil
}

func (s *SBOMs) serveProject(r *http.Request) (*document, error) {
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
	bl, err := ParseBuildList(gomod, list)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	if name := r.URL.Query().Get("name"); name != "" {
		bl.Name = name
	}
	var b bytes.Buffer
	if err := s.WriteProject(r.Context(), &b, f, bl); err != nil {
		return nil, err
	}
	return &document{b.Bytes(), f, bl.name(), "no-store"}, nil
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

func (s *SBOMs) serveWindow(r *http.Request) (*document, error) {
	if err := checkParams(r, "format", "client", "since", "until"); err != nil {
		return nil, err
	}
	f, err := format(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	w := Window{Clients: q["client"]}
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
	if err := s.WriteWindow(r.Context(), &b, f, w); err != nil {
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

// WriteModule writes the latest stored SBOM of m in format f. It fails with
// an error satisfying errors.Is(err, fs.ErrNotExist) if modgate has none.
func (s *SBOMs) WriteModule(ctx context.Context, w io.Writer, f sbom.Format, m module.Version) error {
	rec, err := s.opts.SBOMs.SBOM(ctx, m)
	if errors.Is(err, fs.ErrNotExist) {
		return notFound(m, "no SBOM: modgate has not ingested this version (fetch it through the proxy first)")
	}
	if err != nil {
		return err
	}
	return s.render(w, f, rec)
}

// WriteID writes the stored SBOM with the given id in format f and returns
// its record. It fails with an error satisfying errors.Is(err,
// fs.ErrNotExist) if there is none.
func (s *SBOMs) WriteID(ctx context.Context, w io.Writer, f sbom.Format, id string) (*store.SBOMRecord, error) {
	rec, err := s.opts.SBOMs.SBOMByID(ctx, id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &httpError{http.StatusNotFound, fmt.Sprintf("no SBOM with id %q", id)}
	}
	if err != nil {
		return nil, err
	}
	return rec, s.render(w, f, rec)
}

// render writes a record in format f, exactly as it was first rendered.
func (s *SBOMs) render(w io.Writer, f sbom.Format, rec *store.SBOMRecord) error {
	m, opts, err := sbom.DecodeRecord(rec.Input, rec.Created, s.opts.Base)
	if err != nil {
		return fmt.Errorf("SBOM %s of %s: %w", rec.ID, rec.Module, err)
	}
	if err := sbom.Write(w, f, m, opts); err != nil {
		return renderError(f, err)
	}
	return nil
}

// renderError explains a document the format cannot carry; anything else is
// the server's fault.
func renderError(f sbom.Format, err error) error {
	var tv *sbom.TagValueError
	if errors.As(err, &tv) {
		return &httpError{http.StatusUnprocessableEntity, err.Error() + "; ask for format=spdx-json or cyclonedx-json"}
	}
	return err
}

// BuildList is the input of a project SBOM.
type BuildList struct {
	// Name is the main module's path; empty: "project".
	Name string
	// Direct are the main module's direct requirements; nil: not known, and
	// every module is shown as a direct dependency.
	Direct []module.Version
	// Modules is the build list: one version per path, sorted.
	Modules []module.Version
}

func (bl *BuildList) name() string {
	if bl.Name == "" {
		return "project"
	}
	return bl.Name
}

// WriteProject writes one SBOM of the build list in format f: each module
// filled from its SBOM record where modgate ingested it (else only its name,
// version and purl), with its status from the audit log: "served" if modgate
// ever served it, else "blocked" if it refused it, else none. The
// document is created now.
func (s *SBOMs) WriteProject(ctx context.Context, w io.Writer, f sbom.Format, bl *BuildList) error {
	p := sbom.Project{Name: bl.name(), Requires: bl.Direct}
	for _, m := range bl.Modules {
		sm, err := s.moduleOf(ctx, m, "")
		if err != nil {
			return err
		}
		if sm.Status, err = s.status(ctx, m); err != nil {
			return err
		}
		p.Modules = append(p.Modules, sm)
	}
	return s.writeProject(w, f, p)
}

func (s *SBOMs) writeProject(w io.Writer, f sbom.Format, p sbom.Project) error {
	opts := s.opts.Base
	opts.Created = s.now()
	if err := sbom.WriteProject(w, f, p, opts); err != nil {
		return renderError(f, err)
	}
	return nil
}

// moduleOf returns what modgate knows of m: the SBOM record id if given and
// stored, else the latest record of m, else only m, refreshed with the
// current facts if there are any.
func (s *SBOMs) moduleOf(ctx context.Context, m module.Version, id string) (sbom.Module, error) {
	var rec *store.SBOMRecord
	if id != "" {
		r, err := s.opts.SBOMs.SBOMByID(ctx, id)
		switch {
		case err == nil && r.Module == m:
			rec = r
		case err == nil, errors.Is(err, fs.ErrNotExist):
			// An audit record naming another version's SBOM, or one that is
			// gone: fall back to the version's latest.
		default:
			return sbom.Module{}, err
		}
	}
	if rec == nil {
		r, err := s.opts.SBOMs.SBOM(ctx, m)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return sbom.Module{}, err
		}
		rec = r
	}
	sm := sbom.Module{Path: m.Path, Version: m.Version}
	if rec != nil {
		var err error
		if sm, err = sbom.DecodeRecordInput(rec.Input); err != nil {
			return sbom.Module{}, fmt.Errorf("SBOM %s of %s: %w", rec.ID, m, err)
		}
		sm.Status = ""
	}
	if s.opts.Facts == nil {
		return sm, nil
	}
	facts, err := s.opts.Facts.Facts(ctx, m)
	if errors.Is(err, fs.ErrNotExist) {
		return sm, nil
	}
	if err != nil {
		return sbom.Module{}, err
	}
	sm.Vulns = nil
	for _, v := range facts.Affecting() {
		sm.Vulns = append(sm.Vulns, sbom.Vuln{ID: v.ID, Aliases: v.Aliases, Summary: v.Summary, Fixed: v.Fixed})
	}
	if rec == nil {
		sm.Requires = facts.Requires
		if facts.LicensesKnown {
			sm.License = strings.Join(facts.Licenses, ",")
		}
		sm.Time = facts.Published
	}
	return sm, nil
}

// status is m's status for a project SBOM: "served" if modgate ever served
// it, else "blocked" if it ever refused it, else "".
func (s *SBOMs) status(ctx context.Context, m module.Version) (string, error) {
	if s.opts.Audit == nil {
		return "", nil
	}
	for _, d := range []string{store.DecisionServed, store.DecisionBlocked} {
		evs, err := s.opts.Audit.AuditEvents(ctx, store.AuditQuery{
			Module: m.Path, Version: m.Version, Type: store.AuditFetch, Decision: d, Limit: 1,
		})
		if err != nil {
			return "", err
		}
		if len(evs) > 0 {
			return d, nil
		}
	}
	return "", nil
}

// Window selects the fetches of a window SBOM.
type Window struct {
	// Clients are the token names or IP addresses (exactly as in the audit
	// log); at least one.
	Clients []string
	// Since and Until bound the time: fetches at or after Since and before
	// Until. Zero Since: from the start of the log; zero Until: until now.
	Since, Until time.Time
}

// WriteWindow writes one SBOM of every module version the clients were
// served in the window (audit records of type fetch, decision served, of a
// .info, .mod or .zip), each filled from the SBOM its audit record names.
func (s *SBOMs) WriteWindow(ctx context.Context, w io.Writer, f sbom.Format, win Window) error {
	if s.opts.Audit == nil {
		return &httpError{http.StatusNotImplemented, "window SBOMs need the audit log, which this server does not have"}
	}
	if len(win.Clients) == 0 {
		return badRequest("window SBOM without a client: give client (a token name or an IP address)")
	}
	now := s.now()
	if win.Until.IsZero() {
		win.Until = now
	}
	if !win.Since.IsZero() && !win.Since.Before(win.Until) {
		return badRequest("empty window: since %s is not before until %s", win.Since.Format(time.RFC3339), win.Until.Format(time.RFC3339))
	}
	ids := map[module.Version]string{} // the SBOM id of the last fetch of each version
	clients := append([]string(nil), win.Clients...)
	sort.Strings(clients)
	for i, c := range clients {
		if c == "" || i > 0 && c == clients[i-1] {
			continue
		}
		q := store.AuditQuery{Client: c, Since: win.Since, Until: win.Until,
			Type: store.AuditFetch, Decision: store.DecisionServed, Limit: store.MaxAuditPage}
		for {
			evs, err := s.opts.Audit.AuditEvents(ctx, q)
			if err != nil {
				return err
			}
			for _, e := range evs {
				if e.Kind != string(store.KindInfo) && e.Kind != string(store.KindMod) && e.Kind != string(store.KindZip) {
					continue
				}
				m := module.Version{Path: e.Module, Version: e.Version}
				if module.Check(m.Path, m.Version) != nil {
					continue // not a module version: nothing to describe
				}
				if _, ok := ids[m]; !ok && len(ids) >= maxWindowModules {
					return &httpError{http.StatusRequestEntityTooLarge,
						fmt.Sprintf("more than %d module versions in the window: narrow it with since and until", maxWindowModules)}
				}
				if e.SBOM != "" || ids[m] == "" {
					ids[m] = e.SBOM
				}
			}
			if len(evs) < q.PageLimit() {
				break
			}
			q.AfterSeq = evs[len(evs)-1].Seq
		}
	}
	mods := make([]module.Version, 0, len(ids))
	for m := range ids {
		mods = append(mods, m)
	}
	module.Sort(mods)
	p := sbom.Project{Name: windowName(clients, win.Since, win.Until)}
	for _, m := range mods {
		sm, err := s.moduleOf(ctx, m, ids[m])
		if err != nil {
			return err
		}
		sm.Status = store.DecisionServed
		p.Modules = append(p.Modules, sm)
	}
	return s.writeProject(w, f, p)
}

func windowName(clients []string, since, until time.Time) string {
	var cs []string
	for i, c := range clients {
		if c != "" && (i == 0 || c != clients[i-1]) {
			cs = append(cs, c)
		}
	}
	from := "the start of the log"
	if !since.IsZero() {
		from = since.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("modules served to %s from %s until %s", strings.Join(cs, ", "), from, until.UTC().Format(time.RFC3339))
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

// keepHighest returns mods with only the highest version of each path, as
// minimal version selection would choose, sorted.
func keepHighest(mods []module.Version) []module.Version {
	best := map[string]string{}
	for _, m := range mods {
		if v, ok := best[m.Path]; !ok || semver.Compare(m.Version, v) > 0 {
			best[m.Path] = m.Version
		}
	}
	out := make([]module.Version, 0, len(best))
	for p, v := range best {
		out = append(out, module.Version{Path: p, Version: v})
	}
	module.Sort(out)
	return out
}
