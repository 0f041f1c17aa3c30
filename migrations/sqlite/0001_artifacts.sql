-- Times are TEXT in UTC, formatted 2006-01-02T15:04:05.000000Z (fixed width, so
-- they sort as text and SQLite's date functions read them).

-- +goose Up
CREATE TABLE artifacts (
    module_path TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('info', 'mod', 'zip')),
    sha256      TEXT    NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    size        INTEGER NOT NULL CHECK (size >= 0),
    data        BLOB,
    upstream    TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (module_path, version, kind)
) STRICT;

-- +goose Down
DROP TABLE artifacts;
