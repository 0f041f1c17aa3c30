package vulndb

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func entry(path string, ranges ...Range) *Entry {
	return &Entry{ID: "GO-0000-0001", Affected: []Affected{{Package: Package{Name: path, Ecosystem: "Go"}, Ranges: ranges}}}
}

func semverRange(events ...Event) Range { return Range{Type: "SEMVER", Events: events} }

func intro(v string) Event { return Event{Introduced: v} }
func fixed(v string) Event { return Event{Fixed: v} }

func TestAffects(t *testing.T) {
	const m = "example.com/m"
	tests := []struct {
		name    string
		e       *Entry
		path    string
		version string
		want    bool
	}{
		{"below fix", entry(m, semverRange(intro("0"), fixed("0.3.7"))), m, "v0.3.5", true},
		{"at fix", entry(m, semverRange(intro("0"), fixed("0.3.7"))), m, "v0.3.7", false},
		{"above fix", entry(m, semverRange(intro("0"), fixed("0.3.7"))), m, "v0.4.0", false},
		{"other module", entry(m, semverRange(intro("0"), fixed("0.3.7"))), m + "/v2", "v2.0.0", false},
		{"case sensitive", entry(m, semverRange(intro("0"))), "example.com/M", "v1.0.0", false},
		{"no fix: every later version", entry(m, semverRange(intro("1.2.0"))), m, "v9.9.9", true},
		{"no fix: before introduced", entry(m, semverRange(intro("1.2.0"))), m, "v1.1.9", false},
		{"no ranges: every version", entry(m), m, "v0.0.1", true},
		{"only non-SEMVER ranges: every version", entry(m, Range{Type: "GIT", Events: []Event{intro("0"), fixed("abc")}}), m, "v2.0.0", true},
		{"empty events: every version", entry(m, semverRange()), m, "v2.0.0", true},
		{"pre-release below release fix", entry(m, semverRange(intro("0"), fixed("1.2.0"))), m, "v1.2.0-rc.1", true},
		{"pre-release introduced", entry(m, semverRange(intro("1.2.0-0"), fixed("1.2.1"))), m, "v1.2.0-beta.1", true},
		{"pseudo-version below pseudo fix", entry(m, semverRange(intro("0"), fixed("0.0.0-20220906165146-f3363e06e74c"))), m, "v0.0.0-20220101000000-aaaaaaaaaaaa", true},
		{"pseudo-version above pseudo fix", entry(m, semverRange(intro("0"), fixed("0.0.0-20220906165146-f3363e06e74c"))), m, "v0.0.0-20230101000000-aaaaaaaaaaaa", false},
		{"pseudo-version is a pre-release of the next version", entry(m, semverRange(intro("0"), fixed("1.2.4"))), m, "v1.2.4-0.20230101000000-aaaaaaaaaaaa", true},
		{"release above pseudo fix", entry(m, semverRange(intro("0"), fixed("0.0.0-20220906165146-f3363e06e74c"))), m, "v0.1.0", false},
		{"+incompatible below fix", entry(m, semverRange(intro("0"), fixed("10.4.0-rc1+incompatible"))), m, "v9.0.0+incompatible", true},
		{"+incompatible at fix", entry(m, semverRange(intro("0"), fixed("10.4.0+incompatible"))), m, "v10.4.0+incompatible", false},
		{"+incompatible event, plain version", entry(m, semverRange(intro("0"), fixed("5.0.0+incompatible"))), m, "v4.0.0", true},
		{"re-opened range", entry(m, semverRange(intro("0"), fixed("1.0.0"), intro("1.5.0"), fixed("1.6.0"))), m, "v1.2.0", false},
		{"re-opened range inside", entry(m, semverRange(intro("0"), fixed("1.0.0"), intro("1.5.0"), fixed("1.6.0"))), m, "v1.5.3", true},
		{"unsorted events", entry(m, semverRange(fixed("1.6.0"), intro("1.5.0"), fixed("1.0.0"), intro("0"))), m, "v1.5.3", true},
		{"second range", entry(m, semverRange(intro("0"), fixed("1.0.0")), semverRange(intro("2.0.0"), fixed("2.1.0"))), m, "v2.0.5", true},
		{"empty version", entry(m), m, "", false},
		{"devel", entry(m), m, "(devel)", false},
		{"invalid version", entry(m), m, "1.0.0", false},
		{"stdlib", entry(Stdlib, semverRange(intro("1.21.0-0"), fixed("1.21.4"))), Stdlib, GoSemver("go1.21rc2"), true},
		{"stdlib fixed", entry(Stdlib, semverRange(intro("1.21.0-0"), fixed("1.21.4"))), Stdlib, GoSemver("go1.21.4"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Affects(tt.path, tt.version); got != tt.want {
				t.Errorf("Affects(%q, %q) = %v, want %v", tt.path, tt.version, got, tt.want)
			}
		})
	}
}

func TestFixedIn(t *testing.T) {
	const m = "example.com/m"
	tests := []struct {
		name    string
		e       *Entry
		version string
		want    string
	}{
		{"one fix", entry(m, semverRange(intro("0"), fixed("0.3.7"))), "v0.3.5", "v0.3.7"},
		{"lowest fix above", entry(m, semverRange(intro("0"), fixed("1.0.0"), intro("1.5.0"), fixed("1.6.0"))), "v0.5.0", "v1.0.0"},
		{"later branch", entry(m, semverRange(intro("0"), fixed("1.0.0"), intro("1.5.0"), fixed("1.6.0"))), "v1.5.1", "v1.6.0"},
		{"re-opened fix skipped", entry(m, semverRange(intro("0"), fixed("1.0.0")), semverRange(intro("1.0.0"), fixed("2.0.0"))), "v0.5.0", "v2.0.0"},
		{"never fixed", entry(m, semverRange(intro("0"))), "v1.0.0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.FixedIn(m, tt.version); got != tt.want {
				t.Errorf("FixedIn(%q) = %q, want %q", tt.version, got, tt.want)
			}
		})
	}
}

func TestGoSemver(t *testing.T) {
	tests := map[string]string{
		"go1.21.3": "v1.21.3", "go1.21": "v1.21.0", "go1.21rc2": "v1.21.0-rc.2", "go1.21beta1": "v1.21.0-beta.1",
		"go1.9": "v1.9.0", "go1.21.0": "v1.21.0", "1.21": "", "go": "", "go1.21rc": "", "go1.021": "", "gox": "", "go1.2.3.4": "",
	}
	for in, want := range tests {
		if got := GoSemver(in); got != want {
			t.Errorf("GoSemver(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestToolchainGo(t *testing.T) {
	tests := map[string]string{
		"v0.0.1-go1.21.0.linux-amd64":   "go1.21.0",
		"v0.0.1-go1.21rc2.darwin-arm64": "go1.21rc2",
		"v0.0.1-go1.22.10.windows-386":  "go1.22.10",
		"v0.0.1-go1.21.0":               "",
		"v1.0.0":                        "",
		"v0.0.1-gox.linux-amd64":        "",
	}
	for in, want := range tests {
		if got := ToolchainGo(in); got != want {
			t.Errorf("ToolchainGo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestModules(t *testing.T) {
	e := &Entry{Affected: []Affected{{Package: Package{Name: "a"}}, {Package: Package{Name: "b"}}, {Package: Package{Name: "a"}}}}
	if diff := cmp.Diff([]string{"a", "b"}, e.Modules()); diff != "" {
		t.Errorf("Modules (-want +got):\n%s", diff)
	}
}
