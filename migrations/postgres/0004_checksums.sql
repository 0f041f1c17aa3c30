-- +goose Up
CREATE TABLE checksums (
    module_path text        NOT NULL,
    version     text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('mod', 'zip')),
    hash        text        NOT NULL CHECK (hash LIKE 'h1:%'),
    source      text        NOT NULL,
    upstream    text        NOT NULL DEFAULT '',
    client      text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (module_path, version, kind)
);

COMMENT ON TABLE checksums IS
    'Known-good h1: hashes of module zips and go.mod files; every later ingest must match. Rows are never updated.';
COMMENT ON COLUMN checksums.module_path IS 'Module path, case preserved.';
COMMENT ON COLUMN checksums.version IS 'Canonical module version.';
COMMENT ON COLUMN checksums.kind IS 'zip or mod (the go.mod file).';
COMMENT ON COLUMN checksums.hash IS 'The h1: hash as written in go.sum.';
COMMENT ON COLUMN checksums.source IS 'Who vouched: sumdb:<name>, tofu (private module, first fetch) or go.sum:<file> (import).';
COMMENT ON COLUMN checksums.upstream IS 'Where the bytes came from when the hash was recorded.';
COMMENT ON COLUMN checksums.client IS 'Who asked for the bytes when the hash was recorded.';
COMMENT ON COLUMN checksums.created_at IS 'When the hash was recorded.';
COMMENT ON INDEX checksums_pkey IS 'One hash per module, version and kind: the first writer wins.';

-- +goose Down
DROP TABLE checksums;
