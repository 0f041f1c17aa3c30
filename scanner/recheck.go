package scanner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
)

// Takedowns and moved tags.
//
// A version modgate cached stays servable from its cache whatever happens
// upstream, so modgate asks the upstream again, in the background and
// rate-limited, about every cached version ([Scanner.Recheck]): the .info (or,
// for a version whose .info modgate never fetched, the .mod), from the one
// upstream that served it, with "Disable-Module-Fetch: true" so the upstream
// answers from what it holds and fetches nothing new. Then:
//
//   - 403, 404 or 410 where the upstream once served the version: the finding
//     "withdrawn upstream" (a takedown: malware removed by the mirror, a legal
//     removal, the author's request). The policy rule "withdrawn" acts on it.
//   - 200 for a withdrawn version: it came back; recorded as such, and the
//     finding ends.
//   - a .info whose Origin.Hash differs from the one first recorded: the tag
//     was moved (the finding "origin changed").
//   - anything else (5xx, 429, a timeout, a refused connection) is transient:
//     counted (UpstreamState.Failures), logged, never a takedown, however
//     often it repeats; after RecheckOptions.MaxFailures in a row the pass
//     stops early (the upstream is down: asking it about every version is
//     pointless) and the next pass starts over.
//
// Every finding and return is an audit record (type upstream) and is posted
// to the webhook (NotifyURL) like versions newly affected by advisories.

// ErrNoRecheck is what a [RecheckUpstream] returns (wrapped) for a version it
// cannot ask about without fetching (fetched with direct, or from an upstream
// no longer configured): the version is skipped.
var ErrNoRecheck = errors.New("cannot be rechecked without fetching")

// RecheckUpstream asks the upstream that served a version about it again.
type RecheckUpstream interface {
	// Recheck asks source (an upstream as store.UpstreamState.Source names
	// it) for m's artifact of kind (info or mod) without making it fetch
	// anything. It returns the HTTP status (0 when no answer came) and, for
	// 200, at most the first 64 KiB of the body; err is nil only for 200. An
	// error wrapping ErrNoRecheck means the source cannot be asked.
	Recheck(ctx context.Context, source string, m module.Version, kind store.Kind) (status int, body []byte, err error)
}

// RecheckOptions configure a recheck pass.
type RecheckOptions struct {
	Upstream RecheckUpstream
	// Rate is the most upstream requests per second; 0 means 5.
	Rate float64
	// MaxFailures is how many transient failures in a row end a pass early;
	// 0 means 10.
	MaxFailures int
	// Skip leaves out versions rechecked less than this long ago (another
	// replica's pass, a restart); 0 rechecks every version.
	Skip time.Duration
	// Audit, if set, receives an audit record per finding and return.
	Audit func(*store.AuditEvent)
	// Wait paces the requests: it returns after d or when ctx is done (with
	// ctx's error). Nil means a timer. Tests observe the pacing with it.
	Wait func(ctx context.Context, d time.Duration) error
}

// The findings of a recheck, as audit records, webhooks and the dashboard
// name them.
const (
	FindingWithdrawn     = "withdrawn upstream"
	FindingReturned      = "returned upstream"
	FindingOriginChanged = "origin changed"
)

// UpstreamEvent is one finding of a recheck (or of an ingest, for a moved
// tag).
type UpstreamEvent struct {
	Module  module.Version
	Finding string // a Finding* constant
	Detail  string // one line: the answer, the hashes
	Source  string // the upstream
	Kind    store.Kind
	At      time.Time
}

// RecheckResult says what a pass did.
type RecheckResult struct {
	// Asked counts upstream requests; Served the 200 answers; Refused the
	// 403/404/410 answers (withdrawn versions asked again included);
	// Transient the other failures; Skipped the versions that cannot be
	// asked (direct) or were rechecked recently; Gone the versions whose
	// artifacts are no longer cached.
	Asked, Served, Refused, Transient, Skipped, Gone int
	// Withdrawn, Returned and Moved count the new findings.
	Withdrawn, Returned, Moved int
	// Aborted is set when MaxFailures transient failures in a row ended the
	// pass early.
	Aborted  bool
	Events   []UpstreamEvent
	Duration time.Duration
	// NotifyErr is the webhook's last error when every attempt failed.
	NotifyErr error
}

