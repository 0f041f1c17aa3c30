-- +goose Up
CREATE TABLE fetch_misses (
    key        TEXT NOT NULL PRIMARY KEY, -- module path, version and kind
    reason     TEXT NOT NULL,             -- the upstream answer in modgate's words
    expires_at TEXT NOT NULL
) STRICT;

CREATE INDEX fetch_misses_expires_at ON fetch_misses (expires_at);

-- +goose Down
DROP TABLE fetch_misses;
