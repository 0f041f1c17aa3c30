package caps_test

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/scanner/caps"
)

// TestNeeded checks that a pass given only the files caps.Needed says it
// needs, and only what it keeps of each one's first caps.Want bytes (what a
// caller keeps to give the files to a pass later), reports exactly what
// caps.Zip reports over the whole zip: on
// real module zips, and on one holding what the pass treats specially
// (programs, assembly, ignored and oversized Go files).
func TestNeeded(t *testing.T) {
	elf := "\x7fELF\x02\x01\x01" + strings.Repeat("\x00", 9000)
	tricky := testkit.Build(t, testkit.Module{Path: "example.com/tricky", Version: "v1.2.0", Files: map[string]string{
		"a.go":               "package a\n\nimport \"os/exec\"\n\nfunc init() { exec.Command(\"x\").Run() }\n",
		"a_test.go":          "#!/bin/sh\npackage a\n\nimport \"net\"\n\nvar _ = net.Dial\n",
		"asm_amd64.s":        "TEXT ·f(SB),0,$0\n",
		"rsrc_windows.syso":  "\x64\x86",
		"sub/big.go":         "package sub\n\n// " + strings.Repeat("x", caps.MaxGoFile) + "\n",
		"testdata/big.go":    "#!" + strings.Repeat("y", caps.MaxGoFile) + "\n",
		"tool":               elf,
		"testdata/tool":      elf,
		"run.sh":             "#!/bin/sh\necho hi\n",
		"testdata/script.sh": "#!/bin/sh\n",
		"_ignored/x.go":      "package x\n\nimport \"unsafe\"\n\nvar _ = unsafe.Pointer(nil)\n",
		"README.md":          "MZ is not a program\n",
		"cmd/main/main.go":   "package main\n\nimport \"net/http\"\n\nfunc main() { http.Get(\"http://x\") }\n",
		"gen/constraint.go":  "//go:build ignore\n\npackage gen\n\nimport \"os/exec\"\n\nvar _ = exec.Command\n",
	}})
	zips := map[module.Version]*zip.Reader{}
	for _, m := range []module.Version{
		{Path: "github.com/mattn/go-pointer", Version: "v0.0.1"},
		{Path: "github.com/spf13/cobra", Version: "v1.10.1"},
		{Path: "golang.org/x/sys", Version: "v0.49.0"},
	} {
		file := realZipFile(t, m) // skips loudly when x/sys is not in the module cache
		zr, err := zip.OpenReader(file)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		zips[m] = &zr.Reader
	}
	zr, err := zip.NewReader(bytes.NewReader(tricky.Zip), int64(len(tricky.Zip)))
	if err != nil {
		t.Fatal(err)
	}
	zips[module.Version{Path: tricky.Path, Version: tricky.Version}] = zr
	for m, zr := range zips {
		t.Run(m.Path, func(t *testing.T) {
			want, err := caps.Zip(zr, m)
			if err != nil {
				t.Fatal(err)
			}
			p := caps.NewPass(m.Path)
			var kept, total int64
			for _, f := range zr.File {
				name := strings.TrimPrefix(f.Name, m.Path+"@"+m.Version+"/")
				size := int64(f.UncompressedSize64)
				rc, err := f.Open()
				if err != nil {
					t.Fatal(err)
				}
				data, err := io.ReadAll(io.LimitReader(rc, caps.Want(name, size)))
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				total += size
				keep, ok := caps.Needed(name, size, data)
				if !ok {
					continue
				}
				kept += int64(len(keep))
				p.File(name, size, keep)
			}
			if diff := cmp.Diff(want, p.Report()); diff != "" {
				t.Errorf("the pass given what Needed keeps differs from caps.Zip (-want +got):\n%s", diff)
			}
			t.Logf("kept %d of %d bytes", kept, total)
		})
	}
}
