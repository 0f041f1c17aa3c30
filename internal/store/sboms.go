package store

import (
	"context"
	"errors"
	"time"

	"golang.org/x/mod/module"
)

// SBOMRecord is the stored SBOM of one module version: not a rendered
// document but the input it is rendered from, so every format (SPDX JSON,
// SPDX tag-value, CycloneDX) can be rendered again later, byte for byte the
// same. The store does not read Input; package sbom defines its encoding
// (sbom.NewRecordInput, sbom.DecodeRecordInput).
type SBOMRecord struct {
	// ID is the SPDX document namespace of the document rendered from Input
	// with Created as its creation time: a URL that changes whenever the
	// content does. It is the id audit records name ([AuditEvent].SBOM).
	ID      string
	Module  module.Version // canonical path and version
	Created time.Time      // the document's creation time (UTC, microseconds as stored); required
	Input   []byte         // the encoded sbom.Module; required
}

// Validate reports whether r is a record the store may keep: every field set.
func (r *SBOMRecord) Validate() error {
	switch {
	case r.ID == "":
		return errors.New("SBOM record without an ID")
	case r.Module.Path == "" || r.Module.Version == "":
		return errors.New("SBOM record with an empty module path or version")
	case r.Created.IsZero():
		return errors.New("SBOM record without a creation time")
	case len(r.Input) == 0:
		return errors.New("SBOM record without input")
	}
	return nil
}

// SBOMs stores the SBOMs made at ingest. A version may have several (one per
// ingest that produced new content, for example after a vulnerability became
// known); the latest is the version's current SBOM.
type SBOMs interface {
	// PutSBOM stores r. Storing a record whose ID is already stored does
	// nothing and is not an error (the ID is a digest of the content).
	PutSBOM(ctx context.Context, r *SBOMRecord) error
	// SBOM returns the latest record of m: the one with the latest Created,
	// and of those the one stored last. It returns an error satisfying
	// errors.Is(err, fs.ErrNotExist) if m has none.
	SBOM(ctx context.Context, m module.Version) (*SBOMRecord, error)
	// SBOMByID returns the record with the given ID, or an error satisfying
	// errors.Is(err, fs.ErrNotExist).
	SBOMByID(ctx context.Context, id string) (*SBOMRecord, error)
}
