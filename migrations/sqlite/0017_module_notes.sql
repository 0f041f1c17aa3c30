-- +goose Up
CREATE TABLE module_notes (
    module_path    TEXT    NOT NULL PRIMARY KEY,
    latest_version TEXT    NOT NULL DEFAULT '',
    retractions    TEXT    NOT NULL DEFAULT '[]',
    deprecated     INTEGER NOT NULL DEFAULT 0,
    deprecation    TEXT    NOT NULL DEFAULT '',
    updated_at     TEXT    NOT NULL
) STRICT;

-- +goose Down
DROP TABLE module_notes;
