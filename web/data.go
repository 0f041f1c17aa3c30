package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner/vulndb"
)

// The data behind each page, shared by the HTML pages and the JSON API.

// maxOverviewScan bounds the audit records one overview reads: on a busy
// proxy the chart then covers the first records of the window only, and
// says so.
const maxOverviewScan = 200000

// Bucket is one bar of the overview's chart.
type Bucket struct {
	Start   time.Time `json:"start"`
	Served  int       `json:"served"`
	Blocked int       `json:"blocked"`
	Other   int       `json:"other"` // not_found and error
}

// Count is a module (or module@version) and how often it appeared.
type Count struct {
	Module  string `json:"module"`
	Version string `json:"version,omitempty"`
	N       int    `json:"count"`
}

// Overview is the overview page's data.
type Overview struct {
	Since, Until time.Time
	Step         time.Duration
	Buckets      []Bucket
	Truncated    bool // maxOverviewScan records read before the window's end
	Scanned      int
	TopModules   []Count
	TopBlocked   []Count
	// NewlyAffected are findings learnt by re-evaluation after a sync in
	// the last week: versions modgate stored (maybe served) before the
	// advisory was known.
	NewlyAffected []store.Finding
	// Upstream are the versions a recheck found withdrawn upstream, come
	// back, or with their tag moved, with who got their zip (when the
	// store keeps upstream states).
	Upstream  []UpstreamVersion
	VulnState *store.VulnState
	VulnAge   time.Duration
	Health    map[string]string
}

func (s *Server) overview(ctx context.Context, window string) (*Overview, error) {
	now := s.now().UTC()
	o := &Overview{Until: now}
	switch window {
	case "", "24h":
		o.Step = time.Hour
		o.Since = now.Truncate(time.Hour).Add(-23 * time.Hour)
	case "7d", "30d":
		o.Step = 24 * time.Hour
		days := 7
		if window == "30d" {
			days = 30
		}
		o.Since = now.Truncate(24*time.Hour).AddDate(0, 0, -(days - 1))
	default:
		return nil, badRequest("window %q: want 24h, 7d or 30d", window)
	}
	n := int(o.Until.Sub(o.Since)/o.Step) + 1
	o.Buckets = make([]Bucket, n)
	for i := range o.Buckets {
		o.Buckets[i].Start = o.Since.Add(time.Duration(i) * o.Step)
	}
	mods, blocked := map[string]int{}, map[module.Version]int{}
	q := store.AuditQuery{Since: o.Since, Type: store.AuditFetch, Limit: store.MaxAuditPage}
	for {
		evs, err := s.opts.Audit.AuditEvents(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			i := int(e.Time.Sub(o.Since) / o.Step)
			if i < 0 || i >= n {
				continue
			}
			b := &o.Buckets[i]
			switch e.Decision {
			case store.DecisionServed:
				b.Served++
				if e.Kind == string(store.KindZip) {
					mods[e.Module]++
				}
			case store.DecisionBlocked:
				b.Blocked++
				blocked[module.Version{Path: e.Module, Version: e.Version}]++
			default:
				b.Other++
			}
		}
		o.Scanned += len(evs)
		if len(evs) < q.PageLimit() {
			break
		}
		if o.Scanned >= maxOverviewScan {
			o.Truncated = true
			break
		}
		q.AfterSeq = evs[len(evs)-1].Seq
	}
	for m, c := range mods {
		o.TopModules = append(o.TopModules, Count{Module: m, N: c})
	}
	for m, c := range blocked {
		o.TopBlocked = append(o.TopBlocked, Count{Module: m.Path, Version: m.Version, N: c})
	}
	o.TopModules, o.TopBlocked = top(o.TopModules, 10), top(o.TopBlocked, 10)

	var err error
	if o.NewlyAffected, err = s.opts.Facts.LearntFindings(ctx, now.AddDate(0, 0, -7)); err != nil {
		return nil, err
	}
	if len(o.NewlyAffected) > 50 {
		o.NewlyAffected = o.NewlyAffected[len(o.NewlyAffected)-50:]
	}
	if o.Upstream, err = s.upstreamVersions(ctx); err != nil {
		return nil, err
	}
	if o.VulnState, err = s.opts.VulnDB.VulnState(ctx); err != nil {
		return nil, err
	}
	if !o.VulnState.SyncedAt.IsZero() {
		o.VulnAge = max(now.Sub(o.VulnState.DBModified), now.Sub(o.VulnState.SyncedAt))
	}
	if s.opts.Health != nil {
		o.Health = s.opts.Health(ctx)
	}
	return o, nil
}

