package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// Data is the state of the data a decision is made with, as the scanner
// reports it: the vulnerability database, the malware feeds (--advisories)
// and the module index. Its zero value means no sync of the vulnerability
// data ever succeeded (and no feed is configured).
type Data struct {
	// VulnSynced is when the last successful sync of the vulnerability data
	// ended; zero when none ever succeeded.
	VulnSynced time.Time
	// VulnAttempted is when the last sync attempt ended and VulnError its
	// error ("" when it succeeded); zero and "" when none was made.
	VulnAttempted time.Time
	VulnError     string
	// VulnMaxAge is how long after VulnSynced the data is still used; 0
	// means no limit. (A sync that succeeds renews the data even when the
	// database itself did not change: the age counts how long modgate has
	// not been able to ask, not how long the database has been quiet.)
	VulnMaxAge time.Duration

	// Feeds is the state of every configured malware feed (--advisories),
	// each a source like the vulnerability database; none when no feed is
	// configured (then malware.unknown never applies).
	Feeds []Source

	// Index is how far the module index feed, the source of publication
	// times, has been followed (the zero value: never read); IndexOff is set
	// when no index feed is configured.
	Index    store.IndexState
	IndexOff bool
}

// Unchecked is data that was missing for a decision.
type Unchecked struct {
	// Rule is the missing-data rule that applies (RuleVulnUnknown, ...).
	Rule string
	// Reason says what is missing and since when, for a developer.
	Reason string
}

// Source is the state of one source of advisory data that is synced: the
// Go vulnerability database, or a malware feed.
type Source struct {
	// URL names the source in messages; without credentials (a feed's URL
	// is redacted when the feed is configured).
	URL string
	// Synced is when the last successful sync ended; zero when none ever
	// succeeded. Attempted is when the last attempt ended and Error its
	// error ("" when it succeeded).
	Synced    time.Time
	Attempted time.Time
	Error     string
	// MaxAge is how long after Synced the data is still used; 0 means no
	// limit.
	MaxAge time.Duration
}

// Missing reports why the source's data cannot be used at now, "" when it
// can, naming the source as what: "<what>: never synced (last attempt 12:03
// UTC: ...)", "<what> is 9 days old (max 7d; last synced ...)".
func (s Source) Missing(what string, now time.Time) string {
	last := ""
	if !s.Attempted.IsZero() && s.Error != "" {
		last = fmt.Sprintf("last attempt %s: %s", fmtWhen(s.Attempted, now), oneLine(s.Error, 160))
	}
	if s.Synced.IsZero() {
		if last == "" {
			return what + ": never synced (no attempt yet)"
		}
		return what + ": never synced (" + last + ")"
	}
	age := now.Sub(s.Synced)
	if s.MaxAge <= 0 || age <= s.MaxAge {
		return ""
	}
	out := fmt.Sprintf("%s is %s old (max %s; last synced %s", what, fmtAge(age), fmtLimit(s.MaxAge), fmtWhen(s.Synced, now))
	if last != "" {
		out += "; " + last
	}
	return out + ")"
}

// Vuln is the vulnerability database as a Source.
func (d Data) Vuln() Source {
	return Source{URL: "vulnerability data", Synced: d.VulnSynced, Attempted: d.VulnAttempted, Error: d.VulnError, MaxAge: d.VulnMaxAge}
}

// VulnMissing reports why the vulnerability data cannot be used at now: ""
// when it can. The text says what is missing and since when: "vulnerability
// data: never synced (last attempt 12:03 UTC: ...)", "vulnerability data is
// 9 days old (max 7d; last synced ...)".
func (d Data) VulnMissing(now time.Time) string {
	return d.Vuln().Missing("vulnerability data", now)
}

// FeedsMissing reports why each malware feed that cannot be used at now
// cannot: "malware feed https://...: never synced (...)"; none when every
// feed can (or none is configured).
func (d Data) FeedsMissing(now time.Time) []string {
	var out []string
	for _, f := range d.Feeds {
		if why := f.Missing("malware feed "+oneLine(f.URL, 120), now); why != "" {
			out = append(out, why)
		}
	}
	return out
}

