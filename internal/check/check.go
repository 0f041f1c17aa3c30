// Package check is the decision logic of `modgate check`, the CI check: the
// decision on every module of a project's build list, made as modgate makes
// it when the build fetches the module's zip, either from modgate's records
// ([Local], the same policy.Decide over scanner facts as the proxy) or by a
// running modgate ([Remote], GET /api/decision/...), and the summary of the
// result. The command line (flags, output, exit codes) stays in cmd/modgate.
package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/sync/errgroup"

	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
)

// Result is the result of `modgate check --json`. Its shape is stable:
// fields are only ever added.
type Result struct {
	// Project is the main module's path, "" if the input does not name it.
	Project string `json:"project"`
	// Source is "store" or the --server URL (without a password).
	Source string `json:"source"`
	// Policy is the --policy file (store only; "" for the default policy)
	// and Mode its mode (store only).
	Policy string `json:"policy,omitempty"`
	Mode   string `json:"mode,omitempty"`
	// VulnDBModified is the synced vulnerability data's modified time
	// (store only), RFC 3339.
	VulnDBModified string `json:"vulndb_modified,omitempty"`
	// Blocked reports whether the build would be blocked: some module's
	// Blocked is true. The exit code is 1 then.
	Blocked bool    `json:"blocked"`
	Summary Summary `json:"summary"`
	// Modules are every module of the build list, sorted by path, each with
	// its decision (findings empty when nothing matched).
	Modules []Decision `json:"modules"`
	// Symbols are govulncheck's findings (--symbols only), sorted by level
	// (called first) and ID; SymbolsError says why the analysis failed.
	Symbols      []Symbol `json:"symbols,omitempty"`
	SymbolsError string   `json:"symbols_error,omitempty"`
	// Base is the --base build list and Changes what each module whose
	// version differs from it adds (capabilities, programs), sorted by path.
	Base    string   `json:"base,omitempty"`
	Changes []Change `json:"changes,omitempty"`
}

// Summary counts modules: Blocked are refused; WouldBlock would be in
// enforce mode (audit mode: more than Blocked); Warned have a finding that
// does not block (a warn, or a block in audit mode); Exempted have a finding
// waived by an exemption.
type Summary struct {
	Modules    int `json:"modules"`
	Blocked    int `json:"blocked"`
	WouldBlock int `json:"would_block"`
	Warned     int `json:"warned"`
	Exempted   int `json:"exempted"`
}

// Decision is the decision on one version: the answer of a server's
// GET /api/decision/<module>/@v/<version>, and what [Local] computes from
// the store in the same shape.
type Decision struct {
	Module     string    `json:"module"`
	Version    string    `json:"version"`
	Blocked    bool      `json:"blocked"`
	WouldBlock bool      `json:"would_block"`
	Findings   []Finding `json:"findings"`
}

// Finding is a [policy.Finding].
type Finding struct {
	Rule     string `json:"rule"`
	Action   string `json:"action"` // block or warn
	Reason   string `json:"reason"`
	Advisory string `json:"advisory"`        // vulnerabilities only
	Fixed    string `json:"fixed"`           // vulnerabilities only; "" if no fix
	Until    string `json:"until,omitempty"` // min_age: RFC 3339
	// Exemption is the id of the exemption that waives the finding, 0 if none.
	Exemption int64 `json:"exemption"`
}

// Facts is what [Local] needs of the scanner: the facts a decision is made
// from, as the proxy reads them (scanner.Scanner.Known). When it also has
// FixedBy (scanner.Scanner does), min_age's fast lane applies as in the
// proxy.
type Facts interface {
	Known(ctx context.Context, m module.Version) (*store.Facts, []store.Vuln, error)
}

// Local decides on every module with policy p, the facts of each version,
// the exemptions and the state of the vulnerability data (missing data is
// decided by the policy, as the proxy decides it), as the proxy does before a
// zip is downloaded (without the zip's size and licenses), at now.
func Local(ctx context.Context, p *policy.Policy, facts Facts, exemptions []store.Exemption, data policy.Data, mods []module.Version, now time.Time) ([]Decision, error) {
	out := []Decision{}
	var err error
	for _, m := range mods {
		in := policy.Input{Module: m, Exemptions: exemptions, Data: data}
		if in.Facts, in.Vulns, err = facts.Known(ctx, m); err != nil {
			return nil, err
		}
		// Where the module comes from (look-alike path, clone), as the
		// proxy reads it, when facts can say (scanner.Resemblance.Of).
		if o, ok := facts.(interface {
			Of(context.Context, module.Version) (*store.PathCheck, *store.Clone, error)
		}); ok {
			if in.Lookalike, in.Clone, err = o.Of(ctx, m); err != nil {
				return nil, err
			}
		}
		// Capability facts, as the proxy reads them (when facts has them).
		if cs, ok := facts.(CapabilitySource); ok && p.UsesCapabilities() {
			if in.Capabilities, err = capFacts(ctx, cs, m); err != nil {
				return nil, err
			}
		}
		d := p.Decide(in, now)
		// min_age's fast lane, as the proxy applies it: the versions this
		// one fixes are read only for a version held for its age.
		if fx, ok := facts.(interface {
			FixedBy(context.Context, module.Version) ([]store.Finding, error)
		}); ok && p.FastLane() && d.HeldForAge() {
			if in.Fixes, err = fx.FixedBy(ctx, m); err != nil {
				return nil, err
			}
			if len(in.Fixes) > 0 {
				d = p.Decide(in, now)
			}
		}
		out = append(out, FromPolicy(m, d))
	}
	return out, nil
}