// RecheckCounts are the totals of every recheck since the process started,
// for metrics.
type RecheckCounts struct {
	Asked, Transient             int64 // upstream requests, and those that failed transiently
	Withdrawn, Returned, Changed int64 // new findings
}

type recheckCounters struct {
	asked, transient, withdrawn, returned, changed atomic.Int64
}

// RecheckCounts returns the totals of every recheck since the process
// started.
func (s *Scanner) RecheckCounts() RecheckCounts {
	c := &s.recheck
	return RecheckCounts{Asked: c.asked.Load(), Transient: c.transient.Load(), Withdrawn: c.withdrawn.Load(),
		Returned: c.returned.Load(), Changed: c.changed.Load()}
}

// recheckLock keeps replicas sharing a database from rechecking at once.
const recheckLock = "modgate/upstream-recheck"

// recheckPage is how many versions a pass reads from the store at a time.
const recheckPage = 500

// Recheck asks the upstreams about every cached version once (see the
// comment above ErrNoRecheck), paced at opts.Rate, records what they answer
// and reports new findings. It returns early with ctx's error when ctx is
// done; a store error ends the pass.
func (s *Scanner) Recheck(ctx context.Context, opts RecheckOptions) (res RecheckResult, err error) {
	start := s.now()
	defer func() { res.Duration = s.now().Sub(start) }()
	if opts.Upstream == nil {
		return res, errors.New("recheck: no upstream")
	}
	rate := opts.Rate
	if rate <= 0 {
		rate = 5
	}
	gap := time.Duration(float64(time.Second) / rate)
	maxFail := opts.MaxFailures
	if maxFail <= 0 {
		maxFail = 10
	}
	wait := opts.Wait
	if wait == nil {
		wait = sleep
	}
	unlock, err := s.st.Lock(ctx, recheckLock)
	if err != nil {
		return res, err
	}
	defer unlock()

	// paced: the wait since the last request is done (a version skipped
	// after the wait made no request, so the next one needs none).
	asked, paced, inARow := false, false, 0
	after := module.Version{}
	for {
		page, err := s.st.UpstreamStates(ctx, after, recheckPage)
		if err != nil {
			return res, err
		}
		for _, u := range page {
			if opts.Skip > 0 && !u.CheckedAt.IsZero() && s.now().Sub(u.CheckedAt) < opts.Skip {
				res.Skipped++
				continue
			}
			kind, err := s.recheckKind(ctx, u.Module)
			if errors.Is(err, fs.ErrNotExist) {
				res.Gone++
				continue
			}
			if err != nil {
				return res, err
			}
			if asked && !paced {
				if err := wait(ctx, gap); err != nil {
					return res, err
				}
				paced = true
			}
			status, body, rerr := opts.Upstream.Recheck(ctx, u.Source, u.Module, kind)
			if errors.Is(rerr, ErrNoRecheck) {
				res.Skipped++
				continue
			}
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			asked, paced = true, false
			res.Asked++
			s.recheck.asked.Add(1)
			var events []UpstreamEvent
			if _, err := s.st.UpdateUpstream(ctx, u.Module, func(cur *store.UpstreamState) (*store.UpstreamState, error) {
				if cur == nil {
					cur = &u
				}
				var next *store.UpstreamState
				next, events = applyRecheck(*cur, kind, status, body, rerr, s.now().UTC())
				return next, nil
			}); err != nil {
				return res, err
			}
			switch outcome(status, rerr) {
			case served:
				res.Served++
				inARow = 0
			case refused:
				res.Refused++
				inARow = 0
			default:
				res.Transient++
				s.recheck.transient.Add(1)
				inARow++
				s.log.Warn("recheck: upstream failed (transient: not a takedown)", "module", u.Module.Path,
					"version", u.Module.Version, "source", u.Source, "status", status, "err", errString(rerr))
			}
			for _, ev := range events {
				switch ev.Finding {
				case FindingWithdrawn:
					res.Withdrawn++
					s.recheck.withdrawn.Add(1)
				case FindingReturned:
					res.Returned++
					s.recheck.returned.Add(1)
				case FindingOriginChanged:
					res.Moved++
					s.recheck.changed.Add(1)
				}
			}
			res.Events = append(res.Events, events...)
			if inARow >= maxFail {
				res.Aborted = true
				s.log.Error("recheck: upstream failing; pass ended early, the next starts over", "failures_in_a_row", inARow,
					"source", u.Source, "asked", res.Asked)
				s.report(ctx, &res, opts)
				return res, nil
			}
		}
		if len(page) < recheckPage {
			break
		}
		after = page[len(page)-1].Module
	}
	s.report(ctx, &res, opts)
	return res, nil
}

