-- +goose Up
-- How each checksum database's log grew as modgate saw it (store.TreeSizes):
-- every record below size existed at seen. A publication-time source.
CREATE TABLE sumdb_tree_sizes (
    db   TEXT    NOT NULL,
    size INTEGER NOT NULL,
    seen TEXT    NOT NULL, -- when modgate first saw a verified signed tree head this large
    PRIMARY KEY (db, size)
) STRICT;

-- +goose Down
DROP TABLE sumdb_tree_sizes;
