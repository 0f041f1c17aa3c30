-- +goose Up
CREATE TABLE version_capabilities (
    module_path TEXT    NOT NULL CHECK (module_path <> ''),
    version     TEXT    NOT NULL CHECK (version <> ''),
    base        TEXT    NOT NULL DEFAULT '',
    failed      INTEGER NOT NULL,
    computed_at TEXT    NOT NULL,
    facts       TEXT    NOT NULL, -- store.CapabilityFacts as JSON
    PRIMARY KEY (module_path, version)
) STRICT;

-- +goose Down
DROP TABLE version_capabilities;
