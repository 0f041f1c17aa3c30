-- +goose Up
CREATE TABLE meta (
    path       text        NOT NULL,
    kind       text        NOT NULL,
    data       bytea       NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (path, kind)
);

COMMENT ON TABLE meta IS
    'Cached mutable answers per module path (@v/list, @latest), kept for stale-if-error; rows are replaced.';
COMMENT ON COLUMN meta.path IS 'Module path, case preserved (not escaped).';
COMMENT ON COLUMN meta.kind IS 'Which answer: list or latest.';
COMMENT ON COLUMN meta.data IS 'The body as served.';
COMMENT ON COLUMN meta.fetched_at IS 'When the body was fetched from upstream.';
COMMENT ON INDEX meta_pkey IS 'One cached answer per module path and kind.';

-- +goose Down
DROP TABLE meta;
