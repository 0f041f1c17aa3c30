package sbom

import (
	"encoding/json"
	"time"
)

// The sources of a publication time, as modgate's store names them
// (store.Published*); sbom does not import the store.
const (
	SourceIndex    = "module-index"
	SourceUpstream = "upstream-last-modified"
	SourceSumDB    = "checksum-database"
	SourceInfo     = "info-time"
)

// PublishTime is the publication time an SBOM states for a version (SPDX
// releaseDate) and its source: upstream, the trusted publish time modgate
// recorded (the module index's, its upstream mirror's Last-Modified, or the
// checksum database's upper bound: see store.PublishedTrusted; zero when it
// has none) with upstreamSource, its source; else the Time of the version's
// .info file (info: its bytes, nil when not stored), source [SourceInfo];
// else zero and "": unknown, and left out of the document. The time modgate
// first saw a version is never a publication time, so callers pass none.
func PublishTime(upstream time.Time, upstreamSource string, info []byte) (time.Time, string) {
	if !upstream.IsZero() {
		return upstream.UTC(), upstreamSource
	}
	var i struct {
		Time time.Time
	}
	if len(info) == 0 || json.Unmarshal(info, &i) != nil || i.Time.IsZero() {
		return time.Time{}, ""
	}
	return i.Time.UTC(), SourceInfo
}

// describeSource says in words where a releaseDate came from.
func describeSource(src string) string {
	switch src {
	case SourceIndex:
		return "the Go module index (when the public mirror first served this version)"
	case SourceUpstream:
		return "the upstream mirror's Last-Modified (when it first served this version)"
	case SourceSumDB:
		return "the checksum database: published no later than this (its record was in a signed tree head modgate first saw then)"
	case SourceInfo:
		return "the version's .info Time (the commit time, which the author sets)"
	}
	return src
}
