package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/vuln/scan"
)

// Symbol is one vulnerability govulncheck found.
type Symbol struct {
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	Summary string   `json:"summary,omitempty"`
	Module  string   `json:"module"`
	Version string   `json:"version"`
	Fixed   string   `json:"fixed,omitempty"`
	// Level is "called" (the code reaches a vulnerable symbol), "imported"
	// (it imports a vulnerable package but calls none of its vulnerable
	// symbols) or "required" (the module is required, the package unused).
	Level string `json:"level"`
	// Calls are the vulnerable symbols reached (called only), like
	// "golang.org/x/text/language.Parse".
	Calls []string `json:"calls,omitempty"`
}

// SetSymbols records the result of [Symbols]: the findings, or why the
// analysis failed.
func (out *Result) SetSymbols(syms []Symbol, err error) {
	if err != nil {
		out.SymbolsError = err.Error()
		return
	}
	out.Symbols = syms
}

// govulncheck's JSON output (golang.org/x/vuln/internal/govulncheck), the
// parts check reads: a stream of messages, each with one of these set.
type vulnMessage struct {
	OSV *struct {
		ID      string   `json:"id"`
		Aliases []string `json:"aliases"`
		Summary string   `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
			Receiver string `json:"receiver"`
		} `json:"trace"`
	} `json:"finding"`
}

var levelRank = map[string]int{"called": 0, "imported": 1, "required": 2}

// Symbols runs govulncheck in-process on ./... in dir against the
// vulnerability database at db. goproxy, when set, is the GOPROXY for
// loading the packages; otherwise the environment's applies.
func Symbols(ctx context.Context, dir, db, goproxy string) ([]Symbol, error) {
	env := os.Environ()
	if goproxy != "" {
		env = append(env, "GOPROXY="+goproxy)
	}
	var stdout, stderr bytes.Buffer
	cmd := scan.Command(ctx, "-C", dir, "-db", db, "-format", "json", "./...")
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, strings.NewReader(""), &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("govulncheck in %s: %v\n%s", dir, err, strings.TrimSpace(stderr.String()))
	}
	byID := map[string]*Symbol{}
	var order []string
	dec := json.NewDecoder(&stdout)
	for {
		var msg vulnMessage
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("govulncheck output: %w", err)
		}
		if o := msg.OSV; o != nil {
			s := get(byID, &order, o.ID)
			s.Aliases, s.Summary = o.Aliases, o.Summary
		}
		f := msg.Finding
		if f == nil || len(f.Trace) == 0 {
			continue
		}
		s := get(byID, &order, f.OSV)
		top := f.Trace[0] // the vulnerable end of the trace
		s.Module, s.Version, s.Fixed = top.Module, top.Version, f.FixedVersion
		level, sym := "required", ""
		switch {
		case top.Function != "":
			level = "called"
			sym = top.Package + "."
			if r := strings.TrimPrefix(top.Receiver, "*"); r != "" {
				sym += r + "."
			}
			sym += top.Function
		case top.Package != "":
			level = "imported"
		}
		if s.Level == "" || levelRank[level] < levelRank[s.Level] {
			s.Level = level
		}
		if sym != "" && !contains(s.Calls, sym) {
			s.Calls = append(s.Calls, sym)
		}
	}
	var out []Symbol
	for _, id := range order {
		if s := byID[id]; s.Level != "" { // OSV entries without a finding do not affect the code
			sort.Strings(s.Calls)
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return levelRank[a.Level] < levelRank[b.Level] || a.Level == b.Level && a.ID < b.ID
	})
	return out, nil
}

func get(m map[string]*Symbol, order *[]string, id string) *Symbol {
	s, ok := m[id]
	if !ok {
		s = &Symbol{ID: id}
		m[id] = s
		*order = append(*order, id)
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
