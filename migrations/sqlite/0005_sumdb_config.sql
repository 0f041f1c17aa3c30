-- +goose Up
CREATE TABLE sumdb_config (
    key        TEXT NOT NULL PRIMARY KEY,
    value      BLOB NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE sumdb_config;
