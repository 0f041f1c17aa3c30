-- +goose Up
CREATE TABLE advisory_entries (
    id        TEXT NOT NULL PRIMARY KEY,
    source    TEXT NOT NULL,
    modified  TEXT NOT NULL,
    published TEXT,
    withdrawn TEXT,
    aliases   TEXT NOT NULL DEFAULT '[]',
    summary   TEXT NOT NULL DEFAULT '',
    modules   TEXT NOT NULL DEFAULT '[]',
    json      BLOB NOT NULL
) STRICT;
CREATE INDEX advisory_entries_source ON advisory_entries (source);

-- +goose Down
DROP TABLE advisory_entries;
