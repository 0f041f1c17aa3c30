package scanner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/scanner/lookalike"
)

func zf(name, content string) store.ZipFile {
	s := sha256.Sum256([]byte(content))
	return store.ZipFile{Name: name, SHA256: hex.EncodeToString(s[:]), Size: int64(len(content))}
}

// TestCheckZip: which copies are clones, of what, with what added and
// changed; versions of the same owner and shared boilerplate are not.
func TestCheckZip(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	o := NewResemblance(ResemblanceOptions{Store: st, Known: []lookalike.Known{}})
	var code []store.ZipFile
	for _, n := range []string{"a.go", "b.go", "c.go", "d.go", "e.go", "f.go", "g.go", "h.go", "i.go", "j.go"} {
		code = append(code, zf(n, "package x // "+n))
	}
	lic := zf("LICENSE", "MIT License ...")
	with := func(extra ...store.ZipFile) []store.ZipFile {
		return append(append([]store.ZipFile{lic}, code...), extra...)
	}
	orig := module.Version{Path: "github.com/dustin/go-humanize", Version: "v1.1.0"}
	origMod := []byte("module github.com/dustin/go-humanize\n\ngo 1.21\n")
	if _, err := st.PutArtifact(ctx, &store.Artifact{Module: orig, Kind: store.KindMod, SHA256: zf("", string(origMod)).SHA256,
		Size: int64(len(origMod)), Data: origMod}); err != nil {
		t.Fatal(err)
	}
	if c, err := o.CheckZip(ctx, orig, origMod, "", with(zf("go.mod", string(origMod)))); err != nil || c.Original.Path != "" {
		t.Fatalf("CheckZip of the first module = %+v, %v; want no original", c, err)
	}
	changed := append([]store.ZipFile{}, code...)
	changed[0] = zf("a.go", "package x // changed")
	tests := []struct {
		name  string
		m     module.Version
		mod   string
		files []store.ZipFile
		want  *store.Clone
	}{
		{"fork that changes only its module line", module.Version{Path: "github.com/acme/go-humanize", Version: "v1.1.0"},
			"module github.com/acme/go-humanize\n\ngo 1.21\n", with(),
			&store.Clone{Original: orig, Similarity: 1000, ModuleLineOnly: true, CapabilitiesKnown: true}},
		{"one added file", module.Version{Path: "github.com/evil/humanize2", Version: "v0.1.0"},
			"module github.com/evil/humanize2\n", with(zf("loader.go", "package x // loader")),
			&store.Clone{Original: orig, Similarity: 909, Added: []string{"loader.go"}}},
		{"one changed file of ten", module.Version{Path: "github.com/other/humanize", Version: "v1.0.0"},
			"module github.com/other/humanize\n", append([]store.ZipFile{lic}, changed...),
			&store.Clone{Original: orig, Similarity: 900, Changed: []string{"a.go"}}},
		{"two changed files of ten: not a clone", module.Version{Path: "github.com/third/humanize", Version: "v1.0.0"},
			"module github.com/third/humanize\n", append([]store.ZipFile{lic, zf("a.go", "package x // third"), zf("b.go", "package x // third")}, code[2], code[3],
				code[4], code[5], code[6], code[7], code[8], code[9]), &store.Clone{}},
		{"the same owner's major version", module.Version{Path: "github.com/dustin/go-humanize/v2", Version: "v2.0.0"},
			"module github.com/dustin/go-humanize/v2\n", with(), &store.Clone{}},
		{"only the license in common", module.Version{Path: "example.com/unrelated", Version: "v1.0.0"},
			"module example.com/unrelated\n", []store.ZipFile{lic, zf("main.go", "package main")}, &store.Clone{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := o.CheckZip(ctx, tt.m, []byte(tt.mod), "", append(tt.files, zf("go.mod", tt.mod)))
			if err != nil {
				t.Fatal(err)
			}
			want := *tt.want
			want.Module, want.CheckedAt = tt.m, got.CheckedAt
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("CheckZip (-want +got):\n%s", diff)
			}
			stored, err := st.Clone(ctx, tt.m)
			if err != nil || stored.Original != want.Original || stored.Similarity != want.Similarity {
				t.Errorf("stored clone check = %+v, %v; want %+v", stored, err, want)
			}
		})
	}
}

// TestCheckPath: the first request of a path is checked against the paths
// fetched here and the list, recorded once, and added to the index.
func TestCheckPath(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	o := NewResemblance(ResemblanceOptions{Store: st, Known: []lookalike.Known{{Path: "github.com/sirupsen/logrus", Listed: true}}})
	c, err := o.CheckPath(ctx, "github.com/siruspen/logrus", true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Resembles != "github.com/sirupsen/logrus" || c.Kind != lookalike.KindTranspose || !c.Listed {
		t.Errorf("CheckPath = %+v, want the transposition of github.com/sirupsen/logrus", c)
	}
	if stored, err := st.PathCheck(ctx, "github.com/siruspen/logrus"); err != nil || stored.Resembles != c.Resembles {
		t.Errorf("stored check = %+v, %v", stored, err)
	}
	// A later path is compared with the one checked before.
	if c, err = o.CheckPath(ctx, "github.com/siruspem/logrus", false); err != nil || c.Resembles != "github.com/siruspen/logrus" || c.Kind != lookalike.KindEdit {
		t.Errorf("CheckPath of a path 1 edit from the one checked before = %+v, %v", c, err)
	}
	// Not recorded without record.
	if _, err := st.PathCheck(ctx, "github.com/siruspem/logrus"); err == nil {
		t.Errorf("a check made without record was stored")
	}
}
