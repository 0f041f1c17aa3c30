package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/modgate/modgate/internal/testkit"
	"github.com/modgate/modgate/internal/testkit/sbomcheck"
)

func readTestdata(t *testing.T, elem ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sbomStatuses returns name@version -> "modgate status" of every package of
// an SPDX JSON document but its root, and the document.
func sbomStatuses(t *testing.T, doc []byte) (map[string]string, *v2_3.Document) {
	t.Helper()
	d, err := spdxjson.Read(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("SPDX JSON: %v\n%s", err, doc)
	}
	out := map[string]string{}
	for _, p := range d.Packages[1:] {
		st := ""
		for _, l := range strings.Split(p.PackageComment, "\n") {
			if s, ok := strings.CutPrefix(l, "modgate status: "); ok {
				st = s
			}
		}
		out[p.PackageName+"@"+p.PackageVersion] = st
	}
	return out, d
}

// TestEndToEndSBOMAndAdvisory builds a project with the real go command
// through modgate, with a version fetched before and refused after a sync
// brought a real advisory (GO-2026-5970, golang.org/x/text), a version the
// policy denies and a required module whose go.mod only is read. The project
// and window SBOMs must give the exact statuses (served, blocked, metadata
// only), every SBOM document's license expressions must be valid SPDX, and
// the advisory page must list the version with who fetched it before and
// after modgate learnt of the advisory.
func TestEndToEndSBOMAndAdvisory(t *testing.T) {
	textPublished := time.Date(2021, 1, 5, 9, 30, 0, 0, time.UTC)
	text := testkit.Build(t, testkit.Module{Path: "golang.org/x/text", Version: "v0.3.5", Time: textPublished, Files: map[string]string{
		"go.mod":               "module golang.org/x/text\n\ngo 1.21\n",
		"LICENSE":              readTestdata(t, "licenses", "golang.org-x-text.LICENSE") + "\n" + readTestdata(t, "licenses", "golang.org-x-text.PATENTS"),
		"language/language.go": "package language\n\nfunc Parse(s string) string { return s }\n",
	}})
	lib := testkit.Build(t, testkit.Module{Path: "example.com/lib", Version: "v1.0.0", Files: map[string]string{
		"go.mod":  "module example.com/lib\n\ngo 1.21\n",
		"LICENSE": readTestdata(t, "licenses", "github.com-beorn7-perks.LICENSE"),
		// A second license file no known license text matches.
		"LICENSE.extra": "Copyright 2024 Example Corp. All rights reserved.\nThis file may be used only with the written permission of Example Corp.\n",
		"lib.go":        "package lib\n\nconst Name = \"lib\"\n",
	}})
	bad := testkit.Build(t, testkit.Module{Path: "example.com/bad", Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module example.com/bad\n\ngo 1.21\n", "bad.go": "package bad\n\nconst Name = \"bad\"\n"}})
	unused := testkit.Build(t, testkit.Module{Path: "example.com/unused", Version: "v1.0.0", Files: map[string]string{
		"go.mod": "module example.com/unused\n\ngo 1.21\n", "unused.go": "package unused\n"}})
	up := testkit.NewUpstream(t, text, lib, bad, unused)

	// The vulnerability data at first: an x/text advisory fixed before v0.3.5.
	dbDir := t.TempDir()
	// Real entries from the repository's subset of the database (../../testdata/vulndb).
	old := []byte(readTestdata(t, "..", "..", "..", "testdata", "vulndb", "ID", "GO-2020-0015.json"))
	testkit.WriteVulnDB(t, dbDir, old)
	work := t.TempDir()
	policyFile := filepath.Join(work, "policy.yaml")
	os.WriteFile(policyFile, []byte("mode: enforce\nvulnerabilities:\n  action: block\nmodules:\n  deny: [\"example.com/bad\"]\n"), 0o644)
	data := t.TempDir()
	common := []string{"--data", data, "--vulndb", "file://" + dbDir, "--vulndb-max-age", "100000h", "--policy", policyFile}
	if out, code := runModgate(t, append([]string{"vulndb", "sync"}, common...)...); code != 0 {
		t.Fatalf("vulndb sync: exit %d\n%s", code, out)
	}
	mg := startModgate(t, append([]string{"--upstream", up.URL, "--sumdb", "off", "--vulndb-interval", "1h"}, common...)...)

	// Before the advisory: a developer downloads x/text v0.3.5.
	envA := testkit.GoEnv(t, filepath.Join(work, "home-a"), mg.URL, "GOSUMDB=off")
	scratch := filepath.Join(work, "scratch")
	writeApp(t, scratch, "module e2e.test/scratch\n\ngo 1.21\n")
	testkit.RunGo(t, scratch, envA, false, "mod", "download", "golang.org/x/text@v0.3.5")

	// The sync that brings GO-2026-5970 (every x/text before v0.39.0).
	synced := time.Now().UTC()
	testkit.WriteVulnDB(t, dbDir, old, []byte(readTestdata(t, "..", "..", "..", "testdata", "vulndb", "ID", "GO-2026-5970.json")))
	if out, code := runModgate(t, append([]string{"vulndb", "sync"}, common...)...); code != 0 {
		t.Fatalf("vulndb sync: exit %d\n%s", code, out)
	}
	// Decisions are reused for a few seconds: wait until the proxy refuses.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(mg.URL + "/api/decision/golang.org/x/text/@v/v0.3.5")
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ Blocked bool }
		json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if d.Blocked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("x/text v0.3.5 is not blocked after the sync")
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The project: imports lib, bad and x/text; requires unused, which
	// provides no package (the go command reads only its go.mod).
	app := filepath.Join(work, "app")
	writeApp(t, app, "module e2e.test/app\n\ngo 1.21\n\nrequire (\n\texample.com/bad v1.0.0\n\texample.com/lib v1.0.0\n\texample.com/unused v1.0.0\n\tgolang.org/x/text v0.3.5\n)\n")
	var sum strings.Builder
	for _, b := range []*testkit.Built{bad, lib, unused, text} {
		sum.WriteString(b.Path + " " + b.Version + " " + b.Hash + "\n" + b.Path + " " + b.Version + "/go.mod " + b.ModSum + "\n")
	}
	os.WriteFile(filepath.Join(app, "go.sum"), []byte(sum.String()), 0o644)
	os.WriteFile(filepath.Join(app, "main.go"), []byte("package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/bad\"\n\t\"example.com/lib\"\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(bad.Name, lib.Name, language.Parse(\"en\")) }\n"), 0o644)
	envB := testkit.GoEnv(t, filepath.Join(work, "home-b"), mg.URL, "GOSUMDB=off")
	// Each module as the build fetches it (go build stops at its first
	// refused download, which would leave the others to chance).
	testkit.RunGo(t, app, envB, false, "mod", "download", "example.com/lib")
	for _, m := range []string{"golang.org/x/text", "example.com/bad"} {
		out := testkit.RunGo(t, app, envB, true, "mod", "download", m)
		if !strings.Contains(out, "403 Forbidden") {
			t.Errorf("go mod download %s: want a 403:\n%s", m, out)
		}
	}
	out := testkit.RunGo(t, app, envB, true, "build", "./...")
	if !strings.Contains(out, "403 Forbidden") {
		t.Errorf("go build: want a 403:\n%s", out)
	}
	mg.stop(t) // the audit log is flushed at shutdown

	modgate := func(args ...string) string {
		t.Helper()
		out, code := runModgate(t, append(args, common...)...)
		if code != 0 {
			t.Fatalf("modgate %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	check := func(name, doc string) {
		t.Helper()
		if n := sbomcheck.Licenses(t, []byte(doc)); n == 0 {
			t.Errorf("%s: no license expression checked", name)
		}
	}

	// The project SBOM, every format.
	project := modgate("sbom", "project", app)
	check("project SBOM", project)
	got, doc := sbomStatuses(t, []byte(project))
	want := map[string]string{
		"example.com/lib@v1.0.0":    "served",
		"example.com/bad@v1.0.0":    "blocked",
		"example.com/unused@v1.0.0": "metadata only",
		// Its zip was served before modgate knew of the advisory.
		"golang.org/x/text@v0.3.5": "served",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("project SBOM statuses (-want +got):\n%s", diff)
	}
	t.Logf("project SBOM statuses: %v", got)
	licenses := map[string]string{}
	releases := map[string]string{}
	for _, p := range doc.Packages[1:] {
		licenses[p.PackageName] = p.PackageLicenseDeclared
		releases[p.PackageName] = p.ReleaseDate
	}
	if licenses["golang.org/x/text"] != "BSD-3-Clause AND LicenseRef-GooglePatentsFile" ||
		licenses["example.com/lib"] != "MIT AND LicenseRef-modgate-unidentified" {
		t.Errorf("licenses: %v", licenses)
	}
	if releases["golang.org/x/text"] != textPublished.Format(time.RFC3339) {
		t.Errorf("x/text releaseDate %q, want its .info Time %s (never when modgate first saw it)", releases["golang.org/x/text"], textPublished.Format(time.RFC3339))
	}
	check("project SBOM (CycloneDX)", modgate("sbom", "project", app, "--format", "cyclonedx-json"))
	check("project SBOM (tag-value)", modgate("sbom", "project", app, "--format", "spdx-tv"))
	for _, m := range []string{"golang.org/x/text@v0.3.5", "example.com/lib@v1.0.0"} {
		for _, f := range []string{"spdx-json", "cyclonedx-json", "spdx-tv"} {
			check("SBOM of "+m+" "+f, modgate("sbom", "get", m, "--format", f))
		}
	}

	// The window SBOMs: before the sync the client was served x/text; since,
	// refused it and bad, served lib; unused (go.mod only) is left out.
	window := modgate("sbom", "window", "--client", "127.0.0.1", "--since", synced.Format(time.RFC3339Nano))
	check("window SBOM since the sync", window)
	got, doc = sbomStatuses(t, []byte(window))
	want = map[string]string{
		"example.com/lib@v1.0.0":   "served",
		"example.com/bad@v1.0.0":   "blocked",
		"golang.org/x/text@v0.3.5": "blocked",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("window SBOM statuses since the sync (-want +got):\n%s", diff)
	}
	t.Logf("window SBOM statuses since the sync: %v; root: %q", got, doc.Packages[0].PackageComment)
	if !strings.Contains(doc.Packages[0].PackageComment, "Left out: 1 versions of which only the .info or .mod") {
		t.Errorf("window root comment %q: want the go.mod-only version counted", doc.Packages[0].PackageComment)
	}
	window = modgate("sbom", "window", "--client", "127.0.0.1", "--until", synced.Format(time.RFC3339Nano))
	check("window SBOM before the sync", window)
	if got, _ = sbomStatuses(t, []byte(window)); !cmp.Equal(got, map[string]string{"golang.org/x/text@v0.3.5": "served"}) {
		t.Errorf("window SBOM statuses before the sync: %v, want x/text served", got)
	}
	t.Logf("window SBOM statuses before the sync: %v", got)

	// The same through the API of a restarted server, and the advisory page.
	mg = startModgate(t, append([]string{"--upstream", up.URL, "--sumdb", "off", "--vulndb-interval", "1h"}, common...)...)
	q := url.Values{"client": {"127.0.0.1"}, "since": {synced.Format(time.RFC3339Nano)}, "format": {"cyclonedx-json"}}
	check("window SBOM (API, CycloneDX)", getOK(t, mg.URL+"/api/sbom/window?"+q.Encode()))
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, name := range []string{"go.mod", "go.sum"} {
		w, _ := mw.CreateFormFile(name, name)
		b, _ := os.ReadFile(filepath.Join(app, name))
		w.Write(b)
	}
	mw.Close()
	resp, err := http.Post(mg.URL+"/api/sbom/project", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	apiProject, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check("project SBOM (API)", string(apiProject))
	if got, _ := sbomStatuses(t, apiProject); !cmp.Equal(got, map[string]string{"example.com/lib@v1.0.0": "served",
		"example.com/bad@v1.0.0": "blocked", "example.com/unused@v1.0.0": "metadata only", "golang.org/x/text@v0.3.5": "served"}) {
		t.Errorf("project SBOM statuses (API): %v", got)
	}

	var adv struct {
		Advisory struct{ Modules []string }
		Versions []struct {
			Version       string
			AtIngest      bool `json:"at_ingest"`
			ServedBefore  int  `json:"served_before_learnt"`
			ServedAfter   int  `json:"served_after_learnt"`
			ClientsBefore []struct {
				Client          string
				Served, Blocked int
			} `json:"clients_before_learnt"`
			ClientsAfter []struct {
				Client          string
				Served, Blocked int
			} `json:"clients_after_learnt"`
		}
	}
	advJSON := getOK(t, mg.URL+"/api/advisories/GO-2026-5970")
	if err := json.Unmarshal([]byte(advJSON), &adv); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(adv.Advisory.Modules, []string{"golang.org/x/text"}) || len(adv.Versions) != 1 {
		t.Fatalf("advisory: modules %v, %d versions; want golang.org/x/text and v0.3.5", adv.Advisory.Modules, len(adv.Versions))
	}
	v := adv.Versions[0]
	t.Logf("advisory GO-2026-5970: %s@%s served %d times before modgate learnt it (%+v), %d after (%+v)",
		adv.Advisory.Modules[0], v.Version, v.ServedBefore, v.ClientsBefore, v.ServedAfter, v.ClientsAfter)
	if v.Version != "v0.3.5" || v.AtIngest || v.ServedBefore != 1 || v.ServedAfter != 0 ||
		len(v.ClientsBefore) != 1 || v.ClientsBefore[0].Client != "127.0.0.1" || v.ClientsBefore[0].Served != 1 ||
		len(v.ClientsAfter) != 1 || v.ClientsAfter[0].Served != 0 || v.ClientsAfter[0].Blocked < 1 {
		t.Errorf("advisory's version: %+v", v)
	}
	page := getOK(t, mg.URL+"/ui/advisory/GO-2026-5970")
	for _, w := range []string{"golang.org/x/text@v0.3.5", "its zip was served 1 times, to 127.0.0.1 (1 served)", "learnt after ingest"} {
		if !strings.Contains(page, w) {
			t.Errorf("advisory page lacks %q", w)
		}
	}
}

// getOK GETs u and returns the body of a 200 answer.
func getOK(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", u, resp.Status, b)
	}
	return string(b)
}
