package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner"
)

// decisionTTL bounds how long a decision is reused: a changed policy takes
// effect at once (decisions are cached per policy), changed exemptions and
// vulnerability data within this long.
const decisionTTL = 5 * time.Second

// cachedDecision is a decision remembered for decisionTTL, and only while the
// policy and the state of the vulnerability data it was made with are still
// those in force (so a sync that brings missing data applies at once, not a
// decision TTL after the data cache noticed it).
type cachedDecision struct {
	d       policy.Decision
	reasons []string // reasons(d), rendered once; read-only
	policy  *policy.Policy
	dataGen uint64
	at      time.Time
}

// exemptionCache keeps the exemptions for decisionTTL, so a decision costs no
// database read for them.
type exemptionCache struct {
	mu   sync.Mutex
	list []store.Exemption
	at   time.Time
}

// exemptions returns the current exemptions, read at most every decisionTTL.
func (s *Server) exemptions(ctx context.Context) ([]store.Exemption, error) {
	if s.opts.Exemptions == nil {
		return nil, nil
	}
	c := &s.exempt
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && s.now().Sub(c.at) < decisionTTL {
		return c.list, nil
	}
	list, err := s.opts.Exemptions.ListExemptions(ctx)
	if err != nil {
		return nil, err
	}
	c.list, c.at = list, s.now()
	return list, nil
}

// dataCache keeps the state of the vulnerability data for decisionTTL, so a
// decision costs no database read for it.
type dataCache struct {
	mu   sync.Mutex
	data policy.Data
	gen  uint64 // incremented whenever data changes
	at   time.Time
}

// data returns the state of the vulnerability data, read from the scanner at
// most every decisionTTL. Without a scanner there is no data at all (the
// zero policy.Data: never synced).
func (s *Server) data(ctx context.Context) (policy.Data, error) {
	d, _, err := s.dataGen(ctx)
	return d, err
}

// dataGen is data with a generation number that changes whenever the state
// read from the scanner differs from the one read before.
func (s *Server) dataGen(ctx context.Context) (policy.Data, uint64, error) {
	if s.opts.Scanner == nil {
		return policy.Data{}, 0, nil
	}
	c := &s.vulnData
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && s.now().Sub(c.at) < decisionTTL {
		return c.data, c.gen, nil
	}
	d, err := DataState(ctx, s.opts.Scanner, s.opts.IndexOff)
	if err != nil {
		return policy.Data{}, 0, err
	}
	if c.at.IsZero() || !d.SameState(c.data) {
		c.gen++
	}
	c.data, c.at = d, s.now()
	return c.data, c.gen, nil
}

// DataState reads the state of the data decisions depend on (the vulnerability
// database, the module index unless indexOff, each --advisories feed) from sc,
// for policy.Input.Data: the one conversion the proxy and `modgate check`
// share.
func DataState(ctx context.Context, sc Scanner, indexOff bool) (policy.Data, error) {
	st, err := sc.Status(ctx)
	if err != nil {
		return policy.Data{}, err
	}
	d := policy.Data{VulnSynced: st.SyncedAt, VulnAttempted: st.AttemptedAt, VulnError: st.LastError, VulnMaxAge: st.MaxAge}
	// The module index's state, for min_age without a publication time. It
	// changes with every page read (every second while catching up), so it
	// does not end cached decisions: they keep their 5s.
	d.IndexOff = indexOff
	if ix, ok := sc.(interface {
		IndexState(context.Context) (store.IndexState, error)
	}); ok && !d.IndexOff {
		if d.Index, err = ix.IndexState(ctx); err != nil {
			return policy.Data{}, err
		}
	}
	// The malware feeds (--advisories), each a source like the database:
	// malware.unknown decides while one lacks its data.
	if fs, ok := sc.(interface {
		FeedStatus(context.Context) ([]scanner.FeedStatus, error)
	}); ok {
		feeds, err := fs.FeedStatus(ctx)
		if err != nil {
			return policy.Data{}, err
		}
		for _, f := range feeds {
			d.Feeds = append(d.Feeds, policy.Source{URL: f.Source, Synced: f.SyncedAt, Attempted: f.AttemptedAt, Error: f.LastError, MaxAge: st.MaxAge})
		}
	}
	return d, nil
}

// decide makes the policy decision for m. zipSize is 0 when unknown; a
// positive size means the decision is for the zip about to be served (whose
// licenses must then be known). Facts are read from the store (recorded at
// ingest); for a version never ingested its vulnerabilities are matched
// against the synced database.
func (s *Server) decide(ctx context.Context, m module.Version, zipSize int64) (policy.Decision, *policy.Policy, error) {
	c, p, err := s.decision(ctx, m, zipSize)
	if err != nil {
		return policy.Decision{}, p, err
	}
	return c.d, p, nil
}

