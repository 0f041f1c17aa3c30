-- +goose Up
CREATE TABLE sumdb_forks (
    db          TEXT NOT NULL PRIMARY KEY,
    detail      TEXT NOT NULL,
    detected_at TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE sumdb_forks;
