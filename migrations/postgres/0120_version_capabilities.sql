-- +goose Up
CREATE TABLE version_capabilities (
    module_path text        NOT NULL CHECK (module_path <> ''),
    version     text        NOT NULL CHECK (version <> ''),
    base        text        NOT NULL DEFAULT '',
    failed      boolean     NOT NULL,
    computed_at timestamptz NOT NULL,
    facts       text        NOT NULL,
    PRIMARY KEY (module_path, version)
);

COMMENT ON TABLE version_capabilities IS
    'Capabilities of each ingested zip (scanner/caps) and what they add to the previous version; one row per version, replaced when computed again.';
COMMENT ON COLUMN version_capabilities.module_path IS 'Canonical module path, case preserved (not escaped).';
COMMENT ON COLUMN version_capabilities.version IS 'Canonical module version.';
COMMENT ON COLUMN version_capabilities.base IS 'The version the difference is computed against; empty when there was none.';
COMMENT ON COLUMN version_capabilities.failed IS 'The pass could not run (facts hold why); such a row is no base for later versions.';
COMMENT ON COLUMN version_capabilities.computed_at IS 'When the pass ran.';
COMMENT ON COLUMN version_capabilities.facts IS 'The store.CapabilityFacts as JSON: uses with file and line, binaries, the difference to base.';

-- +goose Down
DROP TABLE version_capabilities;
