-- +goose Up
CREATE TABLE advisory_state (
    source       text        NOT NULL PRIMARY KEY,
    synced_at    timestamptz,
    attempted_at timestamptz,
    last_error   text        NOT NULL DEFAULT '',
    refused      jsonb       NOT NULL DEFAULT '[]'
);

COMMENT ON TABLE advisory_state IS 'The sync state of each --advisories feed.';
COMMENT ON COLUMN advisory_state.source IS 'The feed URL, without password.';
COMMENT ON COLUMN advisory_state.synced_at IS 'When the last successful sync ended.';
COMMENT ON COLUMN advisory_state.attempted_at IS 'When the last attempt ended.';
COMMENT ON COLUMN advisory_state.last_error IS 'The last attempt''s error, empty if it succeeded (the last good data stays in use).';
COMMENT ON COLUMN advisory_state.refused IS 'Files the last successful sync refused (JSON array).';

-- +goose Down
DROP TABLE advisory_state;
