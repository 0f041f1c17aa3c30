package scanner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/testkit"
)

// buildGovulncheck builds the govulncheck pinned in go.mod (a tool
// dependency, v1.8.0) into a temporary directory.
func buildGovulncheck(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "govulncheck")
	cmd := exec.Command("go", "build", "-o", bin, "golang.org/x/vuln/cmd/govulncheck")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("building govulncheck: %v\n%s", err, out)
		}
		t.Skipf("SKIP: cannot build govulncheck (module cache incomplete?; CI=true makes this fail): %v\n%s", err, out)
	}
	return bin
}

// agreementModules are real module paths at versions the snapshot knows,
// built as tiny stand-ins: vulnerable ones, fixed ones, a pseudo-version, a
// +incompatible version and a module with a withdrawn advisory.
var agreementModules = []struct {
	path, version, pkg string
	noGoMod            bool
}{
	{"golang.org/x/text", "v0.3.5", "language", false},                                 // 3 reviewed advisories
	{"github.com/gin-gonic/gin", "v1.6.0", "", false},                                  // GO-2020-0001 fixed in 1.6.0
	{"golang.org/x/crypto", "v0.0.0-20200622213623-75b288015ac9", "ssh", false},        // pseudo-version fixes
	{"github.com/mattermost/mattermost-server", "v5.39.0+incompatible", "model", true}, // +incompatible events
	{"github.com/gorilla/sessions", "v1.2.1", "", false},                               // a withdrawn advisory
	{"golang.org/x/image", "v0.18.0", "tiff", false},                                   // fixed and later advisories
	{"github.com/hashicorp/yamux", "v0.1.1", "", false},                                // a withdrawn advisory
	{"k8s.io/kubernetes", "v1.20.0", "pkg/util", false},                                // unreviewed, many entries
}

func TestGovulncheckAgreement(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: builds and runs govulncheck")
	}
	snap := snapshotDir(t)
	gv := buildGovulncheck(t)
	ctx := context.Background()

	// The stand-in modules, served by a local GOPROXY.
	var built []*testkit.Built
	var imports []string
	require := "module example.com/agree\n\ngo 1.21\n\nrequire (\n"
	for _, m := range agreementModules {
		name := m.pkg
		if name == "" {
			name = "."
		}
		pkgName := filepath.Base(filepath.Join(m.path, name))
		pkgName = strings.NewReplacer("-", "", ".", "").Replace(pkgName)
		file := filepath.ToSlash(filepath.Join(name, "x.go"))
		tm := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
		if module.IsPseudoVersion(m.version) {
			tm, _ = module.PseudoVersionTime(m.version)
		}
		built = append(built, testkit.Build(t, testkit.Module{Path: m.path, Version: m.version, NoGoMod: m.noGoMod, Time: tm,
			Files: map[string]string{file: "package " + pkgName + "\n\nfunc F() {}\n"}}))
		imports = append(imports, fmt.Sprintf("\t_ %q\n", strings.TrimSuffix(m.path+"/"+m.pkg, "/")))
		require += fmt.Sprintf("\t%s %s\n", m.path, m.version)
	}
	require += ")\n"
	up := testkit.NewUpstream(t, built...)
	work := t.TempDir()
	os.WriteFile(filepath.Join(work, "go.mod"), []byte(require), 0o644)
	os.WriteFile(filepath.Join(work, "main.go"), []byte("package main\n\nimport (\n"+strings.Join(imports, "")+")\n\nfunc main() {}\n"), 0o644)
	env := testkit.GoEnv(t, t.TempDir(), up.URL, "GOFLAGS=-mod=mod", "GOSUMDB=off", "GONOSUMDB=*")
	testkit.RunGo(t, work, env, false, "build", "./...")
	goVersion := strings.TrimSpace(testkit.RunGo(t, work, env, false, "env", "GOVERSION"))

	// govulncheck's module-level findings.
	cmd := exec.Command(gv, "-db", fileURL(snap), "-scan", "module", "-format", "json")
	cmd.Dir, cmd.Env = work, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("govulncheck: %v\n%s", err, stderr.String())
	}
	var theirs []string
	dec := json.NewDecoder(&stdout)
	for {
		var msg struct {
			Finding *struct {
				OSV          string `json:"osv"`
				FixedVersion string `json:"fixed_version"`
				Trace        []struct {
					Module  string `json:"module"`
					Version string `json:"version"`
				} `json:"trace"`
			} `json:"finding"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("govulncheck output: %v", err)
		}
		if f := msg.Finding; f != nil && len(f.Trace) > 0 {
			theirs = append(theirs, fmt.Sprintf("%s@%s %s fixed=%s", f.Trace[0].Module, f.Trace[0].Version, f.OSV, f.FixedVersion))
		}
	}

	// modgate's, from its synced copy of the same data.
	st := newStore(t)
	s, _ := newScanner(t, st, fileURL(snap), nil)
	if _, err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var ours []string
	check := func(m module.Version, shown module.Version) {
		vulns, err := s.Check(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vulns {
			if v.Withdrawn.IsZero() {
				ours = append(ours, fmt.Sprintf("%s@%s %s fixed=%s", shown.Path, shown.Version, v.ID, v.Fixed))
			}
		}
	}
	for _, m := range agreementModules {
		mv := module.Version{Path: m.path, Version: m.version}
		check(mv, mv)
	}
	std := module.Version{Path: "stdlib", Version: goVersion}
	check(std, module.Version{Path: "stdlib", Version: "v" + strings.TrimPrefix(goVersion, "go")})
	// govulncheck may report an advisory once per affected block or package;
	// compare entry by entry.
	sort.Strings(theirs)
	theirs = slices.Compact(theirs)
	sort.Strings(ours)
	t.Logf("govulncheck -scan module: %d findings", len(theirs))
	if len(theirs) < 10 {
		t.Errorf("govulncheck found only %d findings; the test module should trip many:\n%s", len(theirs), strings.Join(theirs, "\n"))
	}
	if diff := cmp.Diff(theirs, ours); diff != "" {
		t.Errorf("modgate disagrees with govulncheck (-govulncheck +modgate):\n%s", diff)
	}
}
