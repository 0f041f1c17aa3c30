package store

import (
	"context"
	"sort"
	"time"

	"golang.org/x/mod/module"
)

// Vulns is the vulnerability side of the store: the synced copy of the Go
// vulnerability database ([VulnDB]) and what modgate knows about each version
// it has seen ([VersionFacts]).
type Vulns interface {
	VulnDB
	VersionFacts
}

// VulnFile is one file of the vulnerability database's layout as it was read
// ("index/db.json", "index/modules.json", "index/vulns.json", "ID/<id>.json").
type VulnFile struct {
	Path string // endpoint path with the .json suffix, e.g. "ID/GO-2021-0113.json"
	JSON []byte // the .json bytes
	Gzip []byte // the .json.gz bytes
}

// VulnEntry is the record of one advisory of the synced database.
type VulnEntry struct {
	ID           string
	Modified     time.Time // UTC
	Published    time.Time // UTC; zero if unknown
	Withdrawn    time.Time // UTC; zero if not withdrawn
	Aliases      []string  // CVE-…, GHSA-…; nil when none
	Summary      string
	ReviewStatus string   // "REVIEWED" or "UNREVIEWED"
	Modules      []string // module paths its affected blocks name ("stdlib", "toolchain" included)
	// JSON is the entry as read (the content of ID/<id>.json). Listings of every
	// entry leave it nil; lookups by module fill it.
	JSON []byte
}

// VulnStamp names one version of a stored entry: an entry is stored again
// (by a sync) only with another modified time.
type VulnStamp struct {
	ID       string
	Modified time.Time // UTC
}

// Stamps returns the stamp of each entry, in order.
func Stamps(entries []VulnEntry) []VulnStamp {
	out := make([]VulnStamp, len(entries))
	for i, e := range entries {
		out[i] = VulnStamp{ID: e.ID, Modified: e.Modified}
	}
	return out
}

// VulnSync is the result of one successful sync, applied at once.
type VulnSync struct {
	// Index holds the index files (db, modules, vulns) as read; each replaces
	// the stored file of its path.
	Index []VulnFile
	// Put are new and changed entries; Files their ID/<id>.json files.
	Put   []VulnEntry
	Files []VulnFile
	// Delete are ids no longer in the database.
	Delete []string
	// State is recorded as the new sync state.
	State VulnState
}

// VulnState describes the synced copy.
type VulnState struct {
	Source      string    // database URL (no password)
	DBModified  time.Time // index/db.json modified of the stored copy; zero before the first sync
	SyncedAt    time.Time // when the last successful sync ended
	AttemptedAt time.Time // when the last sync attempt ended, successful or not
	LastError   string    // error of the last attempt; "" if it succeeded
	Entries     int       // stored entries (set by the store on read)
	Refused     []string  // ids refused (corrupt) by the last successful sync
}

// VulnDB is the synced copy of the vulnerability database, shared by every
// replica.
type VulnDB interface {
	// VulnFile returns a stored file by path ("index/modules.json",
	// "ID/GO-2021-0113.json"), or fs.ErrNotExist.
	VulnFile(ctx context.Context, path string) (*VulnFile, error)
	// VulnEntries lists every stored entry without JSON, sorted by ID; empty
	// before the first sync.
	VulnEntries(ctx context.Context) ([]VulnEntry, error)
	// VulnEntriesFor returns the stored entries (with JSON) that name any of
	// the module paths in an affected block, each once, sorted by ID; empty
	// when there are none. One query for a version and its requirements.
	VulnEntriesFor(ctx context.Context, paths ...string) ([]VulnEntry, error)
	// VulnStampsFor returns the id and modified time of each entry
	// VulnEntriesFor returns for the same paths, in the same order, without
	// reading the entries: a caller that keeps the entries it parsed reads
	// again only those whose modified time changed.
	VulnStampsFor(ctx context.Context, paths ...string) ([]VulnStamp, error)
	// ApplyVulnSync stores a sync atomically: either all of it or, on error,
	// none (the previous copy stays).
	ApplyVulnSync(ctx context.Context, s *VulnSync) error
	// VulnState returns the state of the synced copy (zero values before the
	// first sync, never fs.ErrNotExist), with Entries counted.
	VulnState(ctx context.Context) (*VulnState, error)
	// RecordVulnSyncError records a failed sync attempt: AttemptedAt and
	// LastError change, the data and the rest of the state do not.
	RecordVulnSyncError(ctx context.Context, at time.Time, msg string) error
}

