package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
)

// decisionTTL bounds how long a decision is reused: a changed policy takes
// effect at once (decisions are cached per policy), changed exemptions and
// vulnerability data within this long.
const decisionTTL = 5 * time.Second

// cachedDecision is a decision remembered for decisionTTL.
type cachedDecision struct {
	d      policy.Decision
	policy *policy.Policy
	at     time.Time
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

// decide makes the policy decision for m. zipSize is 0 when unknown. Facts are
// read from the store (recorded at ingest); for a version never ingested its
// vulnerabilities are matched against the synced database.
func (s *Server) decide(ctx context.Context, m module.Version, zipSize int64) (policy.Decision, *policy.Policy, error) {
	p := s.policy()
	key := fmt.Sprintf("decision %s@%s %d", m.Path, m.Version, zipSize)
	if c, ok := s.memo.get(key).(*cachedDecision); ok && c.policy == p && s.now().Sub(c.at) < decisionTTL {
		return c.d, p, nil
	}
	in := policy.Input{Module: m, ZipSize: zipSize}
	var err error
	if s.opts.Scanner != nil {
		if in.Facts, in.Vulns, err = s.opts.Scanner.Known(ctx, m); err != nil {
			return policy.Decision{}, p, err
		}
	}
	if in.Exemptions, err = s.exemptions(ctx); err != nil {
		return policy.Decision{}, p, err
	}
	d := p.Decide(in, s.now())
	s.memo.put(key, &cachedDecision{d: d, policy: p, at: s.now()}, 512)
	return d, p, nil
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
// command shows a developer: what, why, what to use instead, how to get an
// exemption.
type BlockedError struct {
	Module   module.Version
	Decision policy.Decision
	// Instead is the nearest allowed version, "" if none is known.
	Instead string
	// ExemptionHint tells how to ask for an exemption.
	ExemptionHint string
}

func (e *BlockedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%s is blocked by policy:\n", e.Module.Path, e.Module.Version)
	var blocking []policy.Finding
	for _, f := range e.Decision.Findings {
		if f.Action == policy.Block && f.Exemption == 0 {
			blocking = append(blocking, f)
		}
	}
	const maxShown = 4 // the go command shows 8 lines: keep room for what to do
	for i, f := range blocking {
		if i == maxShown {
			fmt.Fprintf(&b, "- and %d more\n", len(blocking)-maxShown)
			break
		}
		fmt.Fprintf(&b, "- %s: %s\n", f.Rule, f.Reason)
	}
	if e.Instead != "" {
		fmt.Fprintf(&b, "Use %s@%s instead (the nearest allowed version).\n", e.Module.Path, e.Instead)
	} else {
		b.WriteString("No allowed version is known.\n")
	}
	if e.ExemptionHint != "" {
		b.WriteString(e.ExemptionHint)
	}
	return b.String()
}

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
	d, p, err := s.decide(ctx, m, zipSize)
	if err != nil {
		return err
	}
	if cw, ok := w.(*countingWriter); ok {
		cw.reasons = reasons(d)
	}
	if !d.Blocked {
		return nil
	}
	return &BlockedError{Module: m, Decision: d, Instead: s.nearestAllowed(ctx, m, p), ExemptionHint: s.exemptionHint(m, d)}
}

// exemptionHint tells a developer how to get an exemption.
func (s *Server) exemptionHint(m module.Version, d policy.Decision) string {
	rule := ""
	for _, f := range d.Findings {
		if f.Action == policy.Block && f.Exemption == 0 {
			rule = f.Rule
			if f.Advisory != "" {
				rule = f.Advisory
			}
			break
		}
	}
	hint := s.opts.ExemptionHint
	if hint == "" {
		hint = "To request an exemption, ask your security team to run:"
	}
	return fmt.Sprintf("%s\n  modgate exempt add --module %s --versions %s --rule %s --reason ... --by ... --expires 30d\n",
		hint, m.Path, m.Version, rule)
}

// nearestAllowed offers the allowed version nearest to m from the module's
// version list (cached, or fetched).
func (s *Server) nearestAllowed(ctx context.Context, m module.Version, p *policy.Policy) string {
	meta, _, err := s.meta(ctx, request{kind: "list", mod: module.Version{Path: m.Path}}, store.MetaList)
	if err != nil {
		return ""
	}
	return policy.Nearest(m.Version, strings.Fields(string(meta.Data)), func(v string) bool {
		d, _, err := s.decide(ctx, module.Version{Path: m.Path, Version: v}, 0)
		return err == nil && !d.WouldBlock
	})
}

// filterList leaves blocked versions out of a @v/list answer when the policy
// hides them.
func (s *Server) filterList(ctx context.Context, path string, data []byte) ([]byte, error) {
	p := s.policy()
	if !p.HideBlocked || p.Mode != policy.Enforce {
		return data, nil
	}
	var b strings.Builder
	for _, v := range strings.Fields(string(data)) {
		d, _, err := s.decide(ctx, module.Version{Path: path, Version: v}, 0)
		if err != nil {
			return nil, err
		}
		if !d.Blocked {
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	return []byte(b.String()), nil
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
