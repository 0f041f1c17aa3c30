package store

import (
	"context"
	"errors"
	"time"
)

// ErrLeaseLost is returned for a fetch lease that is no longer in force: its
// holder let it expire and another took it over (a newer generation), or it
// was completed or released. Nothing was written. errors.Is(err, ErrLeaseLost).
var ErrLeaseLost = errors.New("fetch lease lost: it expired and another holder took it over")

// Lease is a claim on one upstream fetch (one artifact of a module version),
// held by one process for a time: the fleet's way to fetch each artifact once.
type Lease struct {
	Key string
	// Generation grows with every take, across keys and takeovers; it fences a
	// holder that was taken over, so it can no longer complete or renew.
	Generation int64
	// Holder names the process (host, pid) for operators; informational.
	Holder string
	// Expires is when the lease may be taken over unless renewed (the store's
	// clock: the database's, for PostgreSQL).
	Expires time.Time
}

// LeaseResult is what a lease holder found upstream, recorded when it
// completes the lease.
type LeaseResult struct {
	// Artifact, if not nil, is stored as by [Artifacts.PutArtifact] (the first
	// writer wins).
	Artifact *Artifact
	// Missing, if not empty, records that upstream answered "not found" in
	// these words, remembered for MissingTTL so that nobody asks again meanwhile.
	Missing    string
	MissingTTL time.Duration
}

// Leases coordinates upstream fetches across every process that shares the
// database (PostgreSQL: lease rows with a TTL, a heartbeat, and NOTIFY/LISTEN;
// the embedded database serves one process, so there the same rows coordinate
// goroutines). No database connection is held for a lease.
//
// A fetcher watches the key, checks the cache, takes the lease and fetches; a
// process that finds the lease held waits for the watch to fire (or polls)
// and checks again. A holder renews the lease while it works and completes it
// with its result; a holder that stopped (killed, hung) is taken over once its
// lease expires, and when it resumes its generation no longer matches, so it
// can write nothing.
type Leases interface {
	// TakeLease takes the lease named key for ttl when nobody holds it or its
	// holder let it expire. It returns (nil, nil) while another holder's lease
	// is in force.
	TakeLease(ctx context.Context, key, holder string, ttl time.Duration) (*Lease, error)
	// RenewLease extends l to ttl from now (the holder's heartbeat), also after it
	// expired if nobody took it over. ErrLeaseLost if l is no longer in force.
	RenewLease(ctx context.Context, l *Lease, ttl time.Duration) error
	// CompleteLease ends l with its result in one transaction: the artifact
	// stored (first writer wins) or the miss recorded, the lease row deleted,
	// and every watcher of the key, in every process, woken. It returns the
	// stored artifact (the earlier one when another writer won; nil for a
	// miss). If l is no longer in force it writes nothing and returns
	// ErrLeaseLost.
	CompleteLease(ctx context.Context, l *Lease, r LeaseResult) (*Artifact, error)
	// ReleaseLease gives l up without a result (the fetch failed in a way not
	// worth remembering) and wakes the key's watchers. A lease no longer in
	// force is left alone; neither is an error.
	ReleaseLease(ctx context.Context, l *Lease) error
	// Missing returns the words of the "not found" recorded for key while it is
	// in force, or an error satisfying errors.Is(err, fs.ErrNotExist).
	Missing(ctx context.Context, key string) (string, error)
	// WatchLease returns a channel that receives when the lease named key is
	// completed or released by any process, until stop is called (stop must be
	// called exactly once). Watch before checking and taking, so that no end is
	// missed. Delivery is best effort (a broken notification connection drops
	// some): wait with a timeout and check again.
	WatchLease(ctx context.Context, key string) (ch <-chan struct{}, stop func())
}
