// Repository-wide checks: formatting, vet, a tidy go.mod, forbidden modules and
// the one-way dependency direction between modgate's packages.
package modgate_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const modPath = "github.com/modgate/modgate"

func goCmd(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func TestGofmt(t *testing.T) {
	out, err := exec.Command("gofmt", "-l", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("gofmt: %v\n%s", err, out)
	}
	if len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("files need gofmt:\n%s", out)
	}
}

func TestVet(t *testing.T) {
	goCmd(t, "vet", "./...")
}

func TestModTidy(t *testing.T) {
	goCmd(t, "mod", "tidy", "-diff")
}

// forbidden are modules modgate must not depend on: cgo SQLite (the embedded
// database must stay pure Go) and a second PostgreSQL driver.
var forbidden = []string{"github.com/mattn/go-sqlite3", "github.com/lib/pq"}

func TestForbiddenModules(t *testing.T) {
	out := goCmd(t, "list", "-m", "all")
	for _, line := range strings.Split(out, "\n") {
		for _, f := range forbidden {
			if strings.HasPrefix(line, f+" ") || line == f {
				t.Errorf("forbidden module in the build list: %s", line)
			}
		}
	}
}

// TestLayers checks the dependency direction: handlers on top, pure logic in
// the middle, storage at the bottom (see README's package table).
func TestLayers(t *testing.T) {
	out := goCmd(t, "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	// allowed lists, for each package, the modgate packages it may import
	// (non-test code). A package missing here may import none.
	allowed := map[string][]string{
		"cmd/modgate":              {"*"},
		"web":                      {"internal/store", "internal/policy", "internal/audit", "internal/auth", "sbom", "sbom/assembly", "sbom/buildlist", "scanner/vulndb"},
		"sbom/assembly":            {"internal/store", "sbom", "sbom/buildlist"},
		"proxy":                    {"proxy/upstream", "proxy/verify", "scanner", "scanner/caps", "sbom", "internal/policy", "internal/blob", "internal/store", "internal/audit", "internal/auth"},
		"proxy/verify":             {"internal/store", "proxy/upstream"},                                      // the checksum database through the upstream proxies, as the go command reaches it
		"scanner":                  {"scanner/vulndb", "internal/store", "scanner/caps", "scanner/lookalike"}, // caps and lookalike: pure passes the clone and look-alike checks run
		"scanner/index":            {"internal/store"},                                                        // the module index feed into its store role
		"internal/policy":          {"internal/store", "scanner/caps"},                                        // caps: a leaf of capability names and reports
		"internal/store/postgres":  {"internal/store", "migrations"},
		"internal/store/sqlite":    {"internal/store", "migrations"},
		"internal/store/storetest": {"internal/store"},
		"internal/testkit":         {"*"},
		"internal/audit":           {"internal/store", "internal/filelock"},
		"internal/blob":            {"internal/filelock"}, // lock files of live owners
		"internal/auth":            {"internal/store"},
		"internal/check":           {"internal/policy", "internal/store", "scanner/caps"},
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(f[0], modPath), "/")
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, modPath+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, modPath+"/")
			if dep == "internal/testkit" && pkg != "internal/testkit" {
				t.Errorf("%s imports internal/testkit outside tests", pkg)
			}
			ok := false
			for _, a := range allowed[pkg] {
				if a == "*" || a == dep {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s must not import %s", pkg, dep)
			}
		}
	}
}
