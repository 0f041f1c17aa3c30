-- +goose Up
CREATE TABLE vulndb_state (
    id           integer     NOT NULL PRIMARY KEY CHECK (id = 1),
    source       text        NOT NULL DEFAULT '',
    db_modified  timestamptz,
    synced_at    timestamptz,
    attempted_at timestamptz,
    last_error   text        NOT NULL DEFAULT '',
    refused      jsonb       NOT NULL DEFAULT '[]'
);

COMMENT ON TABLE vulndb_state IS 'The one row describing the synced vulnerability database.';
COMMENT ON COLUMN vulndb_state.id IS 'Always 1.';
COMMENT ON COLUMN vulndb_state.source IS 'Database URL the copy was synced from (no password).';
COMMENT ON COLUMN vulndb_state.db_modified IS 'index/db.json modified of the stored copy.';
COMMENT ON COLUMN vulndb_state.synced_at IS 'When the last successful sync ended.';
COMMENT ON COLUMN vulndb_state.attempted_at IS 'When the last sync attempt ended.';
COMMENT ON COLUMN vulndb_state.last_error IS 'Error of the last attempt, empty if it succeeded.';
COMMENT ON COLUMN vulndb_state.refused IS 'JSON array of entry ids the last successful sync refused as corrupt.';

-- +goose Down
DROP TABLE vulndb_state;
