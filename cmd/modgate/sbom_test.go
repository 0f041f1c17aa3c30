package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-cmp/cmp"
	spdxjson "github.com/spdx/tools-golang/json"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/internal/store/sqlite"
	"github.com/modgate/modgate/internal/testkit/sbomcheck"
	"github.com/modgate/modgate/sbom"
)

func TestSBOMCommands(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(data, "modgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2025, 3, 1, 8, 30, 0, 0, time.UTC)
	opts := sbom.Options{Created: created, Namespace: "https://modgate.example.com/sbom", ToolVersion: "v0.1.0"}
	widget := sbom.Module{
		Path: "github.com/Example-Org/Widget", Version: "v1.2.3",
		SHA256: strings.Repeat("ab", 32), SHA512: strings.Repeat("cd", 64),
		H1: "h1:" + strings.Repeat("A", 43) + "=", License: "MIT",
		Requires: []module.Version{{Path: "golang.org/x/text", Version: "v0.14.0"}},
	}
	id, input, err := sbom.NewRecord(widget, opts)
	if err != nil {
		t.Fatal(err)
	}
	mv := module.Version{Path: widget.Path, Version: widget.Version}
	if err := st.PutSBOM(ctx, &store.SBOMRecord{ID: id, Module: mv, Created: created, Input: input}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	if err := st.AppendAudit(ctx, []*store.AuditEvent{
		{Time: at, Type: store.AuditFetch, ClientToken: "ci-bot", Module: mv.Path, Version: mv.Version, Kind: "zip", Decision: store.DecisionServed, SBOM: id},
		{Time: at, Type: store.AuditFetch, ClientToken: "ci-bot", Module: "example.com/c", Version: "v1.1.0", Kind: "zip", Decision: store.DecisionBlocked},
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	modgate := logged(t, modgateIn(t, data))

	t.Run("get", func(t *testing.T) {
		out, err := modgate("sbom", "get", "github.com/Example-Org/Widget@v1.2.3")
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := sbom.Write(&want, sbom.SPDXJSON, widget, opts); err != nil {
			t.Fatal(err)
		}
		if out != want.String() {
			t.Errorf("sbom get printed another document than the one made at ingest:\n%s", out)
		}
		if sbomcheck.Licenses(t, []byte(out)) != 2 {
			t.Errorf("sbom get: want the declared and concluded license checked")
		}
		// --format after the argument, and before it.
		for _, args := range [][]string{
			{"sbom", "get", "github.com/Example-Org/Widget@v1.2.3", "--format", "cyclonedx-json"},
			{"sbom", "--format=cyclonedx-json", "get", "github.com/Example-Org/Widget@v1.2.3"},
		} {
			out, err := modgate(args...)
			if err != nil {
				t.Fatal(err)
			}
			var bom cdx.BOM
			if err := cdx.NewBOMDecoder(strings.NewReader(out), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			sbomcheck.Licenses(t, []byte(out))
			if got := bom.Metadata.Component.PackageURL; got != "pkg:golang/github.com/Example-Org/Widget@v1.2.3" {
				t.Errorf("%v: purl %q", args, got)
			}
		}
		if out, err := modgate("sbom", "get", "github.com/Example-Org/Widget@v1.2.3", "--format", "spdx-tv"); err != nil ||
			!strings.Contains(out, "DocumentNamespace: "+id) {
			t.Errorf("tag-value: %v\n%s", err, out)
		}
	})

	t.Run("project", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/app\n\ngo 1.22\n\nrequire (\n\tgithub.com/Example-Org/Widget v1.2.3\n\texample.com/c v1.1.0\n)\n"), 0o644)
		gosum := "github.com/Example-Org/Widget v1.2.3 h1:" + strings.Repeat("A", 43) + "=\nexample.com/c v1.1.0 h1:" + strings.Repeat("C", 43) + "=\n"
		os.WriteFile(filepath.Join(dir, "go.sum"), []byte(gosum), 0o644)
		for _, args := range [][]string{
			{"sbom", "project", dir},
			{"sbom", "project", filepath.Join(dir, "go.mod")},
			{"sbom", "project", filepath.Join(dir, "go.sum"), "--name", "example.com/app"},
		} {
			out, err := modgate(args...)
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			doc, err := spdxjson.Read(strings.NewReader(out))
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			sbomcheck.Licenses(t, []byte(out))
			var got []string
			for _, p := range doc.Packages {
				got = append(got, p.PackageName+"@"+p.PackageVersion)
			}
			want := []string{"example.com/app@", "example.com/c@v1.1.0", "github.com/Example-Org/Widget@v1.2.3", "golang.org/x/text@v0.14.0"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%v: packages (-want +got):\n%s", args, diff)
			}
			if !strings.Contains(out, "modgate status: blocked") || !strings.Contains(out, "modgate status: served") {
				t.Errorf("%v: statuses missing", args)
			}
		}
		bl, err := readProject("-", strings.NewReader("example.com/app\nexample.com/c v1.1.0\n"))
		if err != nil || bl.Name != "example.com/app" || len(bl.Modules) != 1 {
			t.Errorf("readProject(-) = %+v, %v", bl, err)
		}
	})

	t.Run("window", func(t *testing.T) {
		out, err := modgate("sbom", "window", "--client", "ci-bot", "--since", "2025-03-01", "--until", "2025-04-01")
		if err != nil {
			t.Fatal(err)
		}
		doc, err := spdxjson.Read(strings.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range doc.Packages[1:] {
			got = append(got, p.PackageName+"@"+p.PackageVersion)
		}
		// Widget's zip was served, c's refused; x/text is Widget's requirement.
		want := []string{"example.com/c@v1.1.0", "github.com/Example-Org/Widget@v1.2.3", "golang.org/x/text@v0.14.0"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("window packages (-want +got):\n%s", diff)
		}
		if !strings.Contains(out, "modgate status: blocked") || !strings.Contains(out, "modgate status: served") {
			t.Errorf("window statuses missing:\n%s", out)
		}
		sbomcheck.Licenses(t, []byte(out))
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			code int
			msg  string
		}{
			{"not ingested", []string{"sbom", "get", "example.com/c@v1.1.0"}, 1, "no SBOM"},
			{"no subcommand", []string{"sbom"}, 2, ""},
			{"unknown subcommand", []string{"sbom", "list"}, 2, "unknown sbom command"},
			{"bad module", []string{"sbom", "get", "example.com/<script>@v1.0.0"}, 2, "MODULE@VERSION"},
			{"non-canonical", []string{"sbom", "get", "example.com/c@v1.1"}, 2, "canonical"},
			{"bad format", []string{"sbom", "get", "example.com/c@v1.1.0", "--format", "xml"}, 2, "--format"},
			{"flag of another subcommand", []string{"sbom", "get", "example.com/c@v1.1.0", "--client", "x"}, 2, "does not take --client"},
			{"window without client", []string{"sbom", "window"}, 2, "--client"},
			{"window bad time", []string{"sbom", "window", "--client", "x", "--since", "last week"}, 2, "--since"},
			{"project missing", []string{"sbom", "project", filepath.Join(data, "nope")}, 1, "nope"},
			{"bad namespace", []string{"sbom", "get", "example.com/c@v1.1.0", "--sbom-namespace", "ftp://x"}, 2, "--sbom-namespace"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := modgate(tt.args...)
				if err == nil {
					t.Fatalf("succeeded, want exit %d", tt.code)
				}
				if exitCode(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("exit %d, %v; want exit %d and %q", exitCode(err), err, tt.code, tt.msg)
				}
			})
		}
	})
}
