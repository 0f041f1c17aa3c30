package sbom

import (
	"encoding/json"
	"time"
)

// PublishTime is the publication time an SBOM states for a version (SPDX
// releaseDate): upstream, the trusted publish time modgate recorded (the
// module index's, or its upstream mirror's Last-Modified: see
// store.PublishedTrusted; zero when it has none), else the Time of the version's
// .info file (info: its bytes, nil when not stored), else zero: unknown,
// and left out of the document. The time modgate first saw a version is
// never a publication time, so callers pass none.
func PublishTime(upstream time.Time, info []byte) time.Time {
	if !upstream.IsZero() {
		return upstream.UTC()
	}
	var i struct {
		Time time.Time
	}
	if len(info) == 0 || json.Unmarshal(info, &i) != nil || i.Time.IsZero() {
		return time.Time{}
	}
	return i.Time.UTC()
}
