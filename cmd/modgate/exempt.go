package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
)

const exemptUsage = `usage:
  modgate exempt add --module M [--versions V] [--rule R] --reason TEXT --by NAME --expires WHEN
  modgate exempt list [--all]
  modgate exempt rm ID

--module is a module path (example.com/m: that module only) or a pattern in
GOPRIVATE syntax (corp.example.com/*). --versions is a version (v1.2.3) or a
range (">=v1.2.0,<v1.3.0"); empty: every version. --rule is a policy rule
(vulnerabilities, modules, modules.deny, modules.allow, retracted, deprecated,
min_age, min_age.unknown, licenses, licenses.deny, licenses.unknown, max_zip_size, malware,
malware.unknown, lookalike, clone, clone.with_new_capabilities, clone.unknown) or an advisory
ID or alias (GO-..., CVE-..., GHSA-...); empty: every rule. --expires is a
duration from now (720h, 30d) or a time (RFC 3339, or a date: midnight UTC); it
is required and must be in the future; "never" only with --rule lookalike (a
reviewed path is cleared for good). list hides expired exemptions unless
--all. Every change is recorded in the audit log.`

type exemptFlags struct {
	fs                                       *flag.FlagSet
	module, versions, rule, reason, by, expr string
	all                                      bool
}

// registerExemptFlags defines `modgate exempt`'s own flags on the command's
// flag set; ownFlags returns it for "exempt".
func registerExemptFlags(fs *flag.FlagSet) any {
	f := &exemptFlags{fs: fs}
	fs.StringVar(&f.module, "module", "", "exempt add: module `path` or pattern (corp.example.com/*)")
	fs.StringVar(&f.versions, "versions", "", "exempt add: `version` or range (\">=v1.2.0,<v1.3.0\"); empty: every version")
	fs.StringVar(&f.rule, "rule", "", "exempt add: policy `rule` or advisory ID/alias; empty: every rule")
	fs.StringVar(&f.reason, "reason", "", "exempt add: why it is granted (required)")
	fs.StringVar(&f.by, "by", "", "exempt add: who grants it (required)")
	fs.StringVar(&f.expr, "expires", "", "exempt add: when it stops applying: a duration (720h, 30d) or a time (RFC 3339 or date); required")
	fs.BoolVar(&f.all, "all", false, "exempt list: include expired exemptions")
	return f
}

// runExempt runs `modgate exempt add|list|rm`.
func runExempt(ctx context.Context, e *env) error {
	f, _ := e.own.(*exemptFlags)
	if len(e.args) == 0 || f == nil {
		return &usageError{msg: exemptUsage}
	}
	var allowed func(string) bool
	switch e.args[0] {
	case "add":
		allowed = func(n string) bool { return n != "all" }
	case "list":
		allowed = func(n string) bool { return n == "all" }
	case "rm":
		allowed = func(string) bool { return false }
	default:
		return &usageError{msg: fmt.Sprintf("unknown exempt command %q\n%s", e.args[0], exemptUsage)}
	}
	var bad error
	f.fs.Visit(func(fl *flag.Flag) {
		if f.has(fl.Name) && !allowed(fl.Name) && bad == nil {
			bad = &usageError{msg: fmt.Sprintf("exempt %s does not take --%s\n%s", e.args[0], fl.Name, exemptUsage)}
		}
	})
	if bad != nil {
		return bad
	}
	now := time.Now()
	switch e.args[0] {
	case "add":
		if len(e.args) != 1 {
			return &usageError{msg: exemptUsage}
		}
		ex, err := f.exemption(now)
		if err != nil {
			return &usageError{msg: err.Error()}
		}
		return exemptAdd(ctx, e, ex)
	case "list":
		if len(e.args) != 1 {
			return &usageError{msg: exemptUsage}
		}
		return exemptList(ctx, e, f.all, now)
	default:
		if len(e.args) != 2 {
			return &usageError{msg: exemptUsage}
		}
		id, err := strconv.ParseInt(e.args[1], 10, 64)
		if err != nil || id <= 0 {
			return &usageError{msg: fmt.Sprintf("exempt rm %q: want an exemption ID (see modgate exempt list)", e.args[1])}
		}
		return exemptRemove(ctx, e, id)
	}
}

// has reports whether name is one of exempt's own flags (not a setting).
func (f *exemptFlags) has(name string) bool {
	switch name {
	case "module", "versions", "rule", "reason", "by", "expires", "all":
		return true
	}
	return false
}