// SameState reports whether d and o are the same state of the synced data
// (the vulnerability database and the feeds; not the module index, which
// moves with every page read).
func (d Data) SameState(o Data) bool {
	return d.Vuln().same(o.Vuln()) && slices.EqualFunc(d.Feeds, o.Feeds, Source.same)
}

func (s Source) same(o Source) bool {
	return s.URL == o.URL && s.Synced.Equal(o.Synced) && s.Attempted.Equal(o.Attempted) && s.Error == o.Error && s.MaxAge == o.MaxAge
}

// PublishUnknown says why a version's publication time is not known and
// when to ask again, for min_age: the module index has not listed it (yet),
// or was never read, or is off.
func (d Data) PublishUnknown(minAge time.Duration, now time.Time) string {
	const lead = "publication time unknown: "
	last := ""
	if d.Index.LastError != "" && !d.Index.AttemptedAt.IsZero() {
		last = fmt.Sprintf("last read %s: %s", fmtWhen(d.Index.AttemptedAt, now), oneLine(d.Index.LastError, 120))
	}
	switch {
	case d.IndexOff:
		return lead + "no Last-Modified upstream, no checksum database record dated it, and the module index is off (--index off)"
	case d.Index.Since.IsZero():
		if last == "" {
			return lead + "the module index was never read (no attempt yet); retry in a few minutes"
		}
		return lead + "the module index was never read (" + last + ")"
	}
	s := lead + "the module index has not listed it yet (index followed up to " + fmtWhen(d.Index.Since, now)
	if last != "" {
		s += "; " + last
	}
	s += ")"
	// A version the index lists from now on is listed at Since or later,
	// so min_age cannot pass it before Since+minAge.
	if from := d.Index.Since.Add(minAge); from.After(now) {
		return s + "; not before " + fmtWhen(from, now)
	}
	return s + "; retry in a few minutes"
}

// fmtWhen renders t for a message read at now: "12:03 UTC" today, else
// "2026-11-22 12:03 UTC".
func fmtWhen(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.Format(time.DateOnly) == now.Format(time.DateOnly) {
		return t.Format("15:04 UTC")
	}
	return t.Format("2006-01-02 15:04 UTC")
}

// fmtAge renders an age in whole days when it is at least two days ("9
// days"), else as fmtDuration.
func fmtAge(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return fmtDuration(d)
}

// fmtLimit renders a limit in days when it is whole days ("7d"), else as
// fmtDuration.
func fmtLimit(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return fmtDuration(d)
}

// vulnUnknownAction is what a decision without usable vulnerability data
// does: as set, else block when a vulnerability rule blocks, else warn; off
// when vulnerabilities are off altogether.
func (r *rules) vulnUnknownAction() Action {
	switch {
	case r.vulnAction == Off && r.unreviewed == Off:
		return Off
	case r.vulnUnknown != "":
		return r.vulnUnknown
	case r.vulnAction == Block || r.unreviewed == Block:
		return Block
	}
	return Warn
}

// malwareUnknownAction is what a decision does while a malware feed's data
// is missing: as set, else as malware (block by default); off when malware
// is.
func (r *rules) malwareUnknownAction() Action {
	switch {
	case r.malware == Off:
		return Off
	case r.malwareUnknown != "":
		return r.malwareUnknown
	}
	return r.malware
}

// licenseUnscannedAction is what serving a zip whose licenses were never
// scanned does: as set, else block when a license rule blocks, else warn;
// off when no license rule is on.
func (r *rules) licenseUnscannedAction() Action {
	denyOn := len(r.licenseDeny) > 0 && r.licenseAction != Off
	switch {
	case !denyOn && r.licenseUnknown == Off:
		return Off
	case r.licenseUnscanned != "":
		return r.licenseUnscanned
	case denyOn && r.licenseAction == Block, r.licenseUnknown == Block:
		return Block
	}
	return Warn
}

// maxZipUnknownAction is what serving a zip of unknown size does: as set,
// else as max_zip_size; off when max_zip_size is.
func (r *rules) maxZipUnknownAction() Action {
	switch {
	case r.maxZipSize == 0 || r.maxZipAction == Off:
		return Off
	case r.maxZipUnknown != "":
		return r.maxZipUnknown
	}
	return r.maxZipAction
}

