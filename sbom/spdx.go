package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
)

const noAssertion = "NOASSERTION"

// SPDX returns the SPDX 2.3 document of one module version: the version is
// the described package, its go.mod requirements are packages it DEPENDS_ON.
// It fails with a *module.ModuleError for an invalid path, version,
// requirement or hash, and with an error for invalid Options.
func SPDX(m Module, opts Options) (*v2_3.Document, error) {
	g, err := moduleGraph(m, opts)
	if err != nil {
		return nil, err
	}
	return g.spdx()
}

// ProjectSPDX returns the SPDX 2.3 document of a build list: a root package
// for the project that DEPENDS_ON its direct requirements, and a package for
// every module version with DEPENDS_ON edges along go.mod requirements.
func ProjectSPDX(p Project, opts Options) (*v2_3.Document, error) {
	g, err := projectGraph(p, opts)
	if err != nil {
		return nil, err
	}
	return g.spdx()
}

func spdxTime(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

func (g *graph) creators() []common.Creator {
	cs := []common.Creator{{CreatorType: "Tool", Creator: "modgate-" + toolVersion(g.opts)}}
	if org := entity(g.opts.Organization); org != "" {
		cs = append(cs, common.Creator{CreatorType: "Organization", Creator: org})
	}
	return cs
}

func toolVersion(o Options) string {
	if v := line(o.ToolVersion); v != "" {
		return strings.ReplaceAll(v, " ", "-")
	}
	return "devel"
}

func (g *graph) spdx() (*v2_3.Document, error) {
	root := g.root
	name := root.name
	if root.mod.Version != "" {
		name += "@" + root.mod.Version
	}
	doc := &v2_3.Document{
		SPDXVersion:    v2_3.Version,
		DataLicense:    v2_3.DataLicense,
		SPDXIdentifier: "DOCUMENT",
		DocumentName:   name,
		CreationInfo: &v2_3.CreationInfo{
			Creators: g.creators(),
			Created:  spdxTime(g.opts.Created),
		},
	}
	doc.Packages = append(doc.Packages, spdxPackage(root))
	for _, c := range g.comps {
		doc.Packages = append(doc.Packages, spdxPackage(c))
	}
	doc.OtherLicenses = g.otherLicenses()
	doc.Relationships = append(doc.Relationships, &v2_3.Relationship{
		RefA:         common.MakeDocElementID("", "DOCUMENT"),
		RefB:         common.MakeDocElementID("", root.spdxID),
		Relationship: common.TypeRelationshipDescribe,
	})
	for _, c := range append([]*component{root}, g.comps...) {
		for _, d := range c.deps {
			doc.Relationships = append(doc.Relationships, &v2_3.Relationship{
				RefA:         common.MakeDocElementID("", c.spdxID),
				RefB:         common.MakeDocElementID("", d.spdxID),
				Relationship: common.TypeRelationshipDependsOn,
			})
		}
	}

	// The namespace names this exact content: hash the document without it.
	var b strings.Builder
	if err := json.NewEncoder(&b).Encode(doc); err != nil {
		return nil, fmt.Errorf("sbom: %s: %w", name, err)
	}
	sum := sha256.Sum256([]byte(b.String()))
	doc.DocumentNamespace = strings.TrimSuffix(g.opts.Namespace, "/") + "/" +
		url.PathEscape(strings.ReplaceAll(root.name, "/", "_")) + namespaceVersion(root.mod.Version) +
		"-" + hex.EncodeToString(sum[:])
	return doc, nil
}

func namespaceVersion(v string) string {
	if v == "" {
		return ""
	}
	return "@" + url.PathEscape(v)
}

func spdxPackage(c *component) *v2_3.Package {
	p := &v2_3.Package{
		PackageName:             c.name,
		PackageSPDXIdentifier:   common.ElementID(c.spdxID),
		PackageVersion:          c.mod.Version,
		PackageDownloadLocation: noAssertion,
		FilesAnalyzed:           false,
		PackageSupplier:         &common.Supplier{Supplier: noAssertion},
	}
	if c.supplier.typ != "" {
		p.PackageSupplier = &common.Supplier{SupplierType: c.supplier.typ, Supplier: c.supplier.name}
	}
	if c.purl != "" {
		p.PackageExternalReferences = append(p.PackageExternalReferences, &v2_3.PackageExternalReference{
			Category: common.CategoryPackageManager,
			RefType:  "purl",
			Locator:  c.purl,
		})
	}
	if c.root && c.purl == "" {
		p.PrimaryPackagePurpose = "APPLICATION"
	} else {
		p.PrimaryPackagePurpose = "LIBRARY"
	}
	var comment []string
	if c.stub {
		if c.root {
			comment = append(comment, "Project root: it DEPENDS_ON the project's direct requirements.")
			if c.note != "" {
				comment = append(comment, c.note)
			}
		} else {
			comment = append(comment, "Required in go.mod; not described further here (see this version's own SBOM).")
		}
		p.PackageComment = strings.Join(comment, "\n")
		return p
	}
	if c.download != "" {
		p.PackageDownloadLocation = c.download
	}
	if c.sha256 != "" {
		p.PackageChecksums = append(p.PackageChecksums, common.Checksum{Algorithm: common.SHA256, Value: c.sha256})
	}
	if c.sha512 != "" {
		p.PackageChecksums = append(p.PackageChecksums, common.Checksum{Algorithm: common.SHA512, Value: c.sha512})
	}
	p.PackageLicenseDeclared = noAssertion
	p.PackageLicenseConcluded = noAssertion
	if c.license != "" {
		p.PackageLicenseDeclared = c.license
		p.PackageLicenseConcluded = c.license
	}
	p.PackageLicenseComments = c.licNote
	p.PackageCopyrightText = noAssertion
	if c.copyright != "" {
		p.PackageCopyrightText = c.copyright
	}
	if !c.published.IsZero() {
		p.ReleaseDate = spdxTime(c.published)
	}
	if c.h1 != "" {
		comment = append(comment, "go.sum: "+c.mod.Path+" "+c.mod.Version+" "+c.h1)
	}
	if c.modH1 != "" {
		comment = append(comment, "go.sum: "+c.mod.Path+" "+c.mod.Version+"/go.mod "+c.modH1)
	}
	if !c.published.IsZero() && c.pubSource != "" {
		comment = append(comment, "releaseDate: "+describeSource(c.pubSource))
	}
	if c.status != "" {
		comment = append(comment, "modgate status: "+c.status)
	}
	p.PackageComment = strings.Join(comment, "\n")
	for _, v := range c.vulns {
		p.PackageExternalReferences = append(p.PackageExternalReferences, &v2_3.PackageExternalReference{
			Category:           common.CategorySecurity,
			RefType:            "advisory",
			Locator:            v.url,
			ExternalRefComment: v.describe(),
		})
	}
	return p
}

// describe is the one-paragraph text of a vulnerability.
func (v vuln) describe() string {
	s := v.id
	if len(v.aliases) > 0 {
		s += " (" + strings.Join(v.aliases, ", ") + ")"
	}
	if v.summary != "" {
		s += ": " + v.summary
	}
	if v.fixed != "" {
		s += "; fixed in " + v.fixed
	} else {
		s += "; no fixed version"
	}
	return s
}

// otherLicenses declares every LicenseRef- the packages' expressions name,
// as SPDX requires (hasExtractedLicensingInfos). modgate keeps the name its
// detector gave, not the license text, and the extracted text says so.
func (g *graph) otherLicenses() []*v2_3.OtherLicense {
	byID := map[string]licenseRef{}
	for _, c := range append([]*component{g.root}, g.comps...) {
		for _, r := range c.licRefs {
			byID[r.id] = r
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []*v2_3.OtherLicense
	for _, id := range ids {
		r := byID[id]
		ol := &v2_3.OtherLicense{LicenseIdentifier: id}
		if r.detected == "" {
			ol.LicenseName = "license file not identified"
			ol.ExtractedText = "A license file whose text modgate's license detection could not identify. The text is in the module's zip."
		} else {
			ol.LicenseName = r.detected
			ol.ExtractedText = "The license modgate's license detection (github.com/google/licensecheck) names " + r.detected +
				"; it is not on the SPDX License List. The text is in the module's zip."
		}
		out = append(out, ol)
	}
	return out
}
