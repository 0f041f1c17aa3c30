-- +goose Up
CREATE TABLE meta (
    path       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    data       BLOB NOT NULL,
    fetched_at TEXT NOT NULL,
    PRIMARY KEY (path, kind)
) STRICT;

-- +goose Down
DROP TABLE meta;