// minAgeUnknownAction is what a version without a trusted publication
// time does: as set, else as min_age; off when min_age is.
func (r *rules) minAgeUnknownAction() Action {
	switch {
	case r.minAge == 0 || r.minAgeAction == Off:
		return Off
	case r.minAgeUnknown != "":
		return r.minAgeUnknown
	}
	return r.minAgeAction
}

// lack is a synced source whose data is missing, with the missing-data rule
// that decides without it.
type lack struct {
	rule   string
	action Action
	why    string
}

// lacking lists the synced sources of d (the vulnerability database, each
// malware feed) whose data cannot be used at now, each with its rule and
// what this policy does about it: one list for decisions and readiness.
func (r *rules) lacking(d Data, now time.Time) []lack {
	var out []lack
	if why := d.VulnMissing(now); why != "" {
		out = append(out, lack{RuleVulnUnknown, r.vulnUnknownAction(), why})
	}
	for _, why := range d.FeedsMissing(now) {
		out = append(out, lack{RuleMalwareUnknown, r.malwareUnknownAction(), why})
	}
	return out
}

// missingData returns what in lacks (whatever the policy does about it) and
// the findings the policy makes of it.
func (r *rules) missingData(in Input, now time.Time) ([]Unchecked, []candidate) {
	var unchecked []Unchecked
	var out []candidate
	add := func(rule string, a Action, reason string) {
		unchecked = append(unchecked, Unchecked{Rule: rule, Reason: reason})
		if a != Off {
			out = append(out, candidate{Finding: Finding{Rule: rule, Action: a, Reason: reason}})
		}
	}
	for _, l := range r.lacking(in.Data, now) {
		add(l.rule, l.action, l.why)
	}
	// min_age needs a publication time no author can set: of an ingested
	// version, or of the zip about to be served.
	if r.minAgeUnknownAction() != Off && !r.minAgeExcepted(in.Module.Path) && (in.Facts != nil || in.Zip) &&
		(in.Facts == nil || in.Facts.Published.IsZero() || !store.PublishedTrusted(in.Facts.PublishedSource)) {
		add(RuleMinAgeUnknown, r.minAgeUnknownAction(), in.Data.PublishUnknown(r.minAge, now))
	}
	if in.Zip {
		if in.Facts == nil || !in.Facts.LicensesKnown {
			add(RuleLicenseUnscanned, r.licenseUnscannedAction(), "licenses not known: the zip's license files were never scanned (see the server's log)")
		}
		if in.ZipSize <= 0 {
			add(RuleMaxZipUnknown, r.maxZipUnknownAction(), "zip size not known")
		}
	}
	return unchecked, out
}

// Lacks reports why a rule that blocks in this policy lacks its data at
// now, "" when none does: in enforce mode, vulnerabilities.unknown blocking
// while the vulnerability data is missing; in either mode, malware.unknown
// blocking while a malware feed's is (it blocks in audit mode too).
// (Licenses and sizes are per zip: a replica is not less ready for them.)
func (p *Policy) Lacks(d Data, now time.Time) string {
	if p == nil {
		p = Default()
	}
	var out []string
	for _, l := range p.rules.lacking(d, now) {
		if p.Mode != Enforce && l.rule != RuleMalwareUnknown {
			continue
		}
		if l.action == Block {
			out = append(out, l.rule+" blocks: "+l.why)
		}
	}
	return strings.Join(out, "; ")
}

// Malware reports whether some blocking (not exempted) finding of d is a
// malware one: such a version is never offered in a version list.
func (d Decision) Malware() bool {
	for _, f := range d.Findings {
		if f.Rule == RuleMalware && f.Action == Block && f.Exemption == 0 {
			return true
		}
	}
	return false
}

// BlockedForData reports whether d blocks only for missing data: every
// blocking finding is a missing-data one. Such a version is refused like
// every other until the data is there, so hiding it from a version list
// would mislead.
func (d Decision) BlockedForData() bool {
	n := 0
	for _, f := range d.Findings {
		if f.Action != Block || f.Exemption != 0 {
			continue
		}
		switch f.Rule {
		case RuleVulnUnknown, RuleMalwareUnknown, RuleLicenseUnscanned, RuleMaxZipUnknown, RuleMinAgeUnknown:
			n++
		default:
			return false
		}
	}
	return n > 0
}
