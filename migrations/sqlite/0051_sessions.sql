-- +goose Up
CREATE TABLE sessions (
    hash       TEXT    PRIMARY KEY,                 -- SHA-256 of the cookie value, hex
    token_id   INTEGER NOT NULL REFERENCES tokens (id),
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
) STRICT;
CREATE INDEX sessions_token ON sessions (token_id);

-- +goose Down
DROP TABLE sessions;