// Vuln is one advisory that affects a version.
type Vuln struct {
	ID           string
	Aliases      []string
	Summary      string
	ReviewStatus string    // "REVIEWED" or "UNREVIEWED"
	Withdrawn    time.Time // zero unless the advisory was withdrawn: kept for history, never counts
	Fixed        string    // the version that fixes it for this version ("v1.2.3"), "" if none
	// LearntAt is when modgate recorded the finding; AtIngest is false when it
	// was learnt later, by re-evaluation after a sync (the version may have been
	// served before it was known to be vulnerable).
	LearntAt time.Time
	AtIngest bool
}

// VulnerableRequirement is a requirement in a version's go.mod at a version
// with known vulnerabilities (informational: minimal version selection may pick
// a higher version).
type VulnerableRequirement struct {
	Module module.Version
	Vulns  []Vuln
}

// Retraction is one retract directive of a module's latest go.mod.
type Retraction struct {
	Low, High string // the closed interval [Low, High]; Low == High for one version
	Rationale string
}

// Where a publish time came from, best first.
const (
	PublishedUpstream  = "upstream-last-modified" // Last-Modified of the .mod at the upstream mirror
	PublishedFirstSeen = "first-seen"             // when modgate first saw the version
	PublishedInfo      = "info-time"              // the .info Time: commit time, may be backdated
)

// Facts are what modgate knows about one module version, computed at ingest
// and refreshed after vulnerability syncs. They are what the policy decides on.
type Facts struct {
	Module module.Version
	// Vulns are the advisories affecting the version, sorted by ID, withdrawn
	// ones included (see [Facts.Affecting]).
	Vulns []Vuln
	// Requires is the require list of the version's go.mod; VulnerableRequires
	// the ones at versions with vulnerabilities, sorted by path.
	Requires           []module.Version
	VulnerableRequires []VulnerableRequirement
	// Licenses are the SPDX ids found in the zip's license files, sorted; nil
	// when none was found. LicensesKnown is false until the zip was scanned.
	Licenses      []string
	LicensesKnown bool
	// Retracted is set when the module's latest go.mod retracts the version.
	Retracted bool
	Rationale string
	// Deprecated is set when the module's go.mod has a "// Deprecated:" comment
	// on its module directive (the latest go.mod when known).
	Deprecated  bool
	Deprecation string
	// Published is the version's publish time and PublishedSource which of
	// the Published* constants it is.
	Published       time.Time
	PublishedSource string
	// UpdatedAt is when the facts were last computed (UTC).
	UpdatedAt time.Time
	// Upstream is what modgate knows of the version at its upstream (its
	// .info Origin, a takedown, a moved tag); nil when nothing is recorded.
	// The drivers' Facts leave it nil: scanner.Scanner.Lookup reads it from
	// [Upstreams].
	Upstream *UpstreamState
}

// Affecting returns the advisories that count: Vulns without the withdrawn ones.
func (f *Facts) Affecting() []Vuln {
	var out []Vuln
	for _, v := range f.Vulns {
		if v.Withdrawn.IsZero() {
			out = append(out, v)
		}
	}
	return out
}

// Finding says that advisory VulnID affects Module, or, when Via is set, the
// requirement Via of Module's go.mod.
type Finding struct {
	Module   module.Version
	Via      module.Version // zero: Module itself
	VulnID   string
	Fixed    string
	LearntAt time.Time
	AtIngest bool
}

// Requirement is a require line of a stored version's go.mod.
type Requirement struct {
	Module   module.Version // the requiring version
	Requires module.Version
}

// ModuleNotes are per-module facts from the module's latest go.mod.
type ModuleNotes struct {
	Path          string
	LatestVersion string
	Retractions   []Retraction
	Deprecated    bool
	Deprecation   string
	UpdatedAt     time.Time
}

