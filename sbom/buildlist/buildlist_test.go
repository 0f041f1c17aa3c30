package buildlist_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/sbom/buildlist"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		gomod      string
		list       string
		want       *buildlist.List
		wantErrSub string
	}{
		{name: "go.mod with replacements",
			gomod: "module example.com/app\n\nrequire (\n\texample.com/a v1.0.0\n\texample.com/b v1.0.0 // indirect\n\texample.com/d v1.0.0\n)\n\nreplace example.com/a => example.com/fork v1.0.1\n\nreplace example.com/d v1.0.0 => ../d\n",
			want: &buildlist.List{Name: "example.com/app",
				Direct:  []module.Version{{Path: "example.com/fork", Version: "v1.0.1"}},
				Modules: []module.Version{{Path: "example.com/b", Version: "v1.0.0"}, {Path: "example.com/fork", Version: "v1.0.1"}}}},
		{name: "go.sum keeps the highest zip per path",
			list: "example.com/a v1.0.0 h1:x=\nexample.com/a v1.2.0 h1:x=\nexample.com/a v1.3.0/go.mod h1:x=\n",
			want: &buildlist.List{Modules: []module.Version{{Path: "example.com/a", Version: "v1.2.0"}}}},
		{name: "go.mod and go.sum merge",
			gomod: "module example.com/app\nrequire example.com/a v1.1.0\n",
			list:  "example.com/a v1.0.0 h1:x=\nexample.com/old v0.1.0 h1:x=\n",
			want: &buildlist.List{Name: "example.com/app", Direct: []module.Version{{Path: "example.com/a", Version: "v1.1.0"}},
				Modules: []module.Version{{Path: "example.com/a", Version: "v1.1.0"}, {Path: "example.com/old", Version: "v0.1.0"}}}},
		{name: "empty", wantErrSub: "empty project"},
		{name: "bad line", list: "a b c d\n", wantErrSub: "line 1"},
		{name: "bad version", list: "example.com/a@latest\n", wantErrSub: "line 1"},
		{name: "non-canonical version", list: "example.com/z v0.0.0 h1:x=\nexample.com/a v1.0 h1:x=\n", wantErrSub: "line 2"},
		{name: "bad go.mod", gomod: "module\n", wantErrSub: "go.mod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gomod []byte
			if tt.gomod != "" {
				gomod = []byte(tt.gomod)
			}
			got, err := buildlist.Parse(gomod, []byte(tt.list))
			if tt.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSub) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
