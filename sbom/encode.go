package sbom

import (
	"fmt"
	"io"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
	"github.com/spdx/tools-golang/tagvalue"
)

// Format is an SBOM serialisation.
type Format int

const (
	SPDXJSON      Format = iota + 1 // SPDX 2.3 JSON
	SPDXTagValue                    // SPDX 2.3 tag-value
	CycloneDXJSON                   // CycloneDX 1.6 JSON
)

var formatNames = map[Format]string{
	SPDXJSON:      "spdx-json",
	SPDXTagValue:  "spdx-tv",
	CycloneDXJSON: "cyclonedx-json",
}

// ParseFormat parses a format name: "spdx-json", "spdx-tv" or "cyclonedx-json".
func ParseFormat(s string) (Format, error) {
	for f, name := range formatNames {
		if s == name {
			return f, nil
		}
	}
	return 0, fmt.Errorf("sbom: unknown format %q (want spdx-json, spdx-tv or cyclonedx-json)", s)
}

// String returns the name ParseFormat accepts.
func (f Format) String() string {
	if s, ok := formatNames[f]; ok {
		return s
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// ContentType is the media type to serve the format with.
func (f Format) ContentType() string {
	switch f {
	case SPDXJSON:
		return "application/spdx+json"
	case SPDXTagValue:
		return "text/spdx; charset=utf-8"
	case CycloneDXJSON:
		return "application/vnd.cyclonedx+json; version=1.6"
	}
	return "application/octet-stream"
}

// Write renders the SBOM of one module version in format f to w.
func Write(w io.Writer, f Format, m Module, opts Options) error {
	switch f {
	case SPDXJSON, SPDXTagValue:
		doc, err := SPDX(m, opts)
		if err != nil {
			return err
		}
		return encodeSPDX(w, f, doc)
	case CycloneDXJSON:
		bom, err := CycloneDX(m, opts)
		if err != nil {
			return err
		}
		return EncodeCycloneDXJSON(w, bom)
	}
	return fmt.Errorf("sbom: unknown format %v", f)
}

// WriteProject renders the SBOM of a build list in format f to w.
func WriteProject(w io.Writer, f Format, p Project, opts Options) error {
	switch f {
	case SPDXJSON, SPDXTagValue:
		doc, err := ProjectSPDX(p, opts)
		if err != nil {
			return err
		}
		return encodeSPDX(w, f, doc)
	case CycloneDXJSON:
		bom, err := ProjectCycloneDX(p, opts)
		if err != nil {
			return err
		}
		return EncodeCycloneDXJSON(w, bom)
	}
	return fmt.Errorf("sbom: unknown format %v", f)
}

func encodeSPDX(w io.Writer, f Format, doc *v2_3.Document) error {
	if f == SPDXTagValue {
		return EncodeSPDXTagValue(w, doc)
	}
	return EncodeSPDXJSON(w, doc)
}

// EncodeSPDXJSON writes doc as indented SPDX JSON. "<", ">" and "&" are not
// escaped: JSON needs no escaping of them, and the output is not HTML.
func EncodeSPDXJSON(w io.Writer, doc *v2_3.Document) error {
	return spdxjson.Write(doc, w, spdxjson.Indent("  "), spdxjson.EscapeHTML(false))
}

// EncodeCycloneDXJSON writes bom as indented CycloneDX 1.6 JSON.
func EncodeCycloneDXJSON(w io.Writer, bom *cdx.BOM) error {
	return cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON).
		SetPretty(true).
		SetEscapeHTML(false).
		EncodeVersion(bom, CycloneDXVersion)
}

// EncodeSPDXTagValue writes doc as SPDX tag-value. Tag-value has no escape
// for its line structure and <text> markers, so it first checks every value
// it will write (see [TagValueError]); nothing is written if one fails.
func EncodeSPDXTagValue(w io.Writer, doc *v2_3.Document) error {
	if err := checkTagValue(doc); err != nil {
		return err
	}
	return tagvalue.Write(doc, w)
}

// TagValueError reports a value that SPDX tag-value cannot carry.
type TagValueError struct {
	Field  string // e.g. "PackageComment of SPDXRef-Package-..."
	Reason string
}

func (e *TagValueError) Error() string {
	return "sbom: cannot write SPDX tag-value: " + e.Field + " " + e.Reason
}

// checkTagValue checks the values the tag-value writer prints: single-line
// values must have no line break, no surrounding space (the reader trims it)
// and no <text> marker; free text may span lines (it is put in
// <text>...</text>) but must not contain "</text>", nor "<text>" unless it
// spans lines (a one-line value is written bare, and the reader would take
// its "<text>" for a marker).
func checkTagValue(doc *v2_3.Document) error {
	var err error
	single := func(field, v string) {
		if err != nil {
			return
		}
		switch {
		case strings.ContainsAny(v, "\r\n"):
			err = &TagValueError{field, "has a line break"}
		case strings.TrimSpace(v) != v:
			err = &TagValueError{field, "has surrounding space"}
		case strings.Contains(v, "<text>") || strings.Contains(v, "</text>"):
			err = &TagValueError{field, "contains a <text> marker"}
		}
	}
	free := func(field, v string) {
		if err != nil {
			return
		}
		multi := strings.Contains(v, "\n")
		switch {
		case strings.Contains(v, "</text>"):
			err = &TagValueError{field, `contains "</text>"`}
		case !multi && strings.Contains(v, "<text>"):
			err = &TagValueError{field, `contains "<text>" on one line`}
		case strings.Contains(v, "\r"):
			err = &TagValueError{field, "has a carriage return"}
		case !multi && strings.TrimSpace(v) != v:
			err = &TagValueError{field, "has surrounding space"}
		}
	}
	single("DocumentName", doc.DocumentName)
	single("DocumentNamespace", doc.DocumentNamespace)
	free("DocumentComment", doc.DocumentComment)
	if ci := doc.CreationInfo; ci != nil {
		for _, c := range ci.Creators {
			single("Creator", c.CreatorType+": "+c.Creator)
		}
		free("CreatorComment", ci.CreatorComment)
	}
	for _, p := range doc.Packages {
		of := " of SPDXRef-" + string(p.PackageSPDXIdentifier)
		single("PackageName"+of, p.PackageName)
		single("PackageVersion"+of, p.PackageVersion)
		if s := p.PackageSupplier; s != nil {
			single("PackageSupplier"+of, s.SupplierType+s.Supplier)
		}
		single("PackageDownloadLocation"+of, p.PackageDownloadLocation)
		single("PackageLicenseDeclared"+of, p.PackageLicenseDeclared)
		single("PackageLicenseConcluded"+of, p.PackageLicenseConcluded)
		free("PackageLicenseComments"+of, p.PackageLicenseComments)
		free("PackageCopyrightText"+of, p.PackageCopyrightText)
		free("PackageSummary"+of, p.PackageSummary)
		free("PackageDescription"+of, p.PackageDescription)
		free("PackageComment"+of, p.PackageComment)
		for _, r := range p.PackageExternalReferences {
			single("ExternalRef"+of, r.Category+" "+r.RefType+" "+r.Locator)
			if strings.Count(r.Category+" "+r.RefType+" "+r.Locator, " ") != 2 && err == nil {
				err = &TagValueError{"ExternalRef" + of, "has a space in its category, type or locator"}
			}
			free("ExternalRefComment"+of, r.ExternalRefComment)
		}
	}
	for _, r := range doc.Relationships {
		free("RelationshipComment", r.RelationshipComment)
	}
	for _, a := range doc.Annotations {
		free("AnnotationComment", a.AnnotationComment)
	}
	return err
}
