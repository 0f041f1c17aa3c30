package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNearest(t *testing.T) {
	versions := []string{"v1.0.0", "v1.1.0", "v1.2.0", "v1.2.1-rc.1", "v1.3.0", "v1.4.0", "v0.0.0-20240101000000-0123456789ab", "latest", "v1.1.0"}
	blocked := func(vs ...string) func(string) bool {
		return func(v string) bool {
			for _, b := range vs {
				if v == b {
					return false
				}
			}
			return true
		}
	}
	tests := []struct {
		name     string
		version  string
		versions []string
		allowed  func(string) bool
		want     string
		asked    []string
	}{
		{"lowest allowed above", "v1.2.0", versions, blocked("v1.3.0"), "v1.4.0", []string{"v1.3.0", "v1.4.0"}},
		{"next one up", "v1.2.0", versions, blocked(), "v1.3.0", []string{"v1.3.0"}},
		{"else highest allowed below", "v1.3.0", versions, blocked("v1.4.0", "v1.2.0"), "v1.1.0", []string{"v1.4.0", "v1.2.0", "v1.1.0"}},
		{"none allowed", "v1.3.0", versions, blocked("v1.0.0", "v1.1.0", "v1.2.0", "v1.4.0"), "",
			[]string{"v1.4.0", "v1.2.0", "v1.1.0", "v1.0.0"}},
		{"pre-releases when asked for one", "v1.2.1-rc.0", versions, blocked(), "v1.2.1-rc.1", []string{"v1.2.1-rc.1"}},
		{"pseudo-version asked: pseudo-versions count", "v0.0.0-20230101000000-0123456789ab", versions, blocked(), "v0.0.0-20240101000000-0123456789ab",
			[]string{"v0.0.0-20240101000000-0123456789ab"}},
		{"version itself is skipped", "v1.4.0", versions, blocked(), "v1.3.0", []string{"v1.3.0"}},
		{"no versions", "v1.0.0", nil, blocked(), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			got := Nearest(tt.version, tt.versions, func(v string) bool {
				asked = append(asked, v)
				return tt.allowed(v)
			})
			if got != tt.want {
				t.Errorf("Nearest(%q) = %q, want %q", tt.version, got, tt.want)
			}
			if diff := cmp.Diff(tt.asked, asked); diff != "" {
				t.Errorf("allowed called for (-want +got):\n%s", diff)
			}
		})
	}
}
