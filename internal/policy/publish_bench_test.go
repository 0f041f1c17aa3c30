package policy

import (
	"testing"
	"time"

	"github.com/modgate/modgate/internal/store"
)

// BenchmarkDecideMinAge is the cost min_age adds to a decision: the
// publication time is a stored fact (read with the facts row the decision
// reads anyway) and the index's state comes with the data state, so what is
// left is this pure comparison.
//
//	go test ./internal/policy -run '^$' -bench DecideMinAge
func BenchmarkDecideMinAge(b *testing.B) {
	m := mv("example.com/m", "v1.0.0")
	data := synced
	data.Index = store.IndexState{Since: now.Add(-time.Minute), CaughtUp: true}
	dated := &store.Facts{Module: m, LicensesKnown: true, Licenses: []string{"MIT"},
		Published: now.Add(-100 * time.Hour), PublishedSource: store.PublishedIndex}
	undated := &store.Facts{Module: m, LicensesKnown: true, Licenses: []string{"MIT"},
		Published: now.Add(-100 * time.Hour), PublishedSource: store.PublishedFirstSeen}
	for _, bc := range []struct {
		name   string
		policy string
		facts  *store.Facts
	}{
		{"off", "vulnerabilities: block\n", dated},
		{"dated", "vulnerabilities: block\nmin_age: 72h\n", dated},
		{"unknown", "vulnerabilities: block\nmin_age: {age: 72h, unknown: warn}\n", undated},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := Parse("p.yaml", []byte(bc.policy))
			if err != nil {
				b.Fatal(err)
			}
			in := Input{Module: m, Facts: bc.facts, Data: data, Zip: true, Capabilities: noCaps, ZipSize: 1 << 20}
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(in, now)
			}
		})
	}
}
