-- +goose Up
CREATE TABLE vulndb_files (
    path TEXT NOT NULL PRIMARY KEY,
    json BLOB NOT NULL,
    gz   BLOB NOT NULL
) STRICT;

-- +goose Down
DROP TABLE vulndb_files;
