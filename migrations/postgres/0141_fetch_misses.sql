-- +goose Up
CREATE TABLE fetch_misses (
    key        text        NOT NULL PRIMARY KEY,
    reason     text        NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX fetch_misses_expires_at ON fetch_misses (expires_at);

COMMENT ON TABLE fetch_misses IS 'Artifacts upstream answered not found (404/410), remembered fleet-wide for a short time so that no replica asks again meanwhile.';
COMMENT ON COLUMN fetch_misses.key IS 'The artifact: module path, version and kind.';
COMMENT ON COLUMN fetch_misses.reason IS 'The upstream answer in modgate''s words, as clients are told.';
COMMENT ON COLUMN fetch_misses.expires_at IS 'Until when the answer is remembered.';
COMMENT ON INDEX fetch_misses_expires_at IS 'Removal of expired rows.';

-- +goose Down
DROP TABLE fetch_misses;
