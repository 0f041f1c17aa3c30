-- +goose Up
CREATE TABLE sumdb_tree_sizes (
    db   text        NOT NULL,
    size bigint      NOT NULL,
    seen timestamptz NOT NULL,
    PRIMARY KEY (db, size)
);

COMMENT ON TABLE sumdb_tree_sizes IS
    'How each checksum database''s log grew as modgate saw it, store.TreeSizes: every record whose index is below size existed at seen. A publication-time source (published no later than seen).';
COMMENT ON COLUMN sumdb_tree_sizes.db IS 'The checksum database''s name, such as sum.golang.org.';
COMMENT ON COLUMN sumdb_tree_sizes.size IS 'Size of a verified signed tree head.';
COMMENT ON COLUMN sumdb_tree_sizes.seen IS 'When modgate first saw a verified tree head this large (UTC, microseconds).';
COMMENT ON INDEX sumdb_tree_sizes_pkey IS 'One row per size; the smallest size above a record''s index dates it.';

-- +goose Down
DROP TABLE sumdb_tree_sizes;
