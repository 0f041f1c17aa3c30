package caps

import (
	"archive/zip"
	"go/parser"
	"go/token"
	"path"
	"strings"
	"testing"
)

// addRealGoFiles seeds f with the first Go files of two real module zips in
// testdata.
func addRealGoFiles(f *testing.F) {
	for _, z := range []string{"testdata/github.com_spf13_cobra@v1.10.1.zip", "testdata/github.com_mattn_go-pointer@v0.0.1.zip"} {
		zr, err := zip.OpenReader(z)
		if err != nil {
			f.Fatal(err)
		}
		n := 0
		for _, zf := range zr.File {
			if path.Ext(zf.Name) != ".go" || n >= 12 {
				continue
			}
			var buf []byte
			if buf, err = readStart(zf, nil, int64(zf.UncompressedSize64)); err != nil {
				f.Fatal(err)
			}
			f.Add(buf)
			n++
		}
		zr.Close()
	}
}

// FuzzExtract feeds arbitrary bytes to the pass as a Go file: it must not
// panic, and a file go/parser accepts (one that may compile) must never be
// listed as not parsing, which would hide what it can do (nesting over the
// pass's limit is listed as unanalysed instead).
func FuzzExtract(f *testing.F) {
	addRealGoFiles(f)
	for _, s := range []string{
		"package a\nfunc {",
		"package a\nimport . \"os/exec\"\nfunc init() { Command(\"sh\").Start() }\n",
		"package a\nvar x = func() int { return 1 }()\nfunc (r *T[K, V]) m() { once.Do(func() { r.x.Call(nil) }) }\n",
		"package a\nfunc f() { if x == (T{}) { for _, v := range []struct{ a int }{{1}} { _ = v } } }\n",
		"package a\n/* unterminated",
		"package a\nvar s = `raw\nstring`\nvar r = '\\''\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		p := NewPass("example.com/m")
		p.File("a.go", int64(len(src)), src)
		p.File("b/b.go", int64(len(src)), src)
		r := p.Report()
		if _, err := parser.ParseFile(token.NewFileSet(), "a.go", src, parser.SkipObjectResolution); err != nil || !buildable(src) {
			return
		}
		for _, s := range r.Skipped {
			if strings.Contains(s, "does not parse") {
				t.Errorf("go/parser reads it, the pass does not: %s", s)
			}
		}
	})
}

// TestDeepNesting: code nested deeper than the extractor follows may still
// compile, so it is listed as unanalysed (the policy holds such a zip), not
// as not parsing.
func TestDeepNesting(t *testing.T) {
	src := "package a\n\nimport \"os/exec\"\n\nvar x = " + strings.Repeat("(", maxDepth+10) + "exec.Command(\"sh\")" + strings.Repeat(")", maxDepth+10) + "\n"
	if _, err := parser.ParseFile(token.NewFileSet(), "a.go", src, parser.SkipObjectResolution); err != nil {
		t.Fatalf("go/parser: %v", err)
	}
	r := Analyze("m", []File{{Name: "a.go", Data: []byte(src)}})
	if got := Unanalysed(r.Skipped); len(got) != 1 || !strings.HasPrefix(got[0], "a.go: ") {
		t.Errorf("Unanalysed(%q) = %q, want a.go", r.Skipped, got)
	}
}

// FuzzLex holds the lexer to the one it replaced (lexref_test.go): the same
// tokens with the same lines and ranges, the same error, and the same state
// (offset, line, pending semicolon, parentheses) after each token.
func FuzzLex(f *testing.F) {
	addRealGoFiles(f)
	for _, s := range []string{
		"\xef\xbb\xbfpackage a\n/* a\nb */ x /* c */\n// d",
		"a /* b\n*/\n/* c",
		"`raw\nstring` `unterminated\n",
		"'\\'' \"a\\\"b\" \"a\\\n\" 'x",
		"0x1p-2 1e+3 0X1E+3 .5 1..2 x...y <-chan <<= >>= &^= && || ++ -- := == *= ~ # $",
		"αβ x١ ١x \xff café\u00a0",
		"break continue fallthrough return\nfor x\n)\n]\n}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		var l lexer
		var r refLexer
		l.init(src)
		r.init(src)
		for i := 0; ; i++ {
			got, want := l.next(), r.next()
			if got != want || l.err != r.err || l.off != r.off || l.line != r.line || l.semi != r.semi || l.parens != r.parens {
				t.Fatalf("token %d: got %+v (err %q, off %d, line %d, semi %v, parens %d), want %+v (err %q, off %d, line %d, semi %v, parens %d)",
					i, got, l.err, l.off, l.line, l.semi, l.parens, want, r.err, r.off, r.line, r.semi, r.parens)
			}
			if got.t == tEOF {
				return
			}
		}
	})
}
