-- +goose Up
CREATE TABLE sessions (
    hash       text        PRIMARY KEY,
    token_id   bigint      NOT NULL REFERENCES tokens (id),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_token ON sessions (token_id);

COMMENT ON TABLE sessions IS
    'Dashboard login sessions (store.Session), shared by every replica. Deleted at logout, when their token is revoked, and (lazily) once expired.';
COMMENT ON COLUMN sessions.hash IS 'Lower-case hex SHA-256 of the cookie value; the cookie itself is never stored.';
COMMENT ON COLUMN sessions.token_id IS 'The token that logged in: the session has its name and role, and ends when it is revoked.';
COMMENT ON COLUMN sessions.created_at IS 'When the session began (UTC, microseconds).';
COMMENT ON COLUMN sessions.expires_at IS 'When it stops being accepted (UTC, microseconds).';
COMMENT ON INDEX sessions_token IS 'Deletes the sessions of a revoked token.';

-- +goose Down
DROP TABLE sessions;
