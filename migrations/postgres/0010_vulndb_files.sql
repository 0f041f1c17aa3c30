-- +goose Up
CREATE TABLE vulndb_files (
    path text  NOT NULL PRIMARY KEY,
    json bytea NOT NULL,
    gz   bytea NOT NULL
);

COMMENT ON TABLE vulndb_files IS
    'The synced copy of the Go vulnerability database, file by file, as read (served again under /vulndb/).';
COMMENT ON COLUMN vulndb_files.path IS 'Endpoint path with the .json suffix: index/db.json, index/modules.json, index/vulns.json, ID/<id>.json.';
COMMENT ON COLUMN vulndb_files.json IS 'The .json bytes.';
COMMENT ON COLUMN vulndb_files.gz IS 'The .json.gz bytes (as served by an http source, else gzip of json).';

-- +goose Down
DROP TABLE vulndb_files;
