-- +goose Up
CREATE TABLE sboms (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE CHECK (id <> ''),
    module_path TEXT    NOT NULL CHECK (module_path <> ''),
    version     TEXT    NOT NULL CHECK (version <> ''),
    created_at  TEXT    NOT NULL,
    input       BLOB    NOT NULL -- the encoded sbom.Module (sbom.NewRecordInput)
) STRICT;

-- +goose Down
DROP TABLE sboms;
