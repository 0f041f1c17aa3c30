-- +goose Up
CREATE TABLE clone_checks (
    module_path        TEXT    NOT NULL,
    version            TEXT    NOT NULL,
    checked_at         TEXT    NOT NULL,
    original_path      TEXT    NOT NULL DEFAULT '',
    original_version   TEXT    NOT NULL DEFAULT '',
    similarity         INTEGER NOT NULL DEFAULT 0 CHECK (similarity BETWEEN 0 AND 1000),
    added              TEXT    NOT NULL DEFAULT '[]',
    changed            TEXT    NOT NULL DEFAULT '[]',
    module_line_only   INTEGER NOT NULL DEFAULT 0 CHECK (module_line_only IN (0, 1)),
    capabilities       TEXT    NOT NULL DEFAULT '[]',
    capabilities_known INTEGER NOT NULL DEFAULT 0 CHECK (capabilities_known IN (0, 1)),
    PRIMARY KEY (module_path, version)
) STRICT;

-- +goose Down
DROP TABLE clone_checks;
