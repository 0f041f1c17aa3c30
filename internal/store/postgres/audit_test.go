package postgres_test

import (
	"testing"

	"github.com/modgate/modgate/internal/store/storetest"
	"github.com/modgate/modgate/internal/testkit"
)

// TestAuditAcrossReplicas appends from many goroutines through two stores on
// one database, as two replicas do: the records form one gapless chain.
func TestAuditAcrossReplicas(t *testing.T) {
	dsn := testkit.PostgresDSN(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	storetest.AuditConcurrentAppend(t, a, b)
}
