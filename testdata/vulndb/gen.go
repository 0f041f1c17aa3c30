//go:build ignore

// gen copies a consistent subset of a Go vulnerability database snapshot
// (../shared/vulndb, see README.md here) into this directory: the entries
// the default tests need, unchanged, and the three indexes filtered to them.
//
//	go run ./testdata/vulndb/gen.go ../shared/vulndb testdata/vulndb
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// whole are the modules all of whose entries are copied: those of the
// snapshot tests (scanner/sync_test.go, scanner/govulncheck_test.go,
// cmd/modgate/vuln_test.go), the standard library and the toolchain.
var whole = []string{
	"golang.org/x/text", "github.com/gin-gonic/gin", "golang.org/x/crypto", "github.com/gorilla/sessions",
	"golang.org/x/image", "github.com/hashicorp/yamux", "k8s.io/kubernetes", "stdlib", "toolchain",
}

// sampled has 275 entries: the first 20 by id, and the first 20 whose
// ranges use +incompatible versions.
const sampled = "github.com/mattermost/mattermost-server"

type module struct {
	Path  string            `json:"path"`
	Vulns []json.RawMessage `json:"vulns"`
}

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: go run gen.go FROM TO")
	}
	from, to := os.Args[1], os.Args[2]
	var mods []module
	readJSON(filepath.Join(from, "index", "modules.json"), &mods)
	keep := map[string]bool{}
	for _, m := range mods {
		ids := rowIDs(m)
		switch {
		case contains(whole, m.Path):
			for _, id := range ids {
				keep[id] = true
			}
		case m.Path == sampled:
			plain, inc := 0, 0
			for _, id := range ids {
				if keep[id] {
					continue
				}
				data, err := os.ReadFile(filepath.Join(from, "ID", id+".json"))
				if err != nil {
					log.Fatal(err)
				}
				if strings.Contains(string(data), "+incompatible") && inc < 20 {
					keep[id] = true
					inc++
				} else if plain < 20 {
					keep[id] = true
					plain++
				}
			}
		}
	}
	os.RemoveAll(filepath.Join(to, "ID"))
	os.RemoveAll(filepath.Join(to, "index"))
	os.MkdirAll(filepath.Join(to, "ID"), 0o755)
	os.MkdirAll(filepath.Join(to, "index"), 0o755)
	latest := ""
	for id := range keep {
		data, err := os.ReadFile(filepath.Join(from, "ID", id+".json"))
		if err != nil {
			log.Fatal(err)
		}
		var e struct{ Modified string }
		if err := json.Unmarshal(data, &e); err != nil {
			log.Fatal(err)
		}
		if e.Modified > latest { // RFC 3339 UTC with Z: ordered as strings
			latest = e.Modified
		}
		write(filepath.Join(to, "ID", id+".json"), data)
	}
	var outMods []module
	for _, m := range mods {
		var rows []json.RawMessage
		for i, id := range rowIDs(m) {
			if keep[id] {
				rows = append(rows, m.Vulns[i])
			}
		}
		if len(rows) > 0 {
			outMods = append(outMods, module{Path: m.Path, Vulns: rows})
		}
	}
	write(filepath.Join(to, "index", "modules.json"), marshal(outMods))
	var vulns, outVulns []json.RawMessage
	readJSON(filepath.Join(from, "index", "vulns.json"), &vulns)
	for _, v := range vulns {
		if keep[id(v)] {
			outVulns = append(outVulns, v)
		}
	}
	write(filepath.Join(to, "index", "vulns.json"), marshal(outVulns))
	write(filepath.Join(to, "index", "db.json"), marshal(map[string]string{"modified": latest}))
	ids := make([]string, 0, len(keep))
	for id := range keep {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Printf("%d entries, %d modules, modified %s\n", len(ids), len(outMods), latest)
}

func rowIDs(m module) []string {
	ids := make([]string, len(m.Vulns))
	for i, r := range m.Vulns {
		ids[i] = id(r)
	}
	return ids
}

func id(raw json.RawMessage) string {
	var r struct{ ID string }
	if err := json.Unmarshal(raw, &r); err != nil {
		log.Fatal(err)
	}
	return r.ID
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func readJSON(name string, v any) {
	data, err := os.ReadFile(name)
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		log.Fatalf("%s: %v", name, err)
	}
}

func marshal(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		log.Fatal(err)
	}
	return data
}

func write(name string, data []byte) {
	if err := os.WriteFile(name, data, 0o644); err != nil {
		log.Fatal(err)
	}
}
