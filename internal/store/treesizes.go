package store

import (
	"context"
	"time"
)

// PublishedSumDB is the publish-time source of a version dated by the
// checksum database: its record (whose index the lookup gives) was in a
// signed tree head that modgate verified and first saw at that time, so the
// version was published no later (see [TreeSizes]).
const PublishedSumDB = "checksum-database"

// TreeSize says that modgate verified a signed tree head of checksum database
// DB with Size records and first saw one that large at Seen: every record
// whose index is below Size existed at Seen.
type TreeSize struct {
	DB   string // the database's name, such as "sum.golang.org"
	Size int64
	Seen time.Time // UTC
}

// TreeSizeSpacing keeps the table of tree sizes small: a new size replaces
// the newest recorded one instead of adding a row while the row before that
// is less than this much older (see [TreeSizes.PutTreeSize]). Records are
// then dated at most this much later than the first head that held them,
// never earlier.
const TreeSizeSpacing = 10 * time.Minute

// TreeSizes records how a checksum database's log grew as modgate saw it: a
// publication-time source for every version the database vouches for.
type TreeSizes interface {
	// PutTreeSize records ts unless a size at least as large is recorded for
	// ts.DB (nothing new). When the newest recorded row's predecessor is
	// less than [TreeSizeSpacing] older than ts.Seen, the newest row is
	// replaced by ts (its records are dated later, never earlier);
	// otherwise ts is added.
	PutTreeSize(ctx context.Context, ts TreeSize) error
	// TreeSizeCovering returns the smallest recorded size of db above index:
	// its Seen is when modgate first saw a tree holding record index (the
	// earliest such time when sizes were recorded in order; a later one
	// otherwise). fs.ErrNotExist when no recorded size is above index.
	TreeSizeCovering(ctx context.Context, db string, index int64) (TreeSize, error)
}
