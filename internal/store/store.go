// Package store names the contract of modgate's database: record types and small
// role interfaces, implemented by internal/store/sqlite (the embedded default) and
// internal/store/postgres (fleets of replicas sharing one database), and checked by
// the one conformance suite in internal/store/storetest.
//
// Artifact bytes do not live here for zips: internal/blob holds them, content
// addressed by SHA-256, and the store keeps the key with the artifact's record.
//
// Every method is safe for concurrent use. "Not found" is reported as an error
// for which errors.Is(err, fs.ErrNotExist) is true; nothing else means absent.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/module"
)

// ErrNoSpace marks a write the database refused because its disk (or quota)
// is full: errors.Is(err, ErrNoSpace). It is the operator's to fix, not the
// client's or an upstream's.
var ErrNoSpace = errors.New("database disk full")

// Kind is the kind of an immutable artifact of a module version.
type Kind string

// The artifact kinds of the GOPROXY protocol that are immutable per version.
const (
	KindInfo Kind = "info" // <module>/@v/<version>.info, JSON {Version, Time, ...}
	KindMod  Kind = "mod"  // <module>/@v/<version>.mod, the go.mod file
	KindZip  Kind = "zip"  // <module>/@v/<version>.zip, the module zip
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool { return k == KindInfo || k == KindMod || k == KindZip }

// Artifact is the record of one immutable file of a module version. Once stored it
// never changes: a second PutArtifact for the same (Module, Kind) keeps the first.
type Artifact struct {
	Module module.Version // canonical path and version
	Kind   Kind
	// SHA256 is the lower-case hex SHA-256 of the bytes. For a zip it is also the
	// key of the bytes in the blob store.
	SHA256 string
	Size   int64
	// Data holds the bytes of small artifacts (info and mod) inline. It is nil for
	// zips, whose bytes live in the blob store under SHA256.
	Data []byte
	// Upstream names the source that served the bytes (a URL with any password
	// removed, "direct", or a file:// URL). Informational.
	Upstream string
	// CreatedAt is when the artifact was first stored (UTC, set by the store if zero).
	CreatedAt time.Time
}

// Validate reports whether a is a record the store may keep: a module path and
// version, a known kind, a SHA-256 in lower-case hex, a size that matches any
// inline data, and no inline data for a zip.
func (a *Artifact) Validate() error {
	switch {
	case a.Module.Path == "" || a.Module.Version == "":
		return errors.New("empty module path or version")
	case !a.Kind.Valid():
		return fmt.Errorf("invalid kind %q", a.Kind)
	case !isSHA256(a.SHA256):
		return fmt.Errorf("invalid SHA256 %q: want 64 lower-case hex digits", a.SHA256)
	case a.Size < 0:
		return fmt.Errorf("negative size %d", a.Size)
	case a.Data != nil && int64(len(a.Data)) != a.Size:
		return fmt.Errorf("size %d but %d bytes of data", a.Size, len(a.Data))
	case a.Kind == KindZip && a.Data != nil:
		return errors.New("zip with inline data: zips live in the blob store")
	}
	return nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Artifacts stores immutable artifacts.
type Artifacts interface {
	// Artifact returns the stored artifact of m of kind k, or an error satisfying
	// errors.Is(err, fs.ErrNotExist) when there is none.
	Artifact(ctx context.Context, m module.Version, k Kind) (*Artifact, error)
	// PutArtifact stores a unless an artifact of the same module, version and kind
	// already exists, and returns the stored one (the first writer wins; a later
	// writer gets the earlier record back, whose bytes may differ from a.Data).
	PutArtifact(ctx context.Context, a *Artifact) (*Artifact, error)
	// EachArtifact calls fn for every stored artifact (without its inline data),
	// ordered by module path, version and kind, until fn returns an error (which
	// it returns).
	EachArtifact(ctx context.Context, fn func(*Artifact) error) error
	// DropArtifact removes the record of m of kind k if its SHA256 is still
	// sha256 (the bytes it names failed their integrity check), so that the next
	// request fetches the artifact again. A record that is gone or names other
	// bytes (stored again meanwhile) is left alone; neither is an error.
	DropArtifact(ctx context.Context, m module.Version, k Kind, sha256 string) error
}

// MetaKind names a mutable per-module answer that is cached with a TTL.
type MetaKind string

// The mutable answers of the protocol.
const (
	MetaList   MetaKind = "list"   // <module>/@v/list
	MetaLatest MetaKind = "latest" // <module>/@latest
)

// Meta is a cached, mutable answer for a module path: its body as served and when
// it was fetched from upstream.
type Meta struct {
	Path      string
	Kind      MetaKind
	Data      []byte
	FetchedAt time.Time // UTC
}

// Metadata caches the mutable answers (lists and latest) for stale-if-error.
type Metadata interface {
	// Meta returns the cached answer, or an error satisfying
	// errors.Is(err, fs.ErrNotExist).
	Meta(ctx context.Context, path string, kind MetaKind) (*Meta, error)
	// PutMeta inserts or replaces the cached answer for (m.Path, m.Kind).
	PutMeta(ctx context.Context, m *Meta) error
}

// Tiles caches checksum-database tiles, which are immutable once published.
// db is the checksum database's name (e.g. "sum.golang.org"); path is the tile's
// path below it (e.g. "tile/8/0/x001/234.p/5").
type Tiles interface {
	// Tile returns the cached tile, or an error satisfying errors.Is(err, fs.ErrNotExist).
	Tile(ctx context.Context, db, path string) ([]byte, error)
	// PutTile stores a tile; storing an existing tile again is not an error and
	// keeps the first copy.
	PutTile(ctx context.Context, db, path string, data []byte) error
}

// Locker serialises work on one key across every process that shares the database
// (PostgreSQL advisory locks; the embedded database serves one process only, so
// there it is an in-process lock).
type Locker interface {
	// Lock blocks until it holds the exclusive lock named key, or ctx is done (then
	// it returns ctx's error and holds nothing). The caller must call unlock exactly
	// once; unlock never fails from the caller's point of view (a lock whose
	// connection broke is released by the database).
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// Store is everything a modgate process needs from its database.
type Store interface {
	Artifacts
	Metadata
	Tiles
	Locker
	Leases
	Vulns
	Advisories
	Sums
	SumDBState
	Audit
	AuditSpools
	AuditCheckpoints
	SBOMs
	Exemptions
	Tokens
	AuthFailures
	ModuleIndex
	TreeSizes
	Capabilities
	Resemblance
	Upstreams
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database. No method may be called after it.
	Close() error
}
