package store

import (
	"strings"
	"testing"
	"time"
)

// TestAuditHashGolden pins the audit chain's hash encoding: every record
// stored so far was hashed with it, so any change breaks `modgate audit
// verify` on existing logs. The want values were computed by the encoding
// as first released (hash.Hash writes per field).
func TestAuditHashGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		e    AuditEvent
		want string
	}{
		{"empty", AuditEvent{}, "d056210aad7d8592594c2615172275b1e034ca11ad398ee18741569746d0d53f"},
		{"full", AuditEvent{Seq: 42, Time: time.Date(2026, 12, 2, 4, 5, 6, 789012000, time.UTC), Type: AuditFetch,
			ClientToken: "ci", ClientIP: "10.1.2.3", UserAgent: "Go-http-client/1.1", Module: "example.com/mod",
			Version: "v1.2.3", Kind: "zip", Decision: DecisionServed, Reasons: []string{"warn vulnerabilities: GO-2024-0001", ""},
			Source: "cache", Bytes: 1025455, Duration: 1500 * time.Microsecond, SBOM: "sbom-1",
			PrevHash: strings.Repeat("ab", 32)}, "feec59932a29c622a51f5688a3988d5bd956416ad660fddfe31b4320375855da"},
		{"long", AuditEvent{Seq: 1, Reasons: []string{strings.Repeat("é", 400)}, UserAgent: strings.Repeat("x", 1000)}, "fbe0307f6eefa54644725c33e2564937648121f8890050d1bfded301ccbcf840"},
	} {
		if got := AuditHash(&c.e); got != c.want {
			t.Errorf("%s: AuditHash = %s, want %s", c.name, got, c.want)
		}
	}
}

func BenchmarkAuditHash(b *testing.B) {
	e := AuditEvent{Seq: 42, Time: time.Now(), Type: AuditFetch, ClientIP: "127.0.0.1", UserAgent: "Go-http-client/1.1",
		Module: "github.com/example/mod", Version: "v1.2.3", Kind: "info", Decision: DecisionServed, Source: "cache",
		Bytes: 150, Duration: time.Millisecond, PrevHash: strings.Repeat("ab", 32)}
	b.ReportAllocs()
	for b.Loop() {
		AuditHash(&e)
	}
}
