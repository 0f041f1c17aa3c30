package store

import (
	"context"
	"strings"
	"time"
)

// IsMalware reports whether an advisory records malicious code rather than a
// vulnerability: its id, or one of its aliases, is an OSV malicious-packages
// id ("MAL-..."). That is how the OpenSSF malicious-packages data and osv.dev
// name every malware record. The Go vulnerability database's own entries
// (GO-...) are vulnerabilities even when their text says "malicious" (as
// GO-2025-3451 does), unless they alias a MAL- record.
func IsMalware(id string, aliases []string) bool {
	if strings.HasPrefix(id, "MAL-") {
		return true
	}
	for _, a := range aliases {
		if strings.HasPrefix(a, "MAL-") {
			return true
		}
	}
	return false
}

// AdvisoryState describes one advisory feed's stored copy.
type AdvisoryState struct {
	Source      string    // feed URL (no password)
	SyncedAt    time.Time // when the last successful sync ended; zero before the first
	AttemptedAt time.Time // when the last attempt ended
	LastError   string    // the last attempt's error; "" if it succeeded
	Entries     int       // stored records of the feed (set by the store on read)
	Refused     []string  // files the last successful sync refused
}

// AdvisorySync is one successful sync of a feed, applied at once.
type AdvisorySync struct {
	Source string
	// Put are new and changed records, with JSON; their Modules are the
	// module paths as written. Keys are the module keys to index each record
	// under (by position in Put).
	Put  []VulnEntry
	Keys [][]string
	// Delete are ids of the feed's records no longer in it.
	Delete []string
	State  AdvisoryState
}

// Advisories is the store of the OSV records of feeds beside the Go
// vulnerability database (--advisories): malware records and other advisories.
// A record id belongs to one feed. Findings of these records live with the
// others ([VersionFacts]): [VersionFacts.Facts] joins them in like the
// database's own entries.
type Advisories interface {
	// AdvisoryEntries lists the records of a feed without JSON, sorted by ID;
	// empty when there are none.
	AdvisoryEntries(ctx context.Context, source string) ([]VulnEntry, error)
	// AdvisoryEntriesFor returns every feed's records (with JSON) indexed
	// under any of the module keys, each once, sorted by ID; empty when there
	// are none. One query for a version and its requirements.
	AdvisoryEntriesFor(ctx context.Context, keys ...string) ([]VulnEntry, error)
	// AdvisoryStampsFor returns the id and modified time of each record
	// AdvisoryEntriesFor returns for the same keys, in the same order,
	// without reading the records (see [VulnDB.VulnStampsFor]).
	AdvisoryStampsFor(ctx context.Context, keys ...string) ([]VulnStamp, error)
	// AdvisoryEntry returns a feed's record (with JSON) by id, or
	// fs.ErrNotExist.
	AdvisoryEntry(ctx context.Context, id string) (*VulnEntry, error)
	// ApplyAdvisorySync stores a feed's sync atomically: all of it or, on
	// error, none (the previous copy stays). A record whose id another feed
	// stored first is left to that feed.
	ApplyAdvisorySync(ctx context.Context, s *AdvisorySync) error
	// AdvisoryStates returns the state of every feed ever synced or
	// attempted, sorted by source, with Entries counted.
	AdvisoryStates(ctx context.Context) ([]AdvisoryState, error)
	// RecordAdvisorySyncError records a failed attempt of a feed: AttemptedAt
	// and LastError change, its data and the rest of its state do not.
	RecordAdvisorySyncError(ctx context.Context, source string, at time.Time, msg string) error
	// FactPathsFold lists the module paths with stored facts whose lower-case
	// form is lower (for records of case-insensitive hosts), any order.
	FactPathsFold(ctx context.Context, lower string) ([]string, error)
	// DependentsFold lists the stored versions whose go.mod requires a path
	// whose lower-case form is lower, Requires spelled as the go.mod spells
	// it (for records of case-insensitive hosts: a record for
	// github.com/Evil/X reaches a go.mod requiring github.com/evil/x), any
	// order.
	DependentsFold(ctx context.Context, lower string) ([]Requirement, error)
}
