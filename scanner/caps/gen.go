//go:build ignore

// gen.go writes stdlib.txt, the capabilities of the standard library's exported
// functions and methods, from the JSON output of Google's capslock
// (github.com/google/capslock, BSD-3-Clause) run over the standard library:
//
//	capslock -packages=$(cat stdlib-packages.txt) -output=json -omit_paths > std.json
//	go run gen.go std.json capslock-commit go-version > stdlib.txt
//
// capslock follows the call graph of the standard library, so a function is
// listed with the capabilities it reaches (os/exec.Command: EXEC). This program
// keeps exported functions, exported methods of exported types and package
// init functions, and a capability only where the function's package is one
// of that capability's homes (below): capslock's call graph goes through
// interface and callback calls (log.Fatal reaches NETWORK through an
// io.Writer), which a syntactic pass would turn into findings on every
// program that logs. It splits capslock's FILES into FILES and FILES_WRITE
// (modgate's refinement) by the name of the function.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// homes: the packages whose functions may carry each capability.
var homes = map[string][]string{
	"EXEC":                {"os/exec", "os", "syscall", "plugin", "net/http/cgi"},
	"NETWORK":             {"net", "net/*", "crypto/tls", "expvar"},
	"FILES":               {"os", "io/ioutil", "path/filepath", "archive/zip", "mime/multipart", "html/template", "text/template", "go/build", "os/exec", "net/http", "syscall"},
	"READ_SYSTEM_STATE":   {"os", "os/user", "syscall", "os/exec", "net", "go/build"},
	"MODIFY_SYSTEM_STATE": {"os", "os/signal", "syscall", "log"},
	"SYSTEM_CALLS":        {"syscall"},
}

var writeVerb = regexp.MustCompile(`^(Create|CreateTemp|WriteFile|OpenFile|Remove|RemoveAll|Rename|Mkdir|MkdirAll|MkdirTemp|Chmod|Chown|Lchown|Chtimes|Link|Symlink|Truncate|TempFile|TempDir|CopyFS|Write|WriteAt|WriteString|ReadFrom|Sync|WriteTo)$`)

func home(capName, pkg string) bool {
	for _, h := range homes[capName] {
		if h == pkg || strings.HasSuffix(h, "/*") && strings.HasPrefix(pkg, strings.TrimSuffix(h, "*")) {
			return true
		}
	}
	return false
}

var (
	methodRE = regexp.MustCompile(`^\(\*?([^)]*)\.([A-Za-z0-9_]+)\)\.([A-Za-z0-9_]+)$`)
	funcRE   = regexp.MustCompile(`^([^()]*)\.([A-Za-z0-9_]+)$`)
)

func exported(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var out struct {
		CapabilityInfo []struct {
			CapabilityName string
			Path           []struct{ Name string }
		}
	}
	if err := json.Unmarshal(data, &out); err != nil {
		panic(err)
	}
	table := map[string]map[string]bool{}
	for _, c := range out.CapabilityInfo {
		if len(c.Path) == 0 {
			continue
		}
		name := c.Path[0].Name
		capName, _, _ := strings.Cut(c.CapabilityName, "/") // MODIFY_SYSTEM_STATE/ENV
		var pkg, key, verb string
		if m := methodRE.FindStringSubmatch(name); m != nil {
			if !exported(m[2]) || !exported(m[3]) {
				continue
			}
			pkg, key, verb = m[1], m[1]+"."+m[2]+"."+m[3], m[3]
		} else if m := funcRE.FindStringSubmatch(name); m != nil {
			if !exported(m[2]) && m[2] != "init" {
				continue
			}
			pkg, key, verb = m[1], name, m[2]
		} else {
			continue
		}
		if !home(capName, pkg) {
			continue
		}
		if capName == "FILES" && writeVerb.MatchString(verb) {
			capName = "FILES_WRITE"
		}
		if table[key] == nil {
			table[key] = map[string]bool{}
		}
		table[key]["CAPABILITY_"+capName] = true
	}
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Printf("# Capabilities of the Go standard library's exported functions (pkg.Func)\n")
	fmt.Printf("# and methods (pkg.Type.Method), and of package initialisation (pkg.init).\n")
	fmt.Printf("# Derived by scanner/caps/gen.go from the output of Google's capslock\n")
	fmt.Printf("# (https://github.com/google/capslock, commit %s, BSD-3-Clause,\n", os.Args[2])
	fmt.Printf("# Copyright 2023 Google LLC) run with %s on linux/amd64; see gen.go.\n", os.Args[3])
	for _, k := range keys {
		var cs []string
		for c := range table[k] {
			cs = append(cs, c)
		}
		sort.Strings(cs)
		fmt.Printf("%s %s\n", k, strings.Join(cs, ","))
	}
}
