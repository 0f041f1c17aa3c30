package audit

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// hostileStrings are strings encoding/json escapes in every way it can.
var hostileStrings = []string{"", "plain", `quote"`, `back\slash`, "nl\nnul\x00tab\tcr\r\b\f\x1f", "<script>&amp;</script>",
	"line\u2028sep\u2029", "bad\xffutf8\xc3", "é…日本🙂", "\x7f del", strings.Repeat("a", 1000) + "\"", "'; DROP TABLE audit_log; --"}

func spooledFrom(rng *rand.Rand, pick func() string) *spooled {
	r := &spooled{N: rng.Int64N(1 << 40), Time: time.Unix(rng.Int64N(1<<33), rng.Int64N(1e9)).UTC(),
		Type: pick(), ClientToken: pick(), ClientIP: pick(), UserAgent: pick(), Module: pick(), Version: pick(),
		Kind: pick(), Decision: pick(), Source: pick(), SBOM: pick()}
	if rng.IntN(3) > 0 {
		r.Bytes = rng.Int64N(1<<40) - 1<<20
	}
	if rng.IntN(3) > 0 {
		r.DurationNS = rng.Int64N(1 << 40)
	}
	switch rng.IntN(3) {
	case 0:
		r.Reasons = nil
	case 1:
		r.Reasons = []string{}
	default:
		for range rng.IntN(4) + 1 {
			r.Reasons = append(r.Reasons, pick())
		}
	}
	return r
}

func checkSameJSON(t *testing.T, r *spooled) {
	t.Helper()
	want, werr := json.Marshal(r)
	got, gerr := r.appendJSON(nil)
	if (werr != nil) != (gerr != nil) || werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("appendJSON = %s (%v)\njson.Marshal = %s (%v)", got, gerr, want, werr)
	}
}

// A spool line is the bytes json.Marshal writes, so that a spool written by
// any modgate replays the same: over every escape, random bytes and random
// text, and the times json refuses.
func TestSpooledAppendJSONIsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var pick func() string
		switch i % 3 {
		case 0:
			pick = func() string { return hostileStrings[rng.IntN(len(hostileStrings))] }
		case 1: // random bytes, mostly invalid UTF-8
			pick = func() string {
				b := make([]byte, rng.IntN(12))
				for j := range b {
					b[j] = byte(rng.IntN(256))
				}
				return string(b)
			}
		default: // random runes, valid UTF-8
			pick = func() string {
				var sb strings.Builder
				for range rng.IntN(12) {
					sb.WriteRune(rune(rng.IntN(0x30000)))
				}
				return sb.String()
			}
		}
		checkSameJSON(t, spooledFrom(rng, pick))
	}
	for _, tm := range []time.Time{{}, time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 2, 17, 0, 0, 0, time.FixedZone("x", 3600))} {
		checkSameJSON(t, &spooled{N: 1, Time: tm, Type: "fetch"})
	}
}

func FuzzSpooledAppendJSON(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s, s, int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, a, b string, n int64) {
		if !utf8.ValidString(a) && len(a) > 64 {
			a = a[:64]
		}
		checkSameJSON(t, &spooled{N: n, Time: time.Unix(n%(1<<34), 0).UTC(), Type: a, UserAgent: b, Decision: a,
			Reasons: []string{a, b}, Bytes: n, DurationNS: -n, SBOM: b})
	})
}

// go test ./internal/audit -run '^$' -bench SpoolLine -benchmem
func BenchmarkSpoolLine(b *testing.B) {
	r := &spooled{N: 244631, Time: time.Date(2026, 12, 2, 16, 8, 40, 134360000, time.UTC), Type: "fetch",
		ClientIP: "127.0.0.1", UserAgent: "Go-http-client/1.1", Module: "google.golang.org/grpc", Version: "v1.23.0",
		Kind: "info", Decision: "served", Source: "cache", Bytes: 51, DurationNS: 3094,
		// the reasons of a real record of a bench run (modgate's own words)
		Reasons: []string{"block vulnerabilities: GO-2023-2153 (GHSA-m425-mq94-257g): Denial of service from HTTP/2 Rapid Reset in google.golang.org/grpc; fixed in v1.56.3",
			"warn capabilities.binaries: programs in the zip: xds/internal/regenerate_scripts/envoy-proto-gen.sh (script (#!)), xds/internal/regenerate_scripts/utils/cleanup.sh (script (#!)); not in v1.21.1"}}
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Marshal(r)
		}
	})
	b.Run("appendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = r.appendJSON(buf[:0])
		}
	})
}
