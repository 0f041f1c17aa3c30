package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/mod/module"
)

// A record is how modgate keeps the SBOM of a version: not a rendered
// document but the [Module] it is rendered from (and the settings it was
// first rendered with), so that every format can be rendered again later,
// byte for byte the same. The store keeps the record's input as opaque bytes
// next to its id and creation time.
//
// At ingest:
//
//	opts := sbom.Options{Created: now, Namespace: base, ToolVersion: v, Organization: org}
//	id, input, err := sbom.NewRecord(m, opts)
//	// store.SBOMRecord{ID: id, Module: {m.Path, m.Version}, Created: now, Input: input}
//
// To render a record in any format:
//
//	m, opts, err := sbom.DecodeRecord(input, created, base)
//	err = sbom.Write(w, format, m, opts)
//
// The id is the SPDX document namespace of that rendering, which changes with
// the content (see the package documentation).

// recordVersion is the version of the record encoding; a reader refuses a
// newer one rather than drop what it does not know.
const recordVersion = 1

type recordJSON struct {
	V       int             `json:"v"`
	Module  moduleJSON      `json:"module"`
	Options *recordOptsJSON `json:"options,omitempty"`
}

// recordOptsJSON is what a record keeps of its Options: all but Created,
// which the store keeps as the record's creation time.
type recordOptsJSON struct {
	Namespace    string `json:"namespace"`
	ToolVersion  string `json:"toolVersion,omitempty"`
	Organization string `json:"organization,omitempty"`
}

// moduleJSON is the stable encoding of a Module: its own names, so that a
// renamed Go field does not change stored records.
type moduleJSON struct {
	Path             string        `json:"path"`
	Version          string        `json:"version"`
	Time             *time.Time    `json:"time,omitempty"`
	TimeSource       string        `json:"timeSource,omitempty"`
	SHA256           string        `json:"sha256,omitempty"`
	SHA512           string        `json:"sha512,omitempty"`
	H1               string        `json:"h1,omitempty"`
	ModH1            string        `json:"modH1,omitempty"`
	DownloadLocation string        `json:"downloadLocation,omitempty"`
	License          string        `json:"license,omitempty"`
	LicenseFiles     []string      `json:"licenseFiles,omitempty"`
	Copyright        string        `json:"copyright,omitempty"`
	Supplier         string        `json:"supplier,omitempty"`
	Requires         []requireJSON `json:"requires,omitempty"`
	Vulns            []vulnJSON    `json:"vulns,omitempty"`
	Status           string        `json:"status,omitempty"`
}

type requireJSON struct {
	Path    string `json:"path"`
	Version string `json:"version"`
}

type vulnJSON struct {
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	Summary string   `json:"summary,omitempty"`
	URL     string   `json:"url,omitempty"`
	Fixed   string   `json:"fixed,omitempty"`
}

// NewRecord returns the id and the encoded input of the record of m rendered
// with opts: id is the document namespace of SPDX(m, opts), and input keeps
// m and opts but opts.Created (store that as the record's creation time). It
// fails where [SPDX] fails.
func NewRecord(m Module, opts Options) (id string, input []byte, err error) {
	doc, err := SPDX(m, opts)
	if err != nil {
		return "", nil, err
	}
	input, err = encodeRecord(m, &recordOptsJSON{
		Namespace:    opts.Namespace,
		ToolVersion:  opts.ToolVersion,
		Organization: opts.Organization,
	})
	if err != nil {
		return "", nil, err
	}
	return doc.DocumentNamespace, input, nil
}

// NewRecordInput returns the encoded input of m alone, without generation
// settings: a record made from it renders with the settings of whoever
// renders it, so its id must be computed with those ([RecordID]). Prefer
// [NewRecord], whose records render the same after an upgrade or a change of
// settings. The encoding is stable: the same m gives the same bytes.
func NewRecordInput(m Module) ([]byte, error) {
	if err := checkModule(module.Version{Path: m.Path, Version: m.Version}); err != nil {
		return nil, err
	}
	return encodeRecord(m, nil)
}

// RecordID returns the id of the record of m rendered with opts: the SPDX
// document namespace of SPDX(m, opts).
func RecordID(m Module, opts Options) (string, error) {
	doc, err := SPDX(m, opts)
	if err != nil {
		return "", err
	}
	return doc.DocumentNamespace, nil
}

// DecodeRecordInput decodes input made by [NewRecord] or [NewRecordInput]
// and returns its Module.
func DecodeRecordInput(input []byte) (Module, error) {
	m, _, err := decodeRecord(input)
	return m, err
}

// DecodeRecord decodes a record's input and returns the Module and the
// Options to render it with: created as Created, and the settings kept in
// the record, or for input without them (from [NewRecordInput]) those of
// base.
func DecodeRecord(input []byte, created time.Time, base Options) (Module, Options, error) {
	m, o, err := decodeRecord(input)
	if err != nil {
		return Module{}, Options{}, err
	}
	opts := base
	opts.Created = created
	if o != nil {
		opts.Namespace, opts.ToolVersion, opts.Organization = o.Namespace, o.ToolVersion, o.Organization
	}
	return m, opts, nil
}

func encodeRecord(m Module, o *recordOptsJSON) ([]byte, error) {
	j := recordJSON{V: recordVersion, Options: o, Module: moduleJSON{
		Path:             m.Path,
		Version:          m.Version,
		SHA256:           m.SHA256,
		SHA512:           m.SHA512,
		H1:               m.H1,
		ModH1:            m.ModH1,
		DownloadLocation: m.DownloadLocation,
		License:          m.License,
		LicenseFiles:     m.LicenseFiles,
		Copyright:        m.Copyright,
		Supplier:         m.Supplier,
		Status:           m.Status,
		TimeSource:       m.TimeSource,
	}}
	if !m.Time.IsZero() {
		t := m.Time.UTC()
		j.Module.Time = &t
	}
	for _, r := range m.Requires {
		j.Module.Requires = append(j.Module.Requires, requireJSON(r))
	}
	for _, v := range m.Vulns {
		j.Module.Vulns = append(j.Module.Vulns, vulnJSON(v))
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return nil, fmt.Errorf("sbom: encode record of %s@%s: %w", m.Path, m.Version, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func decodeRecord(input []byte) (Module, *recordOptsJSON, error) {
	var j recordJSON
	if err := json.Unmarshal(input, &j); err != nil {
		return Module{}, nil, fmt.Errorf("sbom: decode record: %w", err)
	}
	if j.V != recordVersion {
		return Module{}, nil, fmt.Errorf("sbom: decode record: encoding version %d, want %d (written by a newer modgate?)", j.V, recordVersion)
	}
	mj := j.Module
	if mj.Path == "" || mj.Version == "" {
		return Module{}, nil, errors.New("sbom: decode record: no module path or version")
	}
	m := Module{
		Path:             mj.Path,
		Version:          mj.Version,
		SHA256:           mj.SHA256,
		SHA512:           mj.SHA512,
		H1:               mj.H1,
		ModH1:            mj.ModH1,
		DownloadLocation: mj.DownloadLocation,
		License:          mj.License,
		LicenseFiles:     mj.LicenseFiles,
		Copyright:        mj.Copyright,
		Supplier:         mj.Supplier,
		Status:           mj.Status,
		TimeSource:       mj.TimeSource,
	}
	if mj.Time != nil {
		m.Time = mj.Time.UTC()
	}
	for _, r := range mj.Requires {
		m.Requires = append(m.Requires, module.Version(r))
	}
	for _, v := range mj.Vulns {
		m.Vulns = append(m.Vulns, Vuln(v))
	}
	return m, j.Options, nil
}