// report logs, audits and posts the new findings of a pass.
func (s *Scanner) report(ctx context.Context, res *RecheckResult, opts RecheckOptions) {
	for _, ev := range res.Events {
		s.upstreamEvent(ev, opts.Audit)
	}
	if len(res.Events) > 0 && s.opts.NotifyURL != "" {
		res.NotifyErr = s.notifyUpstream(ctx, res.Events)
	}
}

// upstreamEvent logs and audits one event.
func (s *Scanner) upstreamEvent(ev UpstreamEvent, audit func(*store.AuditEvent)) {
	level := s.log.Warn
	if ev.Finding == FindingReturned {
		level = s.log.Info
	}
	level("recheck: "+ev.Finding, "module", ev.Module.Path, "version", ev.Module.Version, "source", ev.Source, "detail", ev.Detail)
	if audit != nil {
		audit(UpstreamAudit(ev))
	}
}

// UpstreamAudit is the audit record of an upstream event: type upstream,
// decision withdrawn, returned or origin_changed, the detail as reason.
func UpstreamAudit(ev UpstreamEvent) *store.AuditEvent {
	dec := map[string]string{FindingWithdrawn: "withdrawn", FindingReturned: "returned", FindingOriginChanged: "origin_changed"}[ev.Finding]
	return &store.AuditEvent{Time: ev.At, Type: store.AuditUpstream, ClientIP: "modgate",
		Module: ev.Module.Path, Version: ev.Module.Version, Kind: string(ev.Kind),
		Decision: dec, Reasons: []string{ev.Finding + ": " + ev.Detail}, Source: ev.Source}
}

