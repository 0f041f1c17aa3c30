-- +goose Up
CREATE TABLE sumdb_config (
    key        text        NOT NULL PRIMARY KEY,
    value      bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE sumdb_config IS
    'Checksum-database client state shared by replicas, e.g. the latest verified signed tree head per database.';
COMMENT ON COLUMN sumdb_config.key IS 'Client configuration file name, such as sum.golang.org/latest.';
COMMENT ON COLUMN sumdb_config.value IS 'Its content; replaced only by compare-and-swap.';
COMMENT ON COLUMN sumdb_config.updated_at IS 'When it was last replaced.';

-- +goose Down
DROP TABLE sumdb_config;
