//go:build ignore

// mkpopular writes popular.txt, the list of widely used public Go modules
// that look-alike paths are compared with, from sources on this machine:
//
//	go run mkpopular.go -graph GRAPH -vulndb DIR > popular.txt
//
// GRAPH is the output of `go mod graph` of a real project (the hugo build
// graph of modgate's benchmark, ../shared/bench/hugo): every module it
// requires is listed, weighted by how many modules of the graph require it.
// DIR is a copy of the Go vulnerability database (../shared/vulndb): every
// module with an advisory is listed (the database records modules people
// use), except those of advisories about malicious code, which are the
// look-alikes themselves. extra.txt adds modules by hand (well-known modules
// that typosquatting reports named), one path a line.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	graph := flag.String("graph", "", "output of go mod graph")
	vulndb := flag.String("vulndb", "", "Go vulnerability database directory")
	extra := flag.String("extra", "extra.txt", "modules added by hand")
	flag.Parse()
	importers := map[string]map[string]bool{}
	f, err := os.Open(*graph)
	if err != nil {
		log.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		from, to, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		from, _, _ = strings.Cut(from, "@")
		to, _, _ = strings.Cut(to, "@")
		if importers[to] == nil {
			importers[to] = map[string]bool{}
		}
		importers[to][from] = true
	}
	f.Close()
	delete(importers, "go")
	delete(importers, "toolchain")
	weight := map[string]string{}
	for p, by := range importers {
		weight[p] = fmt.Sprintf("graph:%d", len(by))
	}
	// The vulnerability database's modules, but not those of malicious code.
	var mods []struct {
		Path  string
		Vulns []struct{ ID string }
	}
	data, err := os.ReadFile(filepath.Join(*vulndb, "index", "modules.json"))
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(data, &mods); err != nil {
		log.Fatal(err)
	}
	malicious := map[string]bool{}
	for _, m := range mods {
		for _, v := range m.Vulns {
			var e struct {
				Summary, Details string
			}
			b, err := os.ReadFile(filepath.Join(*vulndb, "ID", v.ID+".json"))
			if err != nil {
				log.Fatal(err)
			}
			json.Unmarshal(b, &e)
			text := strings.ToLower(e.Summary + " " + e.Details)
			if strings.HasPrefix(strings.ToLower(e.Summary), "malicious code") || strings.Contains(text, "malicious typosquat") {
				malicious[m.Path] = true
			}
		}
	}
	nvuln := 0
	for _, m := range mods {
		if malicious[m.Path] || m.Path == "stdlib" || m.Path == "toolchain" {
			continue
		}
		nvuln++
		if weight[m.Path] == "" {
			weight[m.Path] = fmt.Sprintf("vulndb:%d", len(m.Vulns))
		}
	}
	nextra := 0
	if b, err := os.ReadFile(*extra); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				nextra++
				if weight[l] == "" {
					weight[l] = "hand"
				}
			}
		}
	}
	var paths []string
	for p := range weight {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	excluded := []string{}
	for p := range malicious {
		excluded = append(excluded, p)
	}
	sort.Strings(excluded)
	fmt.Printf("# Widely used public Go modules, for modgate's look-alike check (scanner/lookalike).\n")
	fmt.Printf("# Made %s by mkpopular.go from:\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Printf("#   graph:N   the hugo build graph (../shared/bench/hugo, gohugoio/hugo at 7b5199fdeff7, `go mod graph`):\n")
	fmt.Printf("#             %d modules, N = how many modules of the graph require it\n", len(importers))
	fmt.Printf("#   vulndb:N  the Go vulnerability database snapshot (../shared/vulndb): %d modules with N advisories\n", nvuln)
	fmt.Printf("#             (left out: modules whose advisory calls them malicious code or a malicious typosquat: %s)\n", strings.Join(excluded, ", "))
	fmt.Printf("#   hand      %d well-known modules added by hand (extra.txt)\n", nextra)
	fmt.Printf("# It is not a ranking of the whole ecosystem: a module outside these sources is compared\n")
	fmt.Printf("# only with the paths this organisation fetched.\n")
	for _, p := range paths {
		fmt.Printf("%s %s\n", p, weight[p])
	}
}
