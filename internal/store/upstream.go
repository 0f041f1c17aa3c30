package store

import (
	"context"
	"time"

	"golang.org/x/mod/module"
)

// Origin is the Origin block of a version's .info (cmd/go's
// modfetch/codehost.Origin): where the go command that built the upstream's
// copy found the version. Hash is the commit (or other VCS revision) the
// version's tag pointed to then; an author who moves the tag changes it. Every
// field is the upstream's text: hostile.
type Origin struct {
	VCS  string // "git", ...
	URL  string // repository URL
	Hash string // commit hash
	Ref  string // "refs/tags/v1.2.3"; "" for a pseudo-version
}

// UpstreamState is what modgate knows of a cached version at the upstream
// that served it: the .info Origin it served, and what the background
// recheck (scanner.Recheck) found since.
type UpstreamState struct {
	Module module.Version
	// Source is the upstream that served the version's first stored .info
	// (or .mod): a URL without password, "direct" or a file:// URL.
	Source string
	// Origin is the first Origin recorded for the version, and OriginAt when.
	// A zero Origin: the upstream's .info had none (or was never read).
	Origin   Origin
	OriginAt time.Time
	// Moved is the latest Origin whose Hash differs from Origin.Hash (the
	// tag was moved upstream: the finding "origin changed"), and MovedAt
	// when it was first seen; zero when none was seen.
	Moved   Origin
	MovedAt time.Time
	// CheckedAt is when the last recheck ended, LastStatus its HTTP status
	// (0 when no answer came: timeout, connection error) and LastError its
	// error ("" on 200). Failures counts the consecutive transient failures
	// (5xx, timeouts, ...), which never make a version withdrawn.
	CheckedAt  time.Time
	LastStatus int
	LastError  string
	Failures   int
	// WithdrawnAt is when the upstream first refused the version (403, 404
	// or 410) after serving it, WithdrawnStatus that answer; zero while the
	// upstream serves it.
	WithdrawnAt     time.Time
	WithdrawnStatus int
	// ReturnedAt is when a withdrawn version was served again (WithdrawnAt
	// is then zero again); zero if it never was.
	ReturnedAt time.Time
}

// Withdrawn reports whether the upstream refuses the version now.
func (u *UpstreamState) Withdrawn() bool { return u != nil && !u.WithdrawnAt.IsZero() }

// OriginChanged reports whether a different Origin.Hash was seen for the
// version.
func (u *UpstreamState) OriginChanged() bool { return u != nil && u.Moved.Hash != "" }

// MergeOrigin records o, an Origin the upstream source served for the
// version at time at, into cur (nil: nothing stored yet) and returns the new
// state and whether it shows the origin changed just now: the first Origin
// with a Hash becomes Origin; a later one with another Hash (and not the
// one already recorded as Moved) becomes Moved.
func MergeOrigin(cur *UpstreamState, m module.Version, source string, o Origin, at time.Time) (_ *UpstreamState, changed bool) {
	var st UpstreamState
	if cur != nil {
		st = *cur
	}
	st.Module = m
	if st.Source == "" {
		st.Source = source
	}
	switch {
	case o == (Origin{}):
	case st.Origin.Hash == "" && (o.Hash != "" || st.Origin == (Origin{})):
		st.Origin, st.OriginAt = o, at
	case o.Hash != "" && o.Hash != st.Origin.Hash && o.Hash != st.Moved.Hash:
		st.Moved, st.MovedAt = o, at
		changed = true
	}
	return &st, changed
}

// Upstreams stores what modgate knows of cached versions at their upstream.
type Upstreams interface {
	// UpstreamState returns the stored state of m, or fs.ErrNotExist.
	UpstreamState(ctx context.Context, m module.Version) (*UpstreamState, error)
	// UpdateUpstream reads the state of m (nil when none is stored) and
	// stores what fn returns, in one transaction: concurrent updates of one
	// version are serialised. fn must be quick and do no I/O; it returns nil
	// to store nothing. UpdateUpstream returns the stored state (cur when fn
	// returned nil; nil when there is none) or fn's error.
	UpdateUpstream(ctx context.Context, m module.Version, fn func(cur *UpstreamState) (*UpstreamState, error)) (*UpstreamState, error)
	// UpstreamStates returns at most limit states of versions after the
	// version after (by path, then version as text; a zero after starts at
	// the first), in that order: the pages of a recheck.
	UpstreamStates(ctx context.Context, after module.Version, limit int) ([]UpstreamState, error)
	// UpstreamFindings returns the states of versions that are withdrawn
	// upstream, came back, or whose origin changed, most recent event first,
	// at most limit.
	UpstreamFindings(ctx context.Context, limit int) ([]UpstreamState, error)
}

// NormUpstreamTimes sets the times of u in UTC, truncated to the
// microseconds the stores keep (zero times stay zero). Drivers use it for
// the state UpdateUpstream returns.
func NormUpstreamTimes(u *UpstreamState) {
	for _, t := range []*time.Time{&u.OriginAt, &u.MovedAt, &u.CheckedAt, &u.WithdrawnAt, &u.ReturnedAt} {
		if !t.IsZero() {
			*t = t.UTC().Truncate(time.Microsecond)
		}
	}
}
