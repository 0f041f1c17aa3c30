-- +goose Up
CREATE TABLE checksums (
    module_path TEXT NOT NULL,
    version     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('mod', 'zip')),
    hash        TEXT NOT NULL CHECK (hash LIKE 'h1:%'),
    source      TEXT NOT NULL,
    upstream    TEXT NOT NULL DEFAULT '',
    client      TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    PRIMARY KEY (module_path, version, kind)
) STRICT;

-- +goose Down
DROP TABLE checksums;
