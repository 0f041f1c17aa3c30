-- +goose Up
CREATE TABLE artifacts (
    module_path text        NOT NULL,
    version     text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('info', 'mod', 'zip')),
    sha256      text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        bigint      NOT NULL CHECK (size >= 0),
    data        bytea,
    upstream    text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (module_path, version, kind)
);

COMMENT ON TABLE artifacts IS
    'Immutable files of module versions (.info, .mod, .zip) as first stored; rows are never updated.';
COMMENT ON COLUMN artifacts.module_path IS 'Canonical module path, case preserved (not escaped).';
COMMENT ON COLUMN artifacts.version IS 'Canonical module version.';
COMMENT ON COLUMN artifacts.kind IS 'Artifact kind: info, mod or zip.';
COMMENT ON COLUMN artifacts.sha256 IS 'Lower-case hex SHA-256 of the bytes; for zips also the blob-store key.';
COMMENT ON COLUMN artifacts.size IS 'Size of the bytes.';
COMMENT ON COLUMN artifacts.data IS 'The bytes of small artifacts (info, mod); NULL for zips, which live in the blob store.';
COMMENT ON COLUMN artifacts.upstream IS 'Source that served the bytes (URL without password, direct, or file URL).';
COMMENT ON COLUMN artifacts.created_at IS 'When the artifact was first stored.';
COMMENT ON INDEX artifacts_pkey IS 'One artifact per module, version and kind: the first writer wins.';

-- +goose Down
DROP TABLE artifacts;