// decision is decide returning the remembered decision, with its reasons
// rendered for the audit record (a cached .info or .mod records them on
// every request).
func (s *Server) decision(ctx context.Context, m module.Version, zipSize int64) (*cachedDecision, *policy.Policy, error) {
	p := s.policy()
	key := "decision " + m.Path + "@" + m.Version + " " + strconv.FormatInt(zipSize, 10)
	data, gen, err := s.dataGen(ctx)
	if err != nil {
		return nil, p, err
	}
	if c, ok := s.memo.get(key).(*cachedDecision); ok && c.policy == p && c.dataGen == gen && s.now().Sub(c.at) < decisionTTL {
		return c, p, nil
	}
	d, err := s.decideNow(ctx, m, zipSize, p, data)
	if err != nil {
		return nil, p, err
	}
	c := &cachedDecision{d: d, reasons: reasons(d), policy: p, dataGen: gen, at: s.now()}
	s.memo.put(key, c, 512)
	return c, p, nil
}

// decideNow makes the decision for m under p with the data state data.
func (s *Server) decideNow(ctx context.Context, m module.Version, zipSize int64, p *policy.Policy, data policy.Data) (policy.Decision, error) {
	var err error
	in := policy.Input{Module: m, ZipSize: zipSize, Zip: zipSize > 0, Data: data}
	if s.opts.Scanner != nil {
		if in.Facts, in.Vulns, err = s.opts.Scanner.Known(ctx, m); err != nil {
			return policy.Decision{}, err
		}
	}
	if p.UsesCapabilities() {
		if in.Capabilities, err = s.capabilityFacts(ctx, m, in.Zip); err != nil {
			return policy.Decision{}, err
		}
	}
	if in.Lookalike, in.Clone, err = s.resemblanceOf(ctx, m); err != nil {
		return policy.Decision{}, err
	}
	if in.Exemptions, err = s.exemptions(ctx); err != nil {
		return policy.Decision{}, err
	}
	d := p.Decide(in, s.now())
	// min_age's fast lane: only for a version held for its age, the
	// versions it fixes are read (one more store read, then cached with the
	// decision).
	if fx, ok := s.opts.Scanner.(interface {
		FixedBy(context.Context, module.Version) ([]store.Finding, error)
	}); ok && p.FastLane() && d.HeldForAge() {
		if in.Fixes, err = fx.FixedBy(ctx, m); err != nil {
			return policy.Decision{}, err
		}
		if len(in.Fixes) > 0 {
			d = p.Decide(in, s.now())
		}
	}
	return d, nil
}

// Decide makes the policy decision for m as a request for its zip would
// (without the zip's size, which only the zip's own request knows), from the
// stored facts and without downloading anything.
func (s *Server) Decide(ctx context.Context, m module.Version) (policy.Decision, error) {
	d, _, err := s.decide(ctx, m, 0)
	return d, err
}

// policy is the policy in force.
func (s *Server) policy() *policy.Policy {
	if s.opts.Policy != nil {
		if p := s.opts.Policy(); p != nil {
			return p
		}
	}
	return s.defaultPolicy
}

// BlockedError refuses a version by policy. Its message is the body the go
// command shows a developer (see [policy.Refusal]): what, why, what to use
// instead, and what resolves it.
type BlockedError struct {
	policy.Refusal
}

func (e *BlockedError) Error() string { return e.Text() }

// reasons renders findings for the audit log.
func reasons(d policy.Decision) []string {
	var out []string
	for _, f := range d.Findings {
		r := string(f.Action) + " " + f.Rule + ": " + f.Reason
		if f.Exemption != 0 {
			r += fmt.Sprintf(" (exempted by #%d)", f.Exemption)
		}
		out = append(out, r)
	}
	return out
}

// enforce decides on a version whose zip is about to be served: a block in
// enforce mode becomes a *BlockedError; otherwise the findings go to the
// audit record.
func (s *Server) enforce(ctx context.Context, w any, m module.Version, zipSize int64) error {
	c, p, err := s.decision(ctx, m, zipSize)
	if err != nil {
		return err
	}
	d := c.d
	if cw, ok := w.(*countingWriter); ok {
		cw.reasons = c.reasons // read-only: the audit record copies them
	}
	if !d.Blocked {
		return nil
	}
	var req *http.Request
	if cw, ok := w.(*countingWriter); ok {
		req = cw.httpReq
	}
	return s.blocked(ctx, req, m, d, p, true)
}

// blocked builds the refusal of m: the nearest version to use instead (when
// instead is set), and links to the version's dashboard page and the data's
// state on the server the client reached with req (nil: no links).
func (s *Server) blocked(ctx context.Context, req *http.Request, m module.Version, d policy.Decision, p *policy.Policy, instead bool) *BlockedError {
	r := policy.Refusal{Module: m, Decision: d, Ask: s.opts.ExemptionHint}
	if instead {
		r.Instead = s.nearestAllowed(ctx, m, p)
	}
	if req != nil {
		base := s.baseURL(req)
		if s.opts.DashboardPath != "" {
			ep, _ := module.EscapePath(m.Path)
			ev, _ := module.EscapeVersion(m.Version)
			r.Page = base + s.opts.DashboardPath + "/version/" + ep + "/@v/" + ev
		}
		if s.opts.VulnStatusPath != "" {
			r.Status = base + s.opts.VulnStatusPath
		}
	}
	return &BlockedError{Refusal: r}
}