// exemption checks the flags of exempt add and returns the exemption they
// describe.
func (f *exemptFlags) exemption(now time.Time) (*store.Exemption, error) {
	var errs []error
	for _, req := range []struct{ name, val string }{{"module", f.module}, {"reason", f.reason}, {"by", f.by}, {"expires", f.expr}} {
		if strings.TrimSpace(req.val) == "" {
			errs = append(errs, fmt.Errorf("--%s is required", req.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, exemptUsage)
	}
	expires, err := parseExpiry(f.expr, now)
	if err != nil {
		return nil, err
	}
	ex := &store.Exemption{Module: f.module, Versions: strings.TrimSpace(f.versions), Rule: f.rule,
		Reason: f.reason, GrantedBy: f.by, ExpiresAt: expires}
	if err := policy.CheckExemption(ex); err != nil {
		return nil, err
	}
	return ex, nil
}

// parseExpiry parses --expires: a duration from now (720h, 30d) or a time
// (RFC 3339 or a date), which must be in the future.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	var t time.Time
	if s == "never" {
		return policy.NeverExpires, nil // the look-alike rule only (policy.CheckExemption)
	}
	var d days
	if err := d.Set(s); err == nil {
		t = now.Add(time.Duration(d))
	} else if t, err = audit.ParseTime(s); err != nil {
		return time.Time{}, fmt.Errorf("--expires %q: want a duration from now (720h, 30d) or a time (2026-06-30T18:00:00Z, 2026-06-30)", s)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("--expires %q: %s is not in the future", s, t.UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}

// exemptAudit is the audit record of a change to ex.
func exemptAudit(decision string, ex *store.Exemption) *store.AuditEvent {
	rule := ex.Rule
	if rule == "" {
		rule = "(every rule)"
	}
	return &store.AuditEvent{
		Type: store.AuditAdmin, Decision: decision, Module: ex.Module, Version: ex.Versions,
		Reasons: []string{
			"rule: " + rule,
			"reason: " + ex.Reason,
			"by: " + ex.GrantedBy,
			"expires: " + ex.ExpiresAt.UTC().Format(time.RFC3339),
			"id: " + strconv.FormatInt(ex.ID, 10),
		},
	}
}

func exemptAdd(ctx context.Context, e *env, ex *store.Exemption) error {
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	added, err := st.AddExemption(ctx, ex)
	if err != nil {
		return err
	}
	if err := st.AppendAudit(ctx, []*store.AuditEvent{exemptAudit("exemption added", added)}); err != nil {
		// An exemption nobody can account for must not apply: take it back.
		if _, rmErr := st.RemoveExemption(ctx, added.ID); rmErr != nil {
			return fmt.Errorf("audit record of exemption %d failed (%v), and so did removing it again: %w", added.ID, err, rmErr)
		}
		return fmt.Errorf("exemption not added: its audit record failed: %w", err)
	}
	e.log.Info("exemption added", "id", added.ID, "module", added.Module, "versions", added.Versions,
		"rule", added.Rule, "by", added.GrantedBy, "expires", added.ExpiresAt)
	fmt.Fprintf(e.stdout, "exemption %d added: %s %s, %s, until %s\n", added.ID, added.Module,
		orAll(added.Versions, "every version"), orAll(added.Rule, "every rule"), added.ExpiresAt.Format(time.RFC3339))
	return nil
}

func exemptList(ctx context.Context, e *env, all bool, now time.Time) error {
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.ListExemptions(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMODULE\tVERSIONS\tRULE\tEXPIRES\tBY\tREASON")
	hidden := 0
	for _, ex := range list {
		expires := ex.ExpiresAt.UTC().Format(time.RFC3339)
		if !ex.ExpiresAt.After(now) {
			if !all {
				hidden++
				continue
			}
			expires += " (expired)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ex.ID, ex.Module, orAll(ex.Versions, "*"), orAll(ex.Rule, "*"),
			expires, oneLine(ex.GrantedBy), oneLine(ex.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if hidden > 0 {
		fmt.Fprintf(e.stdout, "(%d expired exemptions not shown; --all shows them)\n", hidden)
	}
	return nil
}

func exemptRemove(ctx context.Context, e *env, id int64) error {
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	removed, err := st.RemoveExemption(ctx, id)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no exemption %d (see modgate exempt list --all)", id)
	}
	if err != nil {
		return err
	}
	if err := st.AppendAudit(ctx, []*store.AuditEvent{exemptAudit("exemption removed", removed)}); err != nil {
		return fmt.Errorf("exemption %d removed, but its audit record failed: %w", id, err)
	}
	e.log.Info("exemption removed", "id", removed.ID, "module", removed.Module)
	fmt.Fprintf(e.stdout, "exemption %d removed: %s %s, %s\n", removed.ID, removed.Module,
		orAll(removed.Versions, "every version"), orAll(removed.Rule, "every rule"))
	return nil
}

func orAll(s, all string) string {
	if s == "" {
		return all
	}
	return s
}

// oneLine keeps a free-text field on one line of the listing.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
