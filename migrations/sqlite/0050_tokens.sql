-- +goose Up
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: audit records name it
    name         TEXT    NOT NULL CHECK (name <> ''),
    role         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,                  -- non-secret lookup key
    hash         TEXT    NOT NULL,                  -- SHA-256 of the token, hex; the token is never stored
    created_at   TEXT    NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
) STRICT;
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;
CREATE INDEX tokens_prefix ON tokens (prefix);

-- +goose Down
DROP TABLE tokens;
