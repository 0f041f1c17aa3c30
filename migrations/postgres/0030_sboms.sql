-- +goose Up
CREATE TABLE sboms (
    seq         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          text        NOT NULL UNIQUE CHECK (id <> ''),
    module_path text        NOT NULL CHECK (module_path <> ''),
    version     text        NOT NULL CHECK (version <> ''),
    created_at  timestamptz NOT NULL,
    input       bytea       NOT NULL
);

COMMENT ON TABLE sboms IS
    'SBOMs made at ingest, stored as their input so every format renders again byte for byte; rows are never updated.';
COMMENT ON COLUMN sboms.seq IS 'Insertion order; breaks ties between records of one version with the same created_at.';
COMMENT ON COLUMN sboms.id IS 'SPDX document namespace of the document rendered from input at created_at; audit_log.sbom names it.';
COMMENT ON COLUMN sboms.module_path IS 'Canonical module path, case preserved (not escaped).';
COMMENT ON COLUMN sboms.version IS 'Canonical module version.';
COMMENT ON COLUMN sboms.created_at IS 'The document''s creation time.';
COMMENT ON COLUMN sboms.input IS 'The encoded sbom.Module the document is rendered from (sbom.NewRecordInput, JSON).';

-- +goose Down
DROP TABLE sboms;