// FromPolicy is the Decision of a policy decision on m.
func FromPolicy(m module.Version, d policy.Decision) Decision {
	o := Decision{Module: m.Path, Version: m.Version, Blocked: d.Blocked, WouldBlock: d.WouldBlock, Findings: []Finding{}}
	for _, f := range d.Findings {
		fo := Finding{Rule: f.Rule, Action: string(f.Action), Reason: f.Reason, Advisory: f.Advisory, Fixed: f.Fixed,
			Exemption: f.Exemption}
		if !f.Until.IsZero() {
			fo.Until = f.Until.UTC().Format(time.RFC3339)
		}
		o.Findings = append(o.Findings, fo)
	}
	return o
}

// Remote asks the modgate at server for the decision on every module, a
// few at once. user:password@ in server is sent as Basic authentication.
func Remote(ctx context.Context, server *url.URL, mods []module.Version) ([]Decision, error) {
	base := *server
	base.User = nil
	user, pass, auth := "", "", false
	if server.User != nil {
		user = server.User.Username()
		pass, _ = server.User.Password()
		auth = true
	}
	client := &http.Client{Timeout: time.Minute}
	results := make([]Decision, len(mods))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, m := range mods {
		g.Go(func() error {
			ep, err := module.EscapePath(m.Path)
			if err != nil {
				return &module.ModuleError{Path: m.Path, Version: m.Version, Err: err}
			}
			ev, err := module.EscapeVersion(m.Version)
			if err != nil {
				return &module.ModuleError{Path: m.Path, Version: m.Version, Err: err}
			}
			u := strings.TrimSuffix(base.String(), "/") + "/api/decision/" + ep + "/@v/" + ev
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			if auth {
				req.SetBasicAuth(user, pass)
			}
			req.Header.Set("Accept", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("%s@%s: asking %s: %w", m.Path, m.Version, base.Redacted(), err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
			if err != nil {
				return fmt.Errorf("%s@%s: reading the decision: %w", m.Path, m.Version, err)
			}
			switch {
			case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
				return fmt.Errorf("%s@%s: %s refused the decision request (%s): give credentials as --server https://user:token@host", m.Path, m.Version, base.Redacted(), resp.Status)
			case resp.StatusCode == http.StatusNotFound && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")):
				return fmt.Errorf("%s@%s: %s has no decision API (%s: %s): is it a modgate with /api/decision/?", m.Path, m.Version, base.Redacted(), resp.Status, oneLine(string(body)))
			case resp.StatusCode != http.StatusOK:
				return fmt.Errorf("%s@%s: decision: %s: %s", m.Path, m.Version, resp.Status, oneLine(string(body)))
			}
			var d Decision
			if err := json.Unmarshal(body, &d); err != nil {
				return fmt.Errorf("%s@%s: the decision is not the JSON expected: %w", m.Path, m.Version, err)
			}
			d.Module, d.Version = m.Path, m.Version
			for i, f := range d.Findings {
				if t, err := time.Parse(time.RFC3339Nano, f.Until); err == nil {
					d.Findings[i].Until = t.UTC().Format(time.RFC3339)
				}
			}
			if d.Findings == nil {
				d.Findings = []Finding{}
			}
			results[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

// Summarize sorts the modules and fills in the summary and Blocked.
func (out *Result) Summarize() {
	sort.Slice(out.Modules, func(i, j int) bool {
		a, b := out.Modules[i], out.Modules[j]
		return a.Module < b.Module || a.Module == b.Module && a.Version < b.Version
	})
	s := &out.Summary
	*s = Summary{Modules: len(out.Modules)}
	out.Blocked = false
	for _, d := range out.Modules {
		if d.Blocked {
			s.Blocked++
			out.Blocked = true
		}
		if d.WouldBlock {
			s.WouldBlock++
		}
		warned, exempted := false, false
		for _, f := range d.Findings {
			switch {
			case f.Exemption != 0:
				exempted = true
			case f.Action == string(policy.Warn) || !d.Blocked:
				warned = true
			}
		}
		if warned {
			s.Warned++
		}
		if exempted {
			s.Exempted++
		}
	}
}

// Label is how a finding f of d is marked in the text output: BLOCK, WARN
// or EXEMPT, with a note.
func Label(d Decision, f Finding) (tag, note string) {
	switch {
	case f.Exemption != 0:
		return "EXEMPT", fmt.Sprintf(" (%s, waived by exemption %d)", f.Action, f.Exemption)
	case f.Action == string(policy.Block) && d.Blocked:
		return "BLOCK", ""
	case f.Action == string(policy.Block):
		return "WARN", " (audit mode: enforce would block)"
	}
	return "WARN", ""
}

// oneLine folds s into one line for a message.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
