-- +goose Up
CREATE TABLE sumdb_tiles (
    db         text        NOT NULL,
    path       text        NOT NULL,
    data       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (db, path)
);

COMMENT ON TABLE sumdb_tiles IS 'Cached checksum-database tiles, immutable once published; the first copy is kept.';
COMMENT ON COLUMN sumdb_tiles.db IS 'Checksum database name, e.g. sum.golang.org.';
COMMENT ON COLUMN sumdb_tiles.path IS 'Tile path below the database, e.g. tile/8/0/x001/234.p/5.';
COMMENT ON COLUMN sumdb_tiles.data IS 'The tile bytes.';
COMMENT ON COLUMN sumdb_tiles.created_at IS 'When the tile was first stored.';
COMMENT ON INDEX sumdb_tiles_pkey IS 'One tile per checksum database and path.';

-- +goose Down
DROP TABLE sumdb_tiles;