// baseURL is the scheme and host a client used to reach the server: https
// when the connection is TLS, or when a trusted reverse proxy says so in
// X-Forwarded-Proto.
func (s *Server) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if r.Header.Get("X-Forwarded-Proto") == "https" && s.fromTrustedProxy(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) fromTrustedProxy(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// nearestAllowed offers the allowed version nearest to m among the versions
// whose zip modgate ingested (so their facts, licenses and size included,
// are known) and that the current policy allows as their zip request would
// be decided; "" when there is none. For golang.org/toolchain only versions
// of the same platform are offered.
func (s *Server) nearestAllowed(ctx context.Context, m module.Version, p *policy.Policy) string {
	if s.opts.Scanner == nil {
		return ""
	}
	versions, err := s.opts.Scanner.Versions(ctx, m.Path)
	if err != nil {
		s.log.Warn("nearest allowed version", "module", m.Path, "err", err.Error())
		return ""
	}
	if m.Path == "golang.org/toolchain" {
		platform := m.Version[strings.LastIndexByte(m.Version, '.'):]
		versions = slices.DeleteFunc(versions, func(v string) bool { return !strings.HasSuffix(v, platform) })
	}
	return policy.Nearest(m.Version, versions, func(v string) bool {
		mv := module.Version{Path: m.Path, Version: v}
		a, err := s.opts.Store.Artifact(ctx, mv, store.KindZip)
		if err != nil {
			return false
		}
		d, _, err := s.decide(ctx, mv, max(a.Size, 1))
		return err == nil && !d.WouldBlock
	})
}

// filterList leaves blocked versions out of a @v/list answer when the policy
// hides them (not those refused only for missing data).
//
// Versions blocked as malware are left out whatever hide_blocked says: a list
// must never lead the go command to malicious code.
func (s *Server) filterList(ctx context.Context, path string, data []byte) ([]byte, error) {
	hide, err := s.hideAny(ctx, path)
	if err != nil || !hide.any {
		return data, err
	}
	var b strings.Builder
	for _, v := range strings.Fields(string(data)) {
		d, _, err := s.decide(ctx, module.Version{Path: path, Version: v}, 0)
		if err != nil {
			return nil, err
		}
		if d.Blocked && d.Malware() {
			continue
		}
		if !hide.blocked || !d.Blocked || d.BlockedForData() {
			// A version refused only for lack of data stays listed: every
			// version is, and the zip's refusal says why (an empty list
			// would read "no matching versions").
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	return []byte(b.String()), nil
}

// hiding says what a list or @latest answer of a module must leave out:
// blocked versions (hide_blocked in enforce mode), or at least malicious ones.
type hiding struct{ blocked, any bool }

// hideAny reads the policy and, when it does not hide blocked versions,
// whether the module has malware records at all (so lists of other modules
// cost no decisions).
func (s *Server) hideAny(ctx context.Context, path string) (hiding, error) {
	p := s.policy()
	if p.HideBlocked && p.Mode == policy.Enforce {
		return hiding{blocked: true, any: true}, nil
	}
	mm, ok := s.opts.Scanner.(interface {
		MaybeMalicious(ctx context.Context, path string) (bool, error)
	})
	if !ok {
		return hiding{}, nil
	}
	maybe, err := mm.MaybeMalicious(ctx, path)
	return hiding{any: maybe}, err
}

// DecisionJSON is the answer of the decision API.
type DecisionJSON struct {
	Module     string        `json:"module"`
	Version    string        `json:"version"`
	Blocked    bool          `json:"blocked"`
	WouldBlock bool          `json:"would_block"`
	Findings   []FindingJSON `json:"findings"`
}

// FindingJSON is one finding in DecisionJSON.
type FindingJSON struct {
	Rule      string    `json:"rule"`
	Action    string    `json:"action"`
	Reason    string    `json:"reason"`
	Advisory  string    `json:"advisory,omitempty"`
	Fixed     string    `json:"fixed,omitempty"`
	Until     time.Time `json:"until,omitzero"`
	Exemption int64     `json:"exemption,omitempty"`
}

// DecisionHandler answers GET /api/decision/<module>/@v/<version> (case-escaped
// like the protocol) with the policy decision as JSON, from the stored facts,
// without downloading anything.
func (s *Server) DecisionHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := strings.TrimPrefix(r.URL.Path, "/api/decision/")
		req, err := parse(p + ".info")
		if err == nil && req.query {
			err = badRequest("%s: want a canonical version", p)
		}
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		d, err := s.Decide(r.Context(), req.mod)
		if err != nil {
			s.log.Error("decision", "module", req.mod.Path, "version", req.mod.Version, "err", err.Error())
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		out := DecisionJSON{Module: req.mod.Path, Version: req.mod.Version, Blocked: d.Blocked, WouldBlock: d.WouldBlock, Findings: []FindingJSON{}}
		for _, f := range d.Findings {
			out.Findings = append(out.Findings, FindingJSON{Rule: f.Rule, Action: string(f.Action), Reason: f.Reason,
				Advisory: f.Advisory, Fixed: f.Fixed, Until: f.Until, Exemption: f.Exemption})
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		json.NewEncoder(w).Encode(out)
	})
}
