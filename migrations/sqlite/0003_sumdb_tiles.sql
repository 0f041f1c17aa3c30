-- +goose Up
CREATE TABLE sumdb_tiles (
    db         TEXT NOT NULL,
    path       TEXT NOT NULL,
    data       BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (db, path)
) STRICT;

-- +goose Down
DROP TABLE sumdb_tiles;
