-- +goose Up
CREATE TABLE auth_failures (
    key          text        PRIMARY KEY,
    count        integer     NOT NULL CHECK (count > 0),
    last_failure timestamptz NOT NULL,
    locked_until timestamptz
);
CREATE INDEX auth_failures_last ON auth_failures (last_failure);

COMMENT ON TABLE auth_failures IS
    'Failed authentications (store.AuthFailure) per client address and per token prefix, shared by every replica and kept across restarts: the lockout of internal/auth. Only failures write here.';
COMMENT ON COLUMN auth_failures.key IS 'addr:<address or IPv6 /64> or token:<token prefix> (store.AddressKey, store.TokenKey).';
COMMENT ON COLUMN auth_failures.count IS 'Failures counted since the count last (re)started.';
COMMENT ON COLUMN auth_failures.last_failure IS 'When the last counted failure happened (UTC, microseconds).';
COMMENT ON COLUMN auth_failures.locked_until IS 'When the lockout ends; NULL: never locked out.';
COMMENT ON INDEX auth_failures_last IS 'Prunes keys without recent failures.';

-- +goose Down
DROP TABLE auth_failures;
