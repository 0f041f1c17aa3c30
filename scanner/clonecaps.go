package scanner

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/scanner/caps"
)

// CloneCapabilities is the [AddedCapabilities] of the capability pass
// (scanner/caps): the clone's added and changed files are analysed alone
// and compared with the whole original ([caps.Added]: a capability no
// library package of the original has, or one it never reaches from
// initialisation), one line each ("EXEC in loader.go:15 (os/exec.Command;
// init → poll)"), and each of them that is a program (ELF, Mach-O, PE, a
// script outside testdata) counts too. A Go file the pass cannot read counts
// as a capability of its own ("UNANALYSED"), so what cannot be checked is
// not passed as harmless. Without the original's zip (origZip ""),
// everything the files use counts as added.
func CloneCapabilities(ctx context.Context, m module.Version, zipPath string, files []string, orig module.Version, origZip string) ([]string, error) {
	want := map[string]bool{}
	for _, f := range files {
		want[f] = true
	}
	z, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, fmt.Errorf("%s@%s: %w", m.Path, m.Version, err)
	}
	defer z.Close()
	prefix := m.Path + "@" + m.Version + "/"
	var src []caps.File
	var out []string
	for _, f := range z.File {
		name, ok := strings.CutPrefix(f.Name, prefix)
		if !ok || !want[name] {
			continue
		}
		if f.UncompressedSize64 > caps.MaxGoFile {
			out = append(out, fmt.Sprintf("UNANALYSED %s (%d bytes, over the pass's limit)", name, f.UncompressedSize64))
			continue
		}
		r, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s@%s: %s: %w", m.Path, m.Version, name, err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("%s@%s: %s: %w", m.Path, m.Version, name, err)
		}
		testdata := strings.HasPrefix(name, "testdata/") || strings.Contains(name, "/testdata/")
		if kind := caps.Sniff(data[:min(len(data), 4096)]); kind != "" && !testdata {
			out = append(out, fmt.Sprintf("a program (%s) in %s", kind, name))
		}
		if path.Ext(name) == ".go" || path.Ext(name) == ".s" {
			src = append(src, caps.File{Name: name, Data: data})
		}
	}
	next := caps.Analyze(m.Path, src)
	base := &caps.Report{}
	if origZip != "" {
		if base, err = caps.ZipFile(origZip, orig); err != nil {
			return nil, err
		}
	}
	for _, u := range caps.Added(base, next) {
		how := u.Via
		switch {
		case u.Init && u.InitPath != "":
			how += "; " + u.InitPath
		case u.Init:
			how += "; from init"
		}
		out = append(out, fmt.Sprintf("%s in %s (%s)", u.Capability.Short(), u.Where(), how))
	}
	for _, s := range next.Skipped {
		out = append(out, "UNANALYSED "+s)
	}
	return out, nil
}
