package sbom

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// CycloneDXVersion is the CycloneDX specification version of the BOMs this
// package makes and encodes.
const CycloneDXVersion = cdx.SpecVersion1_6

// CycloneDX returns the CycloneDX BOM of one module version: the version is
// metadata.component, its go.mod requirements are components it depends on,
// and its known vulnerabilities are the vulnerabilities section. Errors are
// those of [SPDX].
func CycloneDX(m Module, opts Options) (*cdx.BOM, error) {
	g, err := moduleGraph(m, opts)
	if err != nil {
		return nil, err
	}
	return g.cyclonedx()
}

// ProjectCycloneDX returns the CycloneDX BOM of a build list, with the same
// content as [ProjectSPDX].
func ProjectCycloneDX(p Project, opts Options) (*cdx.BOM, error) {
	g, err := projectGraph(p, opts)
	if err != nil {
		return nil, err
	}
	return g.cyclonedx()
}

func (g *graph) cyclonedx() (*cdx.BOM, error) {
	bom := cdx.NewBOM()
	bom.SpecVersion = CycloneDXVersion
	bom.JSONSchema = "http://cyclonedx.org/schema/bom-1.6.schema.json"
	bom.Version = 1
	tool := cdx.Component{Type: cdx.ComponentTypeApplication, Name: "modgate", Version: toolVersion(g.opts)}
	bom.Metadata = &cdx.Metadata{
		Timestamp: spdxTime(g.opts.Created),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{tool}},
	}
	if org := entity(g.opts.Organization); org != "" {
		bom.Metadata.Authors = &[]cdx.OrganizationalContact{{Name: org}}
	}
	root := cdxComponent(g.root)
	bom.Metadata.Component = &root
	comps := make([]cdx.Component, 0, len(g.comps))
	for _, c := range g.comps {
		comps = append(comps, cdxComponent(c))
	}
	if len(comps) > 0 {
		bom.Components = &comps
	}
	var deps []cdx.Dependency
	for _, c := range append([]*component{g.root}, g.comps...) {
		d := cdx.Dependency{Ref: c.bomRef}
		if len(c.deps) > 0 {
			refs := make([]string, 0, len(c.deps))
			for _, x := range c.deps {
				refs = append(refs, x.bomRef)
			}
			d.Dependencies = &refs
		}
		deps = append(deps, d)
	}
	bom.Dependencies = &deps
	if vs := g.cdxVulns(); len(vs) > 0 {
		bom.Vulnerabilities = &vs
	}

	// The serial number names this exact content: a name-based UUID of the
	// BOM without it.
	b, err := json.Marshal(bom)
	if err != nil {
		return nil, fmt.Errorf("sbom: %s: %w", g.root.name, err)
	}
	bom.SerialNumber = "urn:uuid:" + uuid5(b)
	return bom, nil
}

// uuid5 returns an RFC 9562 version 5 (SHA-1, name-based) UUID of name in
// the URL namespace.
func uuid5(name []byte) string {
	ns := []byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	h := sha1.New()
	h.Write(ns)
	h.Write(name)
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func cdxComponent(c *component) cdx.Component {
	out := cdx.Component{
		BOMRef:     c.bomRef,
		Type:       cdx.ComponentTypeLibrary,
		Name:       c.name,
		Version:    c.mod.Version,
		PackageURL: c.purl,
	}
	if c.root && c.purl == "" {
		out.Type = cdx.ComponentTypeApplication
	}
	if c.supplier.typ != "" {
		out.Supplier = &cdx.OrganizationalEntity{Name: c.supplier.name}
	}
	if c.note != "" {
		out.Properties = &[]cdx.Property{{Name: "modgate:note", Value: c.note}}
	}
	if c.stub {
		return out
	}
	var hashes []cdx.Hash
	if c.sha256 != "" {
		hashes = append(hashes, cdx.Hash{Algorithm: cdx.HashAlgoSHA256, Value: c.sha256})
	}
	if c.sha512 != "" {
		hashes = append(hashes, cdx.Hash{Algorithm: cdx.HashAlgoSHA512, Value: c.sha512})
	}
	if len(hashes) > 0 {
		out.Hashes = &hashes
	}
	if c.license != "" {
		out.Licenses = &cdx.Licenses{{Expression: c.license}}
	}
	out.Copyright = c.copyright
	if c.download != "" {
		out.ExternalReferences = &[]cdx.ExternalReference{{Type: cdx.ERTypeDistribution, URL: c.download}}
	}
	var props []cdx.Property
	add := func(name, value string) {
		if value != "" {
			props = append(props, cdx.Property{Name: name, Value: value})
		}
	}
	add("modgate:go.sum:h1", c.h1)
	add("modgate:go.sum:go.mod.h1", c.modH1)
	add("modgate:license.comment", c.licNote)
	if !c.published.IsZero() {
		add("modgate:published", spdxTime(c.published))
		add("modgate:published.source", c.pubSource)
	}
	add("modgate:status", c.status)
	if len(props) > 0 {
		out.Properties = &props
	}
	return out
}

// cdxVulns lists each vulnerability once, affecting every component it was
// reported for.
func (g *graph) cdxVulns() []cdx.Vulnerability {
	byID := map[string]*cdx.Vulnerability{}
	var ids []string
	for _, c := range append([]*component{g.root}, g.comps...) {
		for _, v := range c.vulns {
			cv := byID[v.id]
			if cv == nil {
				cv = &cdx.Vulnerability{
					BOMRef:      "vuln:" + v.id,
					ID:          v.id,
					Source:      vulnSource(v.id, advisoryURL(v.id)),
					Description: v.summary,
					Advisories:  &[]cdx.Advisory{{URL: v.url}},
					Affects:     &[]cdx.Affects{},
				}
				if len(v.aliases) > 0 {
					refs := make([]cdx.VulnerabilityReference, 0, len(v.aliases))
					for _, a := range v.aliases {
						refs = append(refs, cdx.VulnerabilityReference{ID: a, Source: vulnSource(a, advisoryURL(a))})
					}
					cv.References = &refs
				}
				byID[v.id] = cv
				ids = append(ids, v.id)
			}
			a := cdx.Affects{Ref: c.bomRef, Range: &[]cdx.AffectedVersions{{Version: c.mod.Version, Status: cdx.VulnerabilityStatusAffected}}}
			*cv.Affects = append(*cv.Affects, a)
			if v.fixed != "" {
				rec := "Upgrade " + c.mod.Path + " to " + v.fixed + " or later."
				if cv.Recommendation == "" {
					cv.Recommendation = rec
				} else if !strings.Contains(cv.Recommendation, rec) {
					cv.Recommendation += "\n" + rec
				}
			}
		}
	}
	sort.Strings(ids)
	out := make([]cdx.Vulnerability, 0, len(ids))
	for _, id := range ids {
		out = append(out, *byID[id])
	}
	return out
}

// vulnSource names the database an id belongs to.
func vulnSource(id, url string) *cdx.Source {
	s := &cdx.Source{URL: url}
	switch {
	case strings.HasPrefix(id, "GO-"):
		s.Name = "Go Vulnerability Database"
	case strings.HasPrefix(id, "GHSA-"):
		s.Name = "GitHub Advisory Database"
	case strings.HasPrefix(id, "CVE-"):
		s.Name = "NVD"
	default:
		s.Name = "OSV"
	}
	return s
}
