package proxy

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		want   request
		status int // 0: parses
	}{
		{name: "list", path: "golang.org/x/text/@v/list", want: request{kind: "list", mod: module.Version{Path: "golang.org/x/text"}}},
		{name: "latest", path: "golang.org/x/text/@latest", want: request{kind: "latest", mod: module.Version{Path: "golang.org/x/text"}}},
		{name: "info", path: "golang.org/x/text/@v/v0.3.5.info", want: request{kind: "info", mod: module.Version{Path: "golang.org/x/text", Version: "v0.3.5"}}},
		{name: "mod", path: "golang.org/x/text/@v/v0.3.5.mod", want: request{kind: "mod", mod: module.Version{Path: "golang.org/x/text", Version: "v0.3.5"}}},
		{name: "zip", path: "golang.org/x/text/@v/v0.3.5.zip", want: request{kind: "zip", mod: module.Version{Path: "golang.org/x/text", Version: "v0.3.5"}}},
		{name: "case-escaped path", path: "github.com/!azure/!s!d!k/@v/v1.0.0.zip", want: request{kind: "zip", mod: module.Version{Path: "github.com/Azure/SDK", Version: "v1.0.0"}}},
		{name: "incompatible", path: "example.com/old/@v/v2.0.0+incompatible.mod", want: request{kind: "mod", mod: module.Version{Path: "example.com/old", Version: "v2.0.0+incompatible"}}},
		{name: "pseudo-version", path: "example.com/m/@v/v0.0.0-20200101000000-abcdefabcdef.zip", want: request{kind: "zip", mod: module.Version{Path: "example.com/m", Version: "v0.0.0-20200101000000-abcdefabcdef"}}},
		{name: "pre-release", path: "example.com/m/@v/v1.2.3-rc.1.info", want: request{kind: "info", mod: module.Version{Path: "example.com/m", Version: "v1.2.3-rc.1"}}},
		{name: "major suffix", path: "example.com/m/v2/@v/v2.1.0.mod", want: request{kind: "mod", mod: module.Version{Path: "example.com/m/v2", Version: "v2.1.0"}}},
		{name: "gopkg.in", path: "gopkg.in/yaml.v3/@v/v3.0.1.zip", want: request{kind: "zip", mod: module.Version{Path: "gopkg.in/yaml.v3", Version: "v3.0.1"}}},
		{name: "branch query", path: "example.com/m/@v/main.info", want: request{kind: "info", query: true, mod: module.Version{Path: "example.com/m", Version: "main"}}},
		{name: "commit query", path: "example.com/m/@v/abc1234.info", want: request{kind: "info", query: true, mod: module.Version{Path: "example.com/m", Version: "abc1234"}}},
		{name: "non-canonical info is a query", path: "example.com/m/@v/v1.2.info", want: request{kind: "info", query: true, mod: module.Version{Path: "example.com/m", Version: "v1.2"}}},

		{name: "upper case not escaped", path: "github.com/Azure/sdk/@v/v1.0.0.zip", status: http.StatusBadRequest},
		{name: "bad escape", path: "github.com/!!x/@v/v1.0.0.zip", status: http.StatusBadRequest},
		{name: "no dot in first element", path: "localhost/m/@v/v1.0.0.zip", status: http.StatusBadRequest},
		{name: "dot-dot element", path: "example.com/../etc/@v/v1.0.0.zip", status: http.StatusBadRequest},
		{name: "traversal in version", path: "example.com/m/@v/..%2f..%2fx.zip", status: http.StatusBadRequest},
		{name: "version with slash", path: "example.com/m/@v/v1.0.0/../x.zip", status: http.StatusBadRequest},
		{name: "zip of a query", path: "example.com/m/@v/main.zip", status: http.StatusBadRequest},
		{name: "mod of non-canonical", path: "example.com/m/@v/v1.2.mod", status: http.StatusBadRequest},
		{name: "major mismatch", path: "example.com/m/v2/@v/v1.0.0.zip", status: http.StatusBadRequest},
		{name: "v2 without suffix", path: "example.com/m/@v/v2.0.0.zip", status: http.StatusBadRequest},
		{name: "incompatible v1", path: "example.com/m/@v/v1.0.0+incompatible.zip", status: http.StatusBadRequest},
		{name: "incompatible with go.mod path", path: "example.com/m/v2/@v/v2.0.0+incompatible.zip", status: http.StatusBadRequest},
		{name: "empty version", path: "example.com/m/@v/.zip", status: http.StatusBadRequest},
		{name: "unknown extension", path: "example.com/m/@v/v1.0.0.tar", status: http.StatusNotFound},
		{name: "not a proxy path", path: "example.com/m", status: http.StatusNotFound},
		{name: "unknown @ endpoint", path: "example.com/m/@x", status: http.StatusNotFound},
		{name: "query with operators", path: "example.com/m/@v/<v1.2.info", status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.path)
			if tt.status != 0 {
				if err == nil {
					t.Fatalf("parse(%q) = %+v, want status %d", tt.path, got, tt.status)
				}
				if s := statusOf(err); s != tt.status {
					t.Fatalf("parse(%q) status = %d (%v), want %d", tt.path, s, err, tt.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse(%q): %v", tt.path, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(request{})); diff != "" {
				t.Errorf("parse(%q) mismatch (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

// FuzzParse checks that parsing never panics, and that whatever it accepts is a
// valid module path and a canonical version (or an .info query) that escapes
// back to the request it came from.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"golang.org/x/text/@v/list", "golang.org/x/text/@latest", "github.com/!azure/sdk/@v/v1.0.0.zip",
		"example.com/m/@v/v2.0.0+incompatible.mod", "example.com/m/v2/@v/v2.0.0-20200101000000-abcdefabcdef.info",
		"example.com/m/@v/main.info", "gopkg.in/yaml.v3/@v/v3.0.1.zip", "example.com/../x/@v/v1.0.0.zip",
		"example.com/m/@v/v1.0.0.zip/../../x", "\x00/@v/list", "example.com/m/@v/%2e%2e.info",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		req, err := parse(p)
		if err != nil {
			if s := statusOf(err); s != http.StatusBadRequest && s != http.StatusNotFound {
				t.Fatalf("parse(%q): status %d for %v", p, s, err)
			}
			return
		}
		if err := module.CheckPath(req.mod.Path); err != nil {
			t.Fatalf("parse(%q) accepted invalid path: %v", p, err)
		}
		esc, _ := module.EscapePath(req.mod.Path)
		if req.mod.Version == "" {
			return
		}
		escV, err := module.EscapeVersion(req.mod.Version)
		if err != nil {
			t.Fatalf("parse(%q) accepted unescapable version %q", p, req.mod.Version)
		}
		if want := esc + "/@v/" + escV + "." + req.kind; want != p {
			t.Fatalf("parse(%q) does not round-trip: %q", p, want)
		}
		if !req.query {
			if err := module.Check(req.mod.Path, req.mod.Version); err != nil {
				t.Fatalf("parse(%q) accepted invalid module version: %v", p, err)
			}
		} else if req.kind != "info" {
			t.Fatalf("parse(%q) accepted a query for .%s", p, req.kind)
		}
	})
}

func TestErrorText(t *testing.T) {
	long := ""
	for i := 0; i < 100; i++ {
		long += "line of an error message that goes on\n"
	}
	got := errorText(http.StatusBadGateway, errString(long))
	if len(got) > maxErrorBody {
		t.Errorf("error body is %d bytes, want at most %d", len(got), maxErrorBody)
	}
	if n := countLines(got); n > 8 {
		t.Errorf("error body has %d lines, want at most 8", n)
	}
	hostile := errorText(http.StatusBadGateway, errString("a\x1b[31mred\rforged\x00 line\n\nsecond"))
	if want := "a[31mredforged line\nsecond\n"; hostile != want {
		t.Errorf("hostile error text = %q, want %q", hostile, want)
	}
	if got := errorText(http.StatusInternalServerError, errString("pq: password=secret")); got == "" || contains(got, "secret") {
		t.Errorf("internal error text leaks details: %q", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func countLines(s string) int {
	n := 0
	for _, c := range s {
		if c == '\n' {
			n++
		}
	}
	return n
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
