package store

import (
	"context"
	"time"

	"golang.org/x/mod/module"
)

// PublishedIndex is the publish-time source of a version listed by the module
// index feed (index.golang.org): when the public mirror first served it.
const PublishedIndex = "module-index"

// PublishedTrusted reports whether a publish time from src is one an author
// cannot set: the module index's Timestamp, the upstream mirror's
// Last-Modified, or the checksum database's tree that first held the
// version's record as modgate saw it ([PublishedSumDB]). The time modgate
// first saw a version and the .info Time (the commit time, which an author
// can backdate) are not.
func PublishedTrusted(src string) bool {
	return src == PublishedIndex || src == PublishedUpstream || src == PublishedSumDB
}

// BetterPublished reports whether a publish time t from src should replace
// the recorded one (cur from curSrc): a trusted time replaces an untrusted
// one, and the earlier of two trusted times wins (the version was public at
// both); between untrusted times the best source, then the earlier time,
// wins. A zero t never replaces; a zero cur always is replaced.
func BetterPublished(cur time.Time, curSrc string, t time.Time, src string) bool {
	switch {
	case t.IsZero():
		return false
	case cur.IsZero():
		return true
	case PublishedTrusted(src) != PublishedTrusted(curSrc):
		return PublishedTrusted(src)
	case PublishedTrusted(src):
		return t.Before(cur)
	case src != curSrc:
		// Untrusted: first-seen beats the .info time (which may be backdated).
		return src == PublishedFirstSeen
	}
	return t.Before(cur)
}

// BetterPublishedSQL is [BetterPublished] as the assignments of an upsert
// into version_facts (both drivers' PutFacts): the new publication time
// (excluded) replaces the stored one only where BetterPublished would say
// so. Facts are computed from what was read before they are written: a module
// index page (or another fetch) that dated the version in between must not be
// undone by an older reading.
var BetterPublishedSQL = func() string {
	const (
		t, src       = "excluded.published_at", "excluded.published_source"
		cur, curSrc  = "version_facts.published_at", "version_facts.published_source"
		trustedNames = "('" + PublishedIndex + "', '" + PublishedUpstream + "', '" + PublishedSumDB + "')"
	)
	trusted := func(col string) string { return col + " IN " + trustedNames }
	better := "(" + t + " IS NOT NULL AND (" + cur + " IS NULL" +
		" OR (" + trusted(src) + " AND (NOT " + trusted(curSrc) + " OR " + t + " < " + cur + "))" +
		" OR (NOT " + trusted(src) + " AND NOT " + trusted(curSrc) + " AND (" +
		src + " = '" + PublishedFirstSeen + "' AND " + curSrc + " <> '" + PublishedFirstSeen + "'" +
		" OR " + src + " = " + curSrc + " AND " + t + " < " + cur + "))))"
	return "published_at = CASE WHEN " + better + " THEN " + t + " ELSE " + cur + " END,\n\t" +
		"published_source = CASE WHEN " + better + " THEN " + src + " ELSE " + curSrc + " END"
}()

// IndexEntry is one line of the module index feed: the public mirror first
// served Module at Timestamp.
type IndexEntry struct {
	Module    module.Version
	Timestamp time.Time
}

// IndexState is how far the module index feed has been followed.
type IndexState struct {
	// Source is the feed's URL.
	Source string
	// Since is the Timestamp of the newest entry stored: the feed has been
	// read up to it, and the next page starts there. Zero: nothing read yet.
	Since time.Time
	// Entries is how many entries were stored in all.
	Entries int64
	// ReadAt is when a page was last read successfully, and CaughtUp whether
	// that page was the feed's last (shorter than asked for).
	ReadAt   time.Time
	CaughtUp bool
	// AttemptedAt is when the last read ended and LastError its error, ""
	// when it succeeded.
	AttemptedAt time.Time
	LastError   string
}

// ModuleIndex stores the module index feed and how far it was followed.
type ModuleIndex interface {
	// PutIndexPage stores entries and st in one transaction. An entry for a
	// version already stored keeps the earlier Timestamp. The stored facts of
	// each entry's version take the entry's Timestamp as their publish time
	// (source PublishedIndex) where [BetterPublished] says so.
	PutIndexPage(ctx context.Context, entries []IndexEntry, st IndexState) error
	// PutIndexState saves st alone (a failed read).
	PutIndexState(ctx context.Context, st IndexState) error
	// IndexState returns the saved state; the zero IndexState when none was
	// ever saved.
	IndexState(ctx context.Context) (IndexState, error)
	// IndexTime returns the stored Timestamp of m, or fs.ErrNotExist.
	IndexTime(ctx context.Context, m module.Version) (time.Time, error)
	// FixedBy lists the stored findings of versions of m.Path (their own,
	// not their requirements') whose advisory is fixed in m.Version and not
	// withdrawn: the versions this organisation fetched that m fixes (for
	// min_age's fast lane). Any order; none is an empty list.
	FixedBy(ctx context.Context, m module.Version) ([]Finding, error)
}

// PublishedKnown reports whether f's publish time comes from a trusted
// source (see [PublishedTrusted]); otherwise the publication time is unknown
// and Published, if set, is only when modgate first saw the version or the
// author's claim.
func (f *Facts) PublishedKnown() bool {
	return !f.Published.IsZero() && PublishedTrusted(f.PublishedSource)
}
