-- +goose Up
CREATE TABLE zip_files (
    module_path TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    size        INTEGER NOT NULL CHECK (size >= 0),
    PRIMARY KEY (module_path, version, name)
) STRICT;

-- Files with these contents: the clone check's query.
CREATE INDEX zip_files_sha256 ON zip_files (sha256);

-- +goose Down
DROP TABLE zip_files;