func top(cs []Count, n int) []Count {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].N != cs[j].N {
			return cs[i].N > cs[j].N
		}
		if cs[i].Module != cs[j].Module {
			return cs[i].Module < cs[j].Module
		}
		return cs[i].Version < cs[j].Version
	})
	if len(cs) > n {
		cs = cs[:n]
	}
	return cs
}

// auditPage is how many records one page of the audit log shows.
const auditPage = 100

// AuditPage is the audit log page's data.
type AuditPage struct {
	Filter  url.Values // the filters as given (empty ones dropped)
	Events  []*store.AuditEvent
	Next    int64 // the cursor of the next page; 0 if this is the last
	Default bool  // no since given: the last 24 hours are shown
}

// auditQuery reads the audit filters (the parameters of /api/audit/export:
// since, until, module, version, client, decision, type; and after, the
// cursor), dropping empty ones as a form sends them.
func auditQuery(v url.Values, now time.Time) (store.AuditQuery, url.Values, bool, error) {
	filter := url.Values{}
	for k, vals := range v {
		if k == "format" || len(vals) == 0 || strings.TrimSpace(vals[len(vals)-1]) == "" {
			continue
		}
		filter.Set(k, strings.TrimSpace(vals[len(vals)-1]))
	}
	q, err := audit.ParseQuery(filter)
	if err != nil {
		return q, nil, false, badRequest("%v", err)
	}
	def := false
	if q.Since.IsZero() && q.AfterSeq == 0 {
		q.Since, def = now.Add(-24*time.Hour).UTC(), true
	}
	filter.Del("after")
	return q, filter, def, nil
}

func (s *Server) auditLog(ctx context.Context, v url.Values) (*AuditPage, error) {
	q, filter, def, err := auditQuery(v, s.now())
	if err != nil {
		return nil, err
	}
	q.Limit = auditPage
	evs, err := s.opts.Audit.AuditEvents(ctx, q)
	if err != nil {
		return nil, err
	}
	p := &AuditPage{Filter: filter, Events: evs, Default: def}
	if def {
		p.Filter.Set("since", q.Since.Format(time.RFC3339))
	}
	if len(evs) == q.PageLimit() {
		p.Next = evs[len(evs)-1].Seq
	}
	return p, nil
}

// VersionPage is the version page's data.
type VersionPage struct {
	Module      module.Version
	Facts       *store.Facts // nil: never ingested
	Vulns       []store.Vuln // Facts.Vulns, or matched without ingestion
	Retractions []store.Retraction
	Checksums   []*store.Checksum // zip and mod, those recorded
	// UnreadablePins are checksum rows that cannot be read as a record the
	// store could have written (edited behind modgate's back): they vouch for
	// nothing, and the page says so instead of failing.
	UnreadablePins []*store.CorruptChecksumError
	Decision       *policy.Decision // nil without a Decide option
	DecisionErr    string
	Fetches        []*store.AuditEvent
	NextFetch      int64
	HasSBOM        bool
	// Capabilities are the capability facts of its zip (nil: not computed,
	// or not shown by this server).
	Capabilities *store.CapabilityFacts
}

// CapabilityRows are the version's capabilities for the page: one row per
// capability and package, marked when the version adds it to its base.
func (p *VersionPage) CapabilityRows() []CapabilityRow {
	if p.Capabilities == nil {
		return nil
	}
	added := map[string]bool{}
	for _, u := range p.Capabilities.Added {
		added[u.Package+" "+u.Capability] = true
	}
	var out []CapabilityRow
	for _, u := range p.Capabilities.Uses {
		out = append(out, CapabilityRow{CapabilityUse: u, Short: strings.TrimPrefix(u.Capability, "CAPABILITY_"),
			Added: added[u.Package+" "+u.Capability]})
	}
	return out
}

// CapabilityRow is one row of the version page's capability table.
type CapabilityRow struct {
	store.CapabilityUse
	Short string // EXEC
	Added bool   // new since the base version
}

// VulnsUnchecked says why the version's advisories were not all checked
// (no usable vulnerability data, a malware feed that lacks its data), ""
// when they were.
func (p *VersionPage) VulnsUnchecked() string {
	if p.Decision == nil {
		return ""
	}
	var why []string
	for _, u := range p.Decision.Unchecked {
		if u.Rule == policy.RuleVulnUnknown || u.Rule == policy.RuleMalwareUnknown {
			why = append(why, u.Reason)
		}
	}
	return strings.Join(why, "; ")
}

