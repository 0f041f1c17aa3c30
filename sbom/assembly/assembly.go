// Package assembly assembles SBOMs from modgate's records: the stored SBOM
// of one version, and the project and window SBOMs, whose modules are filled
// from the versions' SBOM records and facts, each with what modgate did with
// it according to the audit log (see the sbom.Status constants):
//
//   - served: modgate served the version's zip (audit records of type fetch,
//     kind zip, decision served);
//   - blocked: modgate refused its zip and never served it;
//   - metadata only: only its .info or .mod were served (the go command reads
//     the go.mod of many versions minimal version selection does not pick);
//   - not fetched: no record of serving any of its files (project SBOMs only).
//
// A window SBOM lists what the clients built: every version whose zip they
// were served or refused in the window. Versions of which they read only
// the .info or .mod are left out, and the document's root says how many.
//
// The documents themselves are made by package sbom (pure); this package
// reads the store. The SBOM API (package web) and `modgate sbom` both use it.
package assembly

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/sbom"
	"github.com/modgate/modgate/sbom/buildlist"
)

// Options configures a [Builder].
type Options struct {
	// SBOMs holds the records made at ingest; required.
	SBOMs store.SBOMs
	// Audit is read for window SBOMs and for the status of the modules of
	// project SBOMs. Nil: window SBOMs fail with [ErrNoAudit] and project
	// SBOMs show no status.
	Audit store.Audit
	// Facts, if set, refreshes project and window SBOMs with what modgate
	// knows now: the current vulnerabilities of every version, its
	// publication time, and the requirements and licenses of versions
	// without an SBOM record. Nil: a version's data is its record's, as at
	// ingest.
	Facts store.VersionFacts
	// Artifacts, if set, gives the .info files whose Time is the
	// publication time of versions without one recorded from upstream.
	Artifacts store.Artifacts
	// Base is the generation settings: Namespace (required), ToolVersion,
	// Organization. Created is ignored: a stored SBOM keeps its creation
	// time (and the settings it was made with, see [sbom.DecodeRecord]), and
	// project and window SBOMs are created at Now.
	Base sbom.Options
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Builder renders stored SBOMs and assembles project and window SBOMs.
// It is safe for concurrent use.
type Builder struct {
	opts Options
	now  func() time.Time
}

// New returns a Builder. It does no I/O.
func New(opts Options) *Builder {
	b := &Builder{opts: opts, now: opts.Now}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// MaxWindowModules bounds the versions of one window SBOM.
const MaxWindowModules = 100000

// ErrNoAudit is the error of a window SBOM without the audit log.
var ErrNoAudit = errors.New("window SBOMs need the audit log, which this server does not have")

// ErrTooLarge is the error of a window with more than [MaxWindowModules]
// versions.
var ErrTooLarge = errors.New("too many module versions in the window")

// InputError is a request that cannot be answered as asked (the caller's
// mistake): its message says what to give instead.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// notFoundError is a missing SBOM; it satisfies errors.Is(err, fs.ErrNotExist).
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// WriteModule writes the latest stored SBOM of m in format f. It fails with
// an error satisfying errors.Is(err, fs.ErrNotExist) if modgate has none.
func (b *Builder) WriteModule(ctx context.Context, w io.Writer, f sbom.Format, m module.Version) error {
	rec, err := b.opts.SBOMs.SBOM(ctx, m)
	if errors.Is(err, fs.ErrNotExist) {
		return &notFoundError{fmt.Sprintf("%s@%s: no SBOM: modgate has not ingested this version (fetch it through the proxy first)", m.Path, m.Version)}
	}
	if err != nil {
		return err
	}
	return b.render(w, f, rec)
}

// WriteID writes the stored SBOM with the given id in format f and returns
// its record. It fails with an error satisfying errors.Is(err,
// fs.ErrNotExist) if there is none.
func (b *Builder) WriteID(ctx context.Context, w io.Writer, f sbom.Format, id string) (*store.SBOMRecord, error) {
	rec, err := b.opts.SBOMs.SBOMByID(ctx, id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &notFoundError{fmt.Sprintf("no SBOM with id %q", id)}
	}
	if err != nil {
		return nil, err
	}
	return rec, b.render(w, f, rec)
}

// render writes a record in format f, exactly as it was first rendered.
func (b *Builder) render(w io.Writer, f sbom.Format, rec *store.SBOMRecord) error {
	m, opts, err := sbom.DecodeRecord(rec.Input, rec.Created, b.opts.Base)
	if err != nil {
		return fmt.Errorf("SBOM %s of %s: %w", rec.ID, rec.Module, err)
	}
	return sbom.Write(w, f, m, opts)
}

// ProjectName is the name of a project SBOM of bl: its main module, else
// "project".
func ProjectName(bl *buildlist.List) string {
	if bl.Name == "" {
		return "project"
	}
	return bl.Name
}

// WriteProject writes one SBOM of the build list in format f: each module
// filled from its SBOM record where modgate ingested it (else from its
// facts, or only its name, version and purl), with its status from the audit
// log (see the package documentation). The document is created now.
func (b *Builder) WriteProject(ctx context.Context, w io.Writer, f sbom.Format, bl *buildlist.List) error {
	p := sbom.Project{Name: ProjectName(bl), Requires: bl.Direct}
	for _, m := range bl.Modules {
		sm, err := b.moduleOf(ctx, m, "")
		if err != nil {
			return err
		}
		if sm.Status, err = b.status(ctx, m); err != nil {
			return err
		}
		p.Modules = append(p.Modules, sm)
	}
	return b.writeProject(w, f, p)
}

func (b *Builder) writeProject(w io.Writer, f sbom.Format, p sbom.Project) error {
	opts := b.opts.Base
	opts.Created = b.now()
	return sbom.WriteProject(w, f, p, opts)
}

// status is m's status in a project SBOM, from the audit log: see the
// package documentation; "" without an audit log.
func (b *Builder) status(ctx context.Context, m module.Version) (string, error) {
	if b.opts.Audit == nil {
		return "", nil
	}
	for _, c := range []struct {
		kind     store.Kind
		decision string
		status   string
	}{
		{store.KindZip, store.DecisionServed, sbom.StatusServed},
		{store.KindZip, store.DecisionBlocked, sbom.StatusBlocked},
		{store.KindMod, store.DecisionServed, sbom.StatusMetadataOnly},
		{store.KindInfo, store.DecisionServed, sbom.StatusMetadataOnly},
	} {
		evs, err := b.opts.Audit.AuditEvents(ctx, store.AuditQuery{
			Module: m.Path, Version: m.Version, Type: store.AuditFetch, Kind: string(c.kind), Decision: c.decision, Limit: 1,
		})
		if err != nil {
			return "", err
		}
		if len(evs) > 0 {
			return c.status, nil
		}
	}
	return sbom.StatusNotFetched, nil
}

// moduleOf returns what modgate knows of m: the SBOM record id if given and
// stored, else the latest record of m, else only m, refreshed with the
// current facts if there are any.
func (b *Builder) moduleOf(ctx context.Context, m module.Version, id string) (sbom.Module, error) {
	var rec *store.SBOMRecord
	if id != "" {
		r, err := b.opts.SBOMs.SBOMByID(ctx, id)
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
		r, err := b.opts.SBOMs.SBOM(ctx, m)
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
	var facts *store.Facts
	if b.opts.Facts != nil {
		f, err := b.opts.Facts.Facts(ctx, m)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return sbom.Module{}, err
		}
		facts = f
	}
	if b.opts.Facts != nil || b.opts.Artifacts != nil {
		// Records made before modgate kept the publication time apart from
		// its first sight carry the wrong one: state the current knowledge.
		t, src, err := b.publishTime(ctx, m, facts)
		if err != nil {
			return sbom.Module{}, err
		}
		sm.Time, sm.TimeSource = t, src
	}
	if facts == nil {
		return sm, nil
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
	}
	return sm, nil
}

// publishTime is m's publication time and its source (see
// [sbom.PublishTime]): recorded from a trusted source, else its .info Time,
// else zero.
func (b *Builder) publishTime(ctx context.Context, m module.Version, facts *store.Facts) (time.Time, string, error) {
	var upstream time.Time
	var src string
	if facts != nil && store.PublishedTrusted(facts.PublishedSource) {
		upstream, src = facts.Published, facts.PublishedSource
	}
	var info []byte
	if upstream.IsZero() && b.opts.Artifacts != nil {
		a, err := b.opts.Artifacts.Artifact(ctx, m, store.KindInfo)
		switch {
		case err == nil:
			info = a.Data
		case !errors.Is(err, fs.ErrNotExist):
			return time.Time{}, "", err
		}
	}
	t, s := sbom.PublishTime(upstream, src, info)
	return t, s, nil
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

// fetched is what a window's audit records say of one version.
type fetched struct {
	zipServed, zipBlocked, metadata bool
	sbomID                          string // of the last zip served that names one
}

// status is the version's status in a window SBOM, "" for a version left
// out (only its .info or .mod were served, or nothing was).
func (f *fetched) status() string {
	switch {
	case f.zipServed:
		return sbom.StatusServed
	case f.zipBlocked:
		return sbom.StatusBlocked
	}
	return ""
}

// add records one audit record of the version.
func (f *fetched) add(e *store.AuditEvent) {
	switch {
	case e.Kind == string(store.KindZip) && e.Decision == store.DecisionServed:
		f.zipServed = true
		if e.SBOM != "" {
			f.sbomID = e.SBOM
		}
	case e.Kind == string(store.KindZip) && e.Decision == store.DecisionBlocked:
		f.zipBlocked = true
	case (e.Kind == string(store.KindInfo) || e.Kind == string(store.KindMod)) && e.Decision == store.DecisionServed:
		f.metadata = true
	}
}

// WriteWindow writes one SBOM of what the clients built in the window: every
// module version whose zip they were served (status served) or refused
// (blocked), each filled from the SBOM its audit record names. Versions
// whose .info or .mod only were served are left out; the root's note counts
// them.
func (b *Builder) WriteWindow(ctx context.Context, w io.Writer, f sbom.Format, win Window) error {
	if b.opts.Audit == nil {
		return ErrNoAudit
	}
	if len(win.Clients) == 0 {
		return &InputError{"window SBOM without a client: give client (a token name or an IP address)"}
	}
	now := b.now()
	if win.Until.IsZero() {
		win.Until = now
	}
	if !win.Since.IsZero() && !win.Since.Before(win.Until) {
		return &InputError{fmt.Sprintf("empty window: since %s is not before until %s", win.Since.Format(time.RFC3339), win.Until.Format(time.RFC3339))}
	}
	seen := map[module.Version]*fetched{}
	clients := dedup(win.Clients)
	if len(clients) == 0 {
		return &InputError{"window SBOM with an empty client: give client (a token name or an IP address)"}
	}
	for _, c := range clients {
		q := store.AuditQuery{Client: c, Since: win.Since, Until: win.Until, Type: store.AuditFetch, Limit: store.MaxAuditPage}
		for {
			evs, err := b.opts.Audit.AuditEvents(ctx, q)
			if err != nil {
				return err
			}
			for _, e := range evs {
				m := module.Version{Path: e.Module, Version: e.Version}
				if module.Check(m.Path, m.Version) != nil {
					continue // not a module version: nothing to describe
				}
				fv := seen[m]
				if fv == nil {
					if len(seen) >= MaxWindowModules {
						return fmt.Errorf("%w: more than %d module versions: narrow it with since and until", ErrTooLarge, MaxWindowModules)
					}
					fv = &fetched{}
					seen[m] = fv
				}
				fv.add(e)
			}
			if len(evs) < q.PageLimit() {
				break
			}
			q.AfterSeq = evs[len(evs)-1].Seq
		}
	}
	var mods []module.Version
	metadataOnly := 0
	for m, fv := range seen {
		switch {
		case fv.status() != "":
			mods = append(mods, m)
		case fv.metadata:
			metadataOnly++
		}
	}
	module.Sort(mods)
	p := sbom.Project{Name: windowName(clients, win.Since, win.Until), Note: windowNote(metadataOnly)}
	for _, m := range mods {
		sm, err := b.moduleOf(ctx, m, seen[m].sbomID)
		if err != nil {
			return err
		}
		sm.Status = seen[m].status()
		p.Modules = append(p.Modules, sm)
	}
	return b.writeProject(w, f, p)
}

// windowNote says what a window SBOM leaves out.
func windowNote(metadataOnly int) string {
	return fmt.Sprintf("Lists the module versions whose zip the clients were served (modgate status: served) or refused "+
		"(modgate status: blocked) in the window. Left out: %d versions of which only the .info or .mod (the go.mod read by "+
		"minimal version selection) was served.", metadataOnly)
}

// dedup returns the non-empty clients, sorted, each once.
func dedup(clients []string) []string {
	cs := append([]string(nil), clients...)
	sort.Strings(cs)
	var out []string
	for i, c := range cs {
		if c != "" && (i == 0 || c != cs[i-1]) {
			out = append(out, c)
		}
	}
	return out
}

func windowName(clients []string, since, until time.Time) string {
	from := "the start of the log"
	if !since.IsZero() {
		from = since.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("modules built by %s from %s until %s", strings.Join(clients, ", "), from, until.UTC().Format(time.RFC3339))
}
