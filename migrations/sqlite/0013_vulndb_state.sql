-- +goose Up
CREATE TABLE vulndb_state (
    id           INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    source       TEXT    NOT NULL DEFAULT '',
    db_modified  TEXT,
    synced_at    TEXT,
    attempted_at TEXT,
    last_error   TEXT    NOT NULL DEFAULT '',
    refused      TEXT    NOT NULL DEFAULT '[]'
) STRICT;

-- +goose Down
DROP TABLE vulndb_state;
