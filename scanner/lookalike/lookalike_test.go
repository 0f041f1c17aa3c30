package lookalike

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMatch(t *testing.T) {
	x := NewIndex(append(Popular(), Known{Path: "example.com/internal/billing", Uses: 3}))
	type m struct{ Path, Kind, How string }
	tests := []struct {
		name, path string
		want       []m
	}{
		{"substituted letter (shopsprint, 2025)", "github.com/shopsprint/decimal",
			[]m{{"github.com/shopspring/decimal", KindEdit, "1 edit from github.com/shopspring/decimal (shopsprint for shopspring)"}}},
		{"transposed letters", "github.com/siruspen/logrus",
			[]m{{"github.com/sirupsen/logrus", KindTranspose, "github.com/sirupsen/logrus with transposed letters (siruspen for sirupsen)"}}},
		{"go affix on the owner (boltdb-go, GO-2025-3451)", "github.com/boltdb-go/bolt",
			[]m{{"github.com/boltdb/bolt", KindAffix, "github.com/boltdb/bolt with a go affix (boltdb-go for boltdb)"}}},
		{"major version suffix is not part of the comparison", "github.com/siruspen/logrus/v2",
			[]m{{"github.com/sirupsen/logrus", KindTranspose, "github.com/sirupsen/logrus with transposed letters (siruspen for sirupsen)"}}},
		{"doubled letter", "github.com/spf13/cobbra", nil}, // same owner: spf13 controls both
		{"doubled letter in the owner", "github.com/spff13/cobra",
			[]m{{"github.com/spf13/cobra", KindDoubled, "github.com/spf13/cobra with a doubled letter (spff13 for spf13)"}}},
		{"case-only twin on github.com", "github.com/Sirupsen/logrus",
			[]m{{"github.com/sirupsen/logrus", KindCase, "github.com/sirupsen/logrus in other letter case (github.com ignores case)"}}},
		{"the repository of a vanity path is its owner's", "github.com/uber-go/zap", nil},
		{"gopkg.in and its repository", "github.com/go-yaml/yaml", nil},
		{"affixes on two elements swapped: another project", "go.yaml.in/yaml/v4", nil},
		{"edit of a vanity twin's owner", "github.com/uber-g0/zap",
			[]m{{"go.uber.org/zap", KindEdit, "1 edit from go.uber.org/zap (uber-g0 for uber-go)"}}},
		{"edit of a path fetched here", "example.com/internal/biling",
			nil}, // same owner (example.com): whoever controls the domain controls both
		{"edit of a fetched path's host", "examp1e.com/internal/billing",
			[]m{{"example.com/internal/billing", KindEdit, "1 edit from example.com/internal/billing (examp1e.com for example.com)"}}},
		{"a listed module is no look-alike", "github.com/sirupsen/logrus", nil},
		{"a fork under another name", "github.com/someone/logrus", nil},
		{"short names: one edit is too common", "github.com/kr/tezt", nil},
		{"gopkg.in versions are one module", "gopkg.in/yaml.v2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []m
			for _, r := range x.Match(tt.path) {
				got = append(got, m{r.Path, r.Kind, r.How})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Match(%q) (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

// TestMatchFetchedFirst checks that a path fetched here ranks before a
// listed one, with its uses.
func TestMatchFetchedFirst(t *testing.T) {
	x := NewIndex([]Known{{Path: "github.com/shopspring/decimal", Listed: true}, {Path: "github.com/shopsprinh/decimal", Uses: 40}})
	got := x.Match("github.com/shopsprint/decimal")
	if len(got) != 2 || got[0].Path != "github.com/shopsprinh/decimal" || got[0].Uses != 40 || !got[1].Listed {
		t.Fatalf("Match = %+v, want the fetched path (40 uses) first, then the listed one", got)
	}
}

func TestOneEdit(t *testing.T) {
	tests := []struct {
		a, b, kind string
	}{
		{"github.com/shopsprint/decimal", "github.com/shopspring/decimal", KindEdit},
		{"github.com/siruspen/logrus", "github.com/sirupsen/logrus", KindTranspose},
		{"github.com/boltt/bolt", "github.com/bolt/bolt", KindDoubled},
		{"github.com/bolt/bolt", "github.com/boltt/bolt", KindDoubled},
		{"github.com/abcde/x", "github.com/abcde/x", ""},
		{"github.com/abcde/xy", "github.com/abcdexy", ""}, // a moved slash
		{"github.com/abcde/x", "github.com/edcba/x", ""},
	}
	for _, tt := range tests {
		kind, _, _, _ := oneEdit(tt.a, tt.b)
		if kind != tt.kind {
			t.Errorf("oneEdit(%q, %q) = %q, want %q", tt.a, tt.b, kind, tt.kind)
		}
	}
}

// BenchmarkMatch measures a first request's comparison against 100,000
// known paths (the list and made-up fetched paths of similar lengths).
func BenchmarkMatch(b *testing.B) {
	known := Popular()
	for i := range 100000 {
		known = append(known, Known{Path: "github.com/owner" + itoa(i%5000) + "/repository" + itoa(i), Uses: 1})
	}
	x := NewIndex(known)
	b.ResetTimer()
	for range b.N {
		x.Match("github.com/owner1234/repositorx77")
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