// recheckKind is the artifact to ask about: the .info when modgate stored it
// (it carries the Origin), else the .mod; fs.ErrNotExist when neither is
// cached.
func (s *Scanner) recheckKind(ctx context.Context, m module.Version) (store.Kind, error) {
	for _, k := range []store.Kind{store.KindInfo, store.KindMod} {
		a, err := s.st.Artifact(ctx, m, k)
		if err == nil {
			if a.Upstream == "synthesized" {
				continue // a .mod modgate made up: nothing to ask
			}
			return k, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", fs.ErrNotExist
}

type answer int

const (
	transient answer = iota
	served
	refused
)

// outcome classifies an upstream's answer: only 403, 404 and 410 say the
// upstream refuses the version; no answer, 5xx, 429 and the rest are
// transient.
func outcome(status int, err error) answer {
	switch {
	case status == http.StatusOK && err == nil:
		return served
	case status == http.StatusForbidden || status == http.StatusNotFound || status == http.StatusGone:
		return refused
	}
	return transient
}

// applyRecheck is the state of a version after the upstream answered
// (status, body, err) about its artifact of kind at now, and the findings
// that answer makes. It is pure.
func applyRecheck(cur store.UpstreamState, kind store.Kind, status int, body []byte, err error, now time.Time) (*store.UpstreamState, []UpstreamEvent) {
	next := cur
	next.CheckedAt, next.LastStatus, next.LastError = now, status, errString(err)
	var events []UpstreamEvent
	ev := func(finding, detail string) {
		events = append(events, UpstreamEvent{Module: cur.Module, Finding: finding, Detail: detail, Source: cur.Source, Kind: kind, At: now})
	}
	switch outcome(status, err) {
	case served:
		next.Failures = 0
		if !cur.WithdrawnAt.IsZero() {
			ev(FindingReturned, fmt.Sprintf("%s serves it again (it answered %d since %s)", cur.Source,
				cur.WithdrawnStatus, cur.WithdrawnAt.UTC().Format(time.RFC3339)))
			next.WithdrawnAt, next.WithdrawnStatus, next.ReturnedAt = time.Time{}, 0, now
		}
		if kind == store.KindInfo {
			if o, ok := InfoOrigin(body); ok {
				var changed bool
				var merged *store.UpstreamState
				merged, changed = store.MergeOrigin(&next, cur.Module, cur.Source, o, now)
				next = *merged
				if changed {
					ev(FindingOriginChanged, MovedDetail(&next))
				}
			}
		}
	case refused:
		next.Failures = 0
		if cur.WithdrawnAt.IsZero() {
			next.WithdrawnAt, next.WithdrawnStatus = now, status
			ev(FindingWithdrawn, fmt.Sprintf("%s now answers %d %s for the .%s it served", cur.Source,
				status, http.StatusText(status), kind))
		}
	default:
		next.Failures++
	}
	return &next, events
}

// InfoOrigin reads the Origin of a .info; false when it has none (or the
// JSON does not parse).
func InfoOrigin(info []byte) (store.Origin, bool) {
	var v struct {
		Origin *struct {
			VCS, URL, Hash, Ref string
		}
	}
	if json.Unmarshal(info, &v) != nil || v.Origin == nil {
		return store.Origin{}, false
	}
	o := store.Origin{VCS: clip(v.Origin.VCS, 16), URL: clip(v.Origin.URL, 300), Hash: clip(v.Origin.Hash, 100), Ref: clip(v.Origin.Ref, 200)}
	return o, o != (store.Origin{})
}

// clip bounds an upstream's string (hostile) to n bytes of valid text.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return string([]rune(s)) // drops a cut rune as U+FFFD at worst
}

// MovedDetail says how the origin of u moved: "v1.2.3 (refs/tags/v1.2.3) now
// points to X; modgate first saw Y".
func MovedDetail(u *store.UpstreamState) string {
	ref := ""
	if u.Moved.Ref != "" {
		ref = " (" + u.Moved.Ref + ")"
	}
	return fmt.Sprintf("%s%s now points to %s %s; it pointed to %s when modgate first saw it", u.Module.Version, ref,
		orUnknown(u.Moved.VCS), u.Moved.Hash, u.Origin.Hash)
}

func orUnknown(vcs string) string {
	if vcs == "" {
		return "revision"
	}
	return vcs + " revision"
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RecordOrigin records the Origin of a .info modgate just fetched from
// source (at ingest, or again after its copy was dropped). A different
// Origin.Hash than the one recorded is the finding "origin changed": logged,
// audited (audit, if set) and posted to the webhook; it returns that event,
// or nil.
func (s *Scanner) RecordOrigin(ctx context.Context, m module.Version, source string, info []byte, kind store.Kind, audit func(*store.AuditEvent)) (*UpstreamEvent, error) {
	o, _ := InfoOrigin(info)
	var event *UpstreamEvent
	now := s.now().UTC()
	_, err := s.st.UpdateUpstream(ctx, m, func(cur *store.UpstreamState) (*store.UpstreamState, error) {
		if cur != nil && o == (store.Origin{}) {
			return nil, nil // nothing new
		}
		next, changed := store.MergeOrigin(cur, m, source, o, now)
		event = nil
		if changed {
			event = &UpstreamEvent{Module: m, Finding: FindingOriginChanged, Detail: MovedDetail(next), Source: source, Kind: kind, At: now}
		}
		return next, nil
	})
	if err != nil || event == nil {
		return nil, err
	}
	s.upstreamEvent(*event, audit)
	if s.opts.NotifyURL != "" {
		go s.notifyUpstream(context.WithoutCancel(ctx), []UpstreamEvent{*event}) // logged there
	}
	return event, nil
}

// RunRecheck rechecks a minute after the start (or after interval, when
// shorter) and then every interval until ctx is done. Versions rechecked
// within half an interval (before a restart, by another replica) are
// skipped, so restarts do not ask the upstream again.
func (s *Scanner) RunRecheck(ctx context.Context, interval time.Duration, opts RecheckOptions) {
	opts.Skip = interval / 2
	next := min(interval, time.Minute)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
		next = interval
		res, err := s.Recheck(ctx, opts)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Error("recheck: pass failed", "err", err.Error(), "asked", res.Asked)
			continue
		}
		s.log.Info("recheck: pass done", "asked", res.Asked, "served", res.Served, "refused", res.Refused,
			"transient", res.Transient, "skipped", res.Skipped, "withdrawn", res.Withdrawn, "returned", res.Returned,
			"origin_changed", res.Moved, "aborted", res.Aborted, "duration", res.Duration)
	}
}
