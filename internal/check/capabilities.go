package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
)

// Change is one module whose version differs between a project's base build
// list (`modgate check --base`) and its current one, with what the new
// version's code can do that the old one's could not (package scanner/caps).
type Change struct {
	Module string `json:"module"`
	From   string `json:"from"` // "" for a module the base did not have
	To     string `json:"to"`
	// Added are the capabilities To adds to From (Init: newly reached from
	// package initialisation); AddedBinaries the programs it adds outside
	// testdata.
	Added         []CapabilityChange `json:"added"`
	AddedBinaries []BinaryChange     `json:"added_binaries,omitempty"`
	// Note says why the versions could not be compared ("" when they were).
	Note string `json:"note,omitempty"`
}

// CapabilityChange is one added capability, where the new version gets it.
type CapabilityChange struct {
	Capability string `json:"capability"` // EXEC, NETWORK, ... (capslock's name without CAPABILITY_)
	Package    string `json:"package"`
	File       string `json:"file"`
	Line       int    `json:"line"`
	Via        string `json:"via"`
	Init       bool   `json:"init"`
	InitPath   string `json:"init_path,omitempty"`
}

// BinaryChange is a program added to a module zip.
type BinaryChange struct {
	File string `json:"file"`
	Kind string `json:"kind"`
}

// CapabilitySource gives the stored capability facts of a version
// (store.Capabilities, or a server's /api/capabilities/...).
type CapabilitySource interface {
	CapabilityFacts(ctx context.Context, m module.Version) (*store.CapabilityFacts, error)
}

// Changes compares the versions of next with those of base, module by
// module, from the capability facts modgate recorded when it fetched them.
// A module whose version did not change is left out; one that is new is
// listed with no From.
func Changes(ctx context.Context, src CapabilitySource, base, next []module.Version) ([]Change, error) {
	old := map[string]string{}
	for _, m := range base {
		old[m.Path] = m.Version
	}
	var out []Change
	for _, m := range next {
		from, ok := old[m.Path]
		if ok && from == m.Version {
			continue
		}
		c := Change{Module: m.Path, From: from, To: m.Version, Added: []CapabilityChange{}}
		nf, err := capFacts(ctx, src, m)
		if err != nil {
			return nil, err
		}
		var bf *store.CapabilityFacts
		if from != "" {
			if bf, err = capFacts(ctx, src, module.Version{Path: m.Path, Version: from}); err != nil {
				return nil, err
			}
		}
		switch {
		case nf == nil:
			c.Note = m.Version + ": capabilities not known to modgate (its zip was never fetched through it)"
		case nf.Failed != "":
			c.Note = m.Version + ": the capability pass failed: " + nf.Failed
		case from == "":
			c.Note = "new in the build list: nothing to compare with"
		case bf == nil || bf.Failed != "":
			c.Note = from + ": capabilities not known to modgate (its zip was never fetched through it)"
		default:
			n := *nf
			policy.CompareCapabilities(bf, &n)
			for _, u := range n.Added {
				c.Added = append(c.Added, CapabilityChange{Capability: strings.TrimPrefix(u.Capability, "CAPABILITY_"), Package: u.Package,
					File: u.File, Line: u.Line, Via: u.Via, Init: u.Init, InitPath: u.InitPath})
			}
			for _, b := range n.AddedBinaries {
				c.AddedBinaries = append(c.AddedBinaries, BinaryChange{File: b.File, Kind: b.Kind})
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Module < out[j].Module })
	return out, nil
}

func capFacts(ctx context.Context, src CapabilitySource, m module.Version) (*store.CapabilityFacts, error) {
	f, err := src.CapabilityFacts(ctx, m)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return f, err
}

// Line renders a change for a pull request: "example.com/m v1.3.3 adds EXEC
// in init (decimal.go:12), NETWORK (net.go:4) (compared with v1.3.2)".
func (c Change) Line() string {
	head := c.Module + " " + c.From + " → " + c.To
	if c.From == "" {
		head = c.Module + " " + c.To
	}
	if c.Note != "" {
		return head + ": " + c.Note
	}
	if len(c.Added) == 0 && len(c.AddedBinaries) == 0 {
		return head + ": adds no capability"
	}
	var parts []string
	for _, a := range c.Added {
		s := a.Capability
		if a.Init {
			s += " in init"
		}
		parts = append(parts, fmt.Sprintf("%s (%s:%d)", s, a.File, a.Line))
	}
	for _, b := range c.AddedBinaries {
		parts = append(parts, fmt.Sprintf("a program %s (%s)", b.File, b.Kind))
	}
	return c.Module + " " + c.To + " adds " + strings.Join(parts, ", ") + " (compared with " + c.From + ")"
}

// RemoteCapabilities reads capability facts from the modgate at server
// (GET /api/versions/<module>/@v/<version>, which needs an auditor's token
// with --auth required); user:password@ in server is sent as Basic
// authentication.
func RemoteCapabilities(server *url.URL) CapabilitySource {
	return &remoteCaps{server: server, client: &http.Client{Timeout: time.Minute}}
}

type remoteCaps struct {
	server *url.URL
	client *http.Client
}

func (r *remoteCaps) CapabilityFacts(ctx context.Context, m module.Version) (*store.CapabilityFacts, error) {
	base := *r.server
	base.User = nil
	ep, err := module.EscapePath(m.Path)
	if err != nil {
		return nil, &module.ModuleError{Path: m.Path, Version: m.Version, Err: err}
	}
	ev, err := module.EscapeVersion(m.Version)
	if err != nil {
		return nil, &module.ModuleError{Path: m.Path, Version: m.Version, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base.String(), "/")+"/api/versions/"+ep+"/@v/"+ev, nil)
	if err != nil {
		return nil, err
	}
	if r.server.User != nil {
		pass, _ := r.server.User.Password()
		req.SetBasicAuth(r.server.User.Username(), pass)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s@%s: asking %s: %w", m.Path, m.Version, base.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s@%s: reading its capabilities: %w", m.Path, m.Version, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fs.ErrNotExist
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%s@%s: %s refused the version request (%s): --base with --server needs an auditor's token", m.Path, m.Version, base.Redacted(), resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s@%s: version: %s: %s", m.Path, m.Version, resp.Status, oneLine(string(body)))
	}
	var v struct {
		Capabilities *store.CapabilityFacts `json:"capabilities"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("%s@%s: the version is not the JSON expected: %w", m.Path, m.Version, err)
	}
	if v.Capabilities == nil {
		return nil, fs.ErrNotExist
	}
	v.Capabilities.Module = m
	return v.Capabilities, nil
}
