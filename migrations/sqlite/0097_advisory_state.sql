-- +goose Up
CREATE TABLE advisory_state (
    source       TEXT NOT NULL PRIMARY KEY,
    synced_at    TEXT,
    attempted_at TEXT,
    last_error   TEXT NOT NULL DEFAULT '',
    refused      TEXT NOT NULL DEFAULT '[]'
) STRICT;

-- +goose Down
DROP TABLE advisory_state;
