-- +goose Up
CREATE TABLE tokens (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL CHECK (name <> ''),
    role         text        NOT NULL,
    prefix       text        NOT NULL,
    hash         text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;
CREATE INDEX tokens_prefix ON tokens (prefix);

COMMENT ON TABLE tokens IS
    'API tokens (store.Token), sent by clients as the HTTP Basic password. The token itself is never stored. Revoked rows stay (token list shows them).';
COMMENT ON COLUMN tokens.id IS 'Assigned on insert, never reused.';
COMMENT ON COLUMN tokens.name IS 'Unique among live tokens; audit records name the client by it.';
COMMENT ON COLUMN tokens.role IS 'reader, auditor or admin.';
COMMENT ON COLUMN tokens.prefix IS 'Non-secret leading characters of the token: finds the row, and identifies a leaked token.';
COMMENT ON COLUMN tokens.hash IS 'Lower-case hex SHA-256 of the whole token, compared in constant time.';
COMMENT ON COLUMN tokens.created_at IS 'When it was created (UTC, microseconds).';
COMMENT ON COLUMN tokens.last_used_at IS 'Last recorded use, written at most about once a minute per process; NULL: never used.';
COMMENT ON COLUMN tokens.revoked_at IS 'When it was revoked; NULL: live.';
COMMENT ON INDEX tokens_live_name IS 'Names are unique among live tokens; a revoked name may be reused.';
COMMENT ON INDEX tokens_prefix IS 'Finds the token of a request by its prefix.';

-- +goose Down
DROP TABLE tokens;
