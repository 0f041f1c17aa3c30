-- +goose Up
CREATE TABLE zip_files (
    module_path text   NOT NULL,
    version     text   NOT NULL,
    name        text   NOT NULL,
    sha256      text   NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        bigint NOT NULL CHECK (size >= 0),
    PRIMARY KEY (module_path, version, name)
);

CREATE INDEX zip_files_sha256 ON zip_files (sha256);

COMMENT ON TABLE zip_files IS 'The index of file contents: every file of every stored zip, for the clone check.';
COMMENT ON COLUMN zip_files.name IS 'File name inside the zip without the module@version/ prefix.';
COMMENT ON COLUMN zip_files.sha256 IS 'SHA-256 of the file''s bytes, lower-case hex.';
COMMENT ON COLUMN zip_files.size IS 'Uncompressed size in bytes.';
COMMENT ON INDEX zip_files_sha256 IS 'Stored files with given contents: the clone check''s query.';

-- +goose Down
DROP TABLE zip_files;