func (s *Server) versionPage(ctx context.Context, m module.Version, after int64) (*VersionPage, error) {
	if err := module.Check(m.Path, m.Version); err != nil {
		return nil, badRequest("%v", err)
	}
	p := &VersionPage{Module: m}
	f, err := s.opts.Facts.Facts(ctx, m)
	switch {
	case err == nil:
		p.Facts, p.Vulns = f, f.Vulns
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, err
	}
	for _, k := range []store.Kind{store.KindZip, store.KindMod} {
		c, err := s.opts.Sums.Checksum(ctx, m, k)
		var corrupt *store.CorruptChecksumError
		switch {
		case err == nil:
			p.Checksums = append(p.Checksums, c)
		case errors.As(err, &corrupt):
			p.UnreadablePins = append(p.UnreadablePins, corrupt)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	if s.opts.Decide != nil {
		d, err := s.opts.Decide(ctx, m)
		if err != nil {
			s.log.Error("dashboard: decision", "module", m.Path, "version", m.Version, "err", err.Error())
			p.DecisionErr = "the decision could not be made (the server's log says why)"
		} else {
			p.Decision = &d
		}
	}
	q := store.AuditQuery{Module: m.Path, Version: m.Version, AfterSeq: after, Limit: auditPage}
	if p.Fetches, err = s.opts.Audit.AuditEvents(ctx, q); err != nil {
		return nil, err
	}
	if len(p.Fetches) == q.PageLimit() {
		p.NextFetch = p.Fetches[len(p.Fetches)-1].Seq
	}
	if s.opts.Capabilities != nil {
		c, err := s.opts.Capabilities.CapabilityFacts(ctx, m)
		switch {
		case err == nil:
			p.Capabilities = c
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	p.HasSBOM = true
	if s.opts.SBOMs != nil {
		_, err := s.opts.SBOMs.SBOM(ctx, m)
		if errors.Is(err, fs.ErrNotExist) {
			p.HasSBOM = false
		} else if err != nil {
			return nil, err
		}
	}
	if p.Facts == nil && p.Checksums == nil && p.UnreadablePins == nil && len(p.Fetches) == 0 {
		return nil, notFoundf("modgate knows nothing of %s@%s: it was never requested through this proxy", m.Path, m.Version)
	}
	return p, nil
}

// Advisory is an advisory as the advisory page shows it.
type Advisory struct {
	ID        string    `json:"id"`
	Summary   string    `json:"summary"`
	Details   string    `json:"details"`
	Aliases   []string  `json:"aliases"`
	Published time.Time `json:"published"`
	Modified  time.Time `json:"modified"`
	Withdrawn time.Time `json:"withdrawn,omitzero"`
	// Modules are the module paths its affected blocks name
	// (affected[].package.name), in order.
	Modules []string `json:"modules"`
}

// ClientFetches is what one client (token name, else address) got of a
// version's zip in a period.
type ClientFetches struct {
	Client  string `json:"client"`
	Served  int    `json:"served"`
	Blocked int    `json:"blocked"`
}

// AffectedVersion is a stored version an advisory affects, and who fetched
// it before and after modgate learnt of the advisory.
type AffectedVersion struct {
	Module   module.Version
	Fixed    string
	LearntAt time.Time
	AtIngest bool
	// Fetches are its audit records (fetches of the version, oldest
	// first, at most maxAdvisoryFetches).
	Fetches   []*store.AuditEvent
	Truncated bool
	// Before and After count the zips served before LearntAt and from
	// then on; BeforeClients and AfterClients say who got them (and whose
	// requests were refused), by client, most served first. They are
	// counted over at most maxAdvisoryScan zip records; ScanTruncated says
	// there were more.
	Before, After               int
	BeforeClients, AfterClients []ClientFetches
	ScanTruncated               bool
}

// AdvisoryPage is the advisory page's data.
type AdvisoryPage struct {
	Advisory  Advisory
	Versions  []AffectedVersion
	Truncated bool // more than maxAdvisoryVersions versions
}

const (
	maxAdvisoryVersions = 200
	maxAdvisoryFetches  = 200
	maxAdvisoryScan     = 50000
)

// feedRecords is what the advisory page reads of --advisories feeds when the
// store has them ([store.Advisories]).
type feedRecords interface {
	AdvisoryEntry(ctx context.Context, id string) (*store.VulnEntry, error)
	FactPathsFold(ctx context.Context, lower string) ([]string, error)
}

func validAdvisoryID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// advisoryPage reads the advisory from the synced database (the OSV entry
// as the Go vulnerability database serves it: affected[].package.name names
// the module) and lists every stored version it affects, as the findings
// recorded for the version say (at ingest, or by re-evaluation after a
// sync), with who fetched each before and after modgate learnt of it.
func (s *Server) advisoryPage(ctx context.Context, id string) (*AdvisoryPage, error) {
	if !validAdvisoryID(id) {
		return nil, badRequest("%q is not an advisory ID (GO-2024-1234)", id)
	}
	f, err := s.opts.VulnDB.VulnFile(ctx, "ID/"+id+".json")
	feeds, _ := s.opts.VulnDB.(feedRecords)
	if errors.Is(err, fs.ErrNotExist) && feeds != nil {
		// A record of an --advisories feed (a MAL- malware record).
		var row *store.VulnEntry
		if row, err = feeds.AdvisoryEntry(ctx, id); err == nil {
			f = &store.VulnFile{JSON: row.JSON}
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFoundf("no advisory %s in the synced vulnerability database", id)
	}
	if err != nil {
		return nil, err
	}
	var e vulndb.Entry
	if err := json.Unmarshal(f.JSON, &e); err != nil {
		return nil, fmt.Errorf("advisory %s: %w", id, err)
	}
	p := &AdvisoryPage{Advisory: Advisory{ID: e.ID, Summary: e.Summary, Details: e.Details, Aliases: e.Aliases,
		Published: e.Published, Modified: e.Modified, Modules: append([]string{}, e.Modules()...)}}
	if e.Withdrawn != nil {
		p.Advisory.Withdrawn = *e.Withdrawn
	}
	for _, path := range p.Advisory.Modules {
		if path == "" || path == vulndb.Stdlib || path == vulndb.Toolchain {
			continue // not module versions modgate stores
		}
		paths := []string{path}
		if feeds != nil && vulndb.CaseInsensitive(path) {
			// Every stored spelling of a path on a case-insensitive host.
			if paths, err = feeds.FactPathsFold(ctx, strings.ToLower(path)); err != nil {
				return nil, err
			}
		}
		for _, path := range paths {
			versions, err := s.opts.Facts.FactVersions(ctx, path)
			if err != nil {
				return nil, err
			}
			semver.Sort(versions)
			for _, v := range versions {
				m := module.Version{Path: path, Version: v}
				facts, err := s.opts.Facts.Facts(ctx, m)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return nil, err
				}
				for _, vu := range facts.Vulns {
					if vu.ID != id {
						continue
					}
					if len(p.Versions) >= maxAdvisoryVersions {
						p.Truncated = true
						return p, nil
					}
					av, err := s.affectedVersion(ctx, m, vu)
					if err != nil {
						return nil, err
					}
					p.Versions = append(p.Versions, *av)
				}
			}
		}
	}
	return p, nil
}

// affectedVersion is m with its fetches, split at when modgate learnt of vu.
func (s *Server) affectedVersion(ctx context.Context, m module.Version, vu store.Vuln) (*AffectedVersion, error) {
	av := &AffectedVersion{Module: m, Fixed: vu.Fixed, LearntAt: vu.LearntAt, AtIngest: vu.AtIngest}
	q := store.AuditQuery{Module: m.Path, Version: m.Version, Type: store.AuditFetch, Limit: maxAdvisoryFetches}
	var err error
	if av.Fetches, err = s.opts.Audit.AuditEvents(ctx, q); err != nil {
		return nil, err
	}
	av.Truncated = len(av.Fetches) == q.PageLimit()

	before, after := map[string]*ClientFetches{}, map[string]*ClientFetches{}
	q = store.AuditQuery{Module: m.Path, Version: m.Version, Type: store.AuditFetch, Kind: string(store.KindZip), Limit: store.MaxAuditPage}
	scanned := 0
	for {
		evs, err := s.opts.Audit.AuditEvents(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			by, n := after, &av.After
			if av.before(e) {
				by, n = before, &av.Before
			}
			client := e.ClientToken
			if client == "" {
				client = e.ClientIP
			}
			c := by[client]
			if c == nil {
				c = &ClientFetches{Client: client}
				by[client] = c
			}
			switch e.Decision {
			case store.DecisionServed:
				c.Served++
				*n++
			case store.DecisionBlocked:
				c.Blocked++
			}
		}
		scanned += len(evs)
		if len(evs) < q.PageLimit() {
			break
		}
		if scanned >= maxAdvisoryScan {
			av.ScanTruncated = true
			break
		}
		q.AfterSeq = evs[len(evs)-1].Seq
	}
	av.BeforeClients, av.AfterClients = byServed(before), byServed(after)
	return av, nil
}

// before reports whether e happened before modgate knew of the advisory:
// before the sync that brought it, for a version stored earlier. A finding
// made at ingest was known from the version's first fetch on (the audit
// time of that fetch is the start of the request, which ingests the version
// and records the finding while it runs).
func (av *AffectedVersion) before(e *store.AuditEvent) bool {
	return !av.AtIngest && e.Time.Before(av.LearntAt)
}

// FetchedBefore reports whether the fetch e happened before modgate knew of
// the advisory: before the sync that brought it, for a version stored
// earlier (the page marks each fetch with it).
func (av *AffectedVersion) FetchedBefore(e *store.AuditEvent) bool { return av.before(e) }

// byServed lists the clients that were served or refused the zip, most
// served first.
func byServed(m map[string]*ClientFetches) []ClientFetches {
	out := []ClientFetches{}
	for _, c := range m {
		if c.Served > 0 || c.Blocked > 0 {
			out = append(out, *c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Served != out[j].Served {
			return out[i].Served > out[j].Served
		}
		return out[i].Client < out[j].Client
	})
	return out
}

// PolicyPage is the policy page's data.
type PolicyPage struct {
	Source     string
	Loaded     time.Time
	Mode       string
	Summary    string
	Exemptions []store.Exemption
	History    []*store.AuditEvent // admin records, oldest first
	NextAdmin  int64
	Now        time.Time
	Rules      []string // what the rule field of an exemption accepts
}

func (s *Server) policyPage(ctx context.Context, after int64) (*PolicyPage, error) {
	var p *policy.Policy
	if s.opts.Policy != nil {
		p = s.opts.Policy()
	}
	if p == nil {
		p = policy.Default()
	}
	out := &PolicyPage{Source: p.Source, Loaded: p.Loaded, Mode: p.Mode, Summary: p.Summary(), Now: s.now()}
	var err error
	if out.Exemptions, err = s.opts.Exemptions.ListExemptions(ctx); err != nil {
		return nil, err
	}
	q := store.AuditQuery{Type: store.AuditAdmin, AfterSeq: after, Limit: auditPage}
	if out.History, err = s.opts.Audit.AuditEvents(ctx, q); err != nil {
		return nil, err
	}
	if len(out.History) == q.PageLimit() {
		out.NextAdmin = out.History[len(out.History)-1].Seq
	}
	out.Rules = []string{policy.RuleVulnerability, "modules", policy.RuleDeny, policy.RuleAllow, policy.RuleRetracted,
		policy.RuleDeprecated, policy.RuleMinAge, policy.RuleMinAgeUnknown, "licenses", policy.RuleLicense, policy.RuleLicenseUnknwn, policy.RuleMaxZipSize,
		policy.RuleMalware, policy.RuleMalwareUnknown}
	return out, nil
}

func cursor(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("after %q: want a record number", v)
	}
	return n, nil
}

// upstreamFindings is what the overview reads of the upstream rechecks when
// the store has them ([store.Upstreams]).
type upstreamFindings interface {
	UpstreamFindings(ctx context.Context, limit int) ([]store.UpstreamState, error)
}

// maxUpstreamVersions bounds the versions the overview lists.
const maxUpstreamVersions = 50

// UpstreamVersion is a version a recheck of its upstream found withdrawn,
// come back, or with its tag moved, and who got its zip before and after.
type UpstreamVersion struct {
	State store.UpstreamState
	// Finding is "withdrawn upstream", "returned upstream" or "origin
	// changed" (the latest), and Since when.
	Finding string
	Since   time.Time
	// Fetches counts who got its zip before and after Since (see
	// AffectedVersion).
	Fetches AffectedVersion
}

func (s *Server) upstreamVersions(ctx context.Context) ([]UpstreamVersion, error) {
	uf, ok := s.opts.Facts.(upstreamFindings)
	if !ok {
		return nil, nil
	}
	states, err := uf.UpstreamFindings(ctx, maxUpstreamVersions)
	if err != nil {
		return nil, err
	}
	var out []UpstreamVersion
	for _, u := range states {
		v := UpstreamVersion{State: u}
		switch {
		case u.Withdrawn():
			v.Finding, v.Since = "withdrawn upstream", u.WithdrawnAt
		case u.OriginChanged() && u.MovedAt.After(u.ReturnedAt):
			v.Finding, v.Since = "origin changed", u.MovedAt
		case !u.ReturnedAt.IsZero():
			v.Finding, v.Since = "returned upstream", u.ReturnedAt
		default:
			v.Finding, v.Since = "origin changed", u.MovedAt
		}
		av, err := s.affectedVersion(ctx, u.Module, store.Vuln{LearntAt: v.Since})
		if err != nil {
			return nil, err
		}
		v.Fetches = *av
		out = append(out, v)
	}
	return out, nil
}
