-- +goose Up
CREATE TABLE version_requires (
    module_path TEXT NOT NULL,
    version     TEXT NOT NULL,
    req_path    TEXT NOT NULL,
    req_version TEXT NOT NULL,
    PRIMARY KEY (module_path, version, req_path, req_version)
) STRICT;
CREATE INDEX version_requires_req ON version_requires (req_path);

-- +goose Down
DROP TABLE version_requires;