// VersionFacts stores per-version facts and vulnerability findings.
type VersionFacts interface {
	// PutFacts inserts or replaces the facts of f.Module, its require list and
	// its findings (f.Vulns and f.VulnerableRequires, of which only ID, Fixed,
	// LearntAt and AtIngest are stored). A finding already stored keeps its
	// LearntAt and AtIngest; stored findings not in f are removed.
	PutFacts(ctx context.Context, f *Facts) error
	// Facts returns the stored facts of m with its findings joined with the
	// stored advisories (aliases, summary, review status, withdrawn), or
	// fs.ErrNotExist. Retracted and Deprecated are as stored by PutFacts.
	Facts(ctx context.Context, m module.Version) (*Facts, error)
	// FactVersions lists the versions of path with stored facts (any order).
	FactVersions(ctx context.Context, path string) ([]string, error)
	// Dependents lists the stored versions whose go.mod requires path (any order).
	Dependents(ctx context.Context, path string) ([]Requirement, error)
	// UpdateFindings adds (keeping any stored one) and removes findings in one
	// transaction, for re-evaluation after a sync; removal matches Module, Via
	// and VulnID.
	UpdateFindings(ctx context.Context, add, remove []Finding) error
	// LearntFindings lists findings learnt by re-evaluation (AtIngest false)
	// at or after since, oldest first.
	LearntFindings(ctx context.Context, since time.Time) ([]Finding, error)
	// PutModuleNotes inserts or replaces the notes of n.Path.
	PutModuleNotes(ctx context.Context, n *ModuleNotes) error
	// ModuleNotes returns the notes of path, or fs.ErrNotExist.
	ModuleNotes(ctx context.Context, path string) (*ModuleNotes, error)
}

// Key identifies a finding: module, via and advisory.
func (f Finding) Key() string {
	return f.Module.Path + "\x00" + f.Module.Version + "\x00" + f.Via.Path + "\x00" + f.Via.Version + "\x00" + f.VulnID
}

// FactsFindings flattens the findings of f (its own and its requirements') for
// storing. Drivers use it in PutFacts.
func FactsFindings(f *Facts) []Finding {
	var out []Finding
	for _, v := range f.Vulns {
		out = append(out, Finding{Module: f.Module, VulnID: v.ID, Fixed: v.Fixed, LearntAt: v.LearntAt, AtIngest: v.AtIngest})
	}
	for _, r := range f.VulnerableRequires {
		for _, v := range r.Vulns {
			out = append(out, Finding{Module: f.Module, Via: r.Module, VulnID: v.ID, Fixed: v.Fixed, LearntAt: v.LearntAt, AtIngest: v.AtIngest})
		}
	}
	return out
}

// FactsFinding is a stored finding as drivers read it back: the advisory joined
// in, and Via zero for the version itself.
type FactsFinding struct {
	Via  module.Version
	Vuln Vuln
}

// SetFindings fills f.Vulns and f.VulnerableRequires from stored findings,
// sorted by ID and by requirement. Drivers use it in Facts.
func SetFindings(f *Facts, found []FactsFinding) {
	f.Vulns, f.VulnerableRequires = nil, nil
	idx := map[module.Version]int{}
	for _, ff := range found {
		if ff.Via == (module.Version{}) {
			f.Vulns = append(f.Vulns, ff.Vuln)
			continue
		}
		i, ok := idx[ff.Via]
		if !ok {
			i = len(f.VulnerableRequires)
			idx[ff.Via] = i
			f.VulnerableRequires = append(f.VulnerableRequires, VulnerableRequirement{Module: ff.Via})
		}
		f.VulnerableRequires[i].Vulns = append(f.VulnerableRequires[i].Vulns, ff.Vuln)
	}
	sort.Slice(f.Vulns, func(i, j int) bool { return f.Vulns[i].ID < f.Vulns[j].ID })
	sort.Slice(f.VulnerableRequires, func(i, j int) bool {
		a, b := f.VulnerableRequires[i].Module, f.VulnerableRequires[j].Module
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Version < b.Version
	})
	for _, r := range f.VulnerableRequires {
		sort.Slice(r.Vulns, func(i, j int) bool { return r.Vulns[i].ID < r.Vulns[j].ID })
	}
}
