-- +goose Up
CREATE TABLE vuln_entries (
    id            TEXT NOT NULL PRIMARY KEY,
    modified      TEXT NOT NULL,
    published     TEXT,
    withdrawn     TEXT,
    aliases       TEXT NOT NULL DEFAULT '[]',
    summary       TEXT NOT NULL DEFAULT '',
    review_status TEXT NOT NULL,
    modules       TEXT NOT NULL DEFAULT '[]'
) STRICT;

-- +goose Down
DROP TABLE vuln_entries;
