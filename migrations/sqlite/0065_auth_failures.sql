-- +goose Up
CREATE TABLE auth_failures (
    key          TEXT    PRIMARY KEY,               -- "addr:<address>" or "token:<prefix>" (store.AddressKey, store.TokenKey)
    count        INTEGER NOT NULL CHECK (count > 0),  -- failures since the count (re)started
    last_failure TEXT    NOT NULL,
    locked_until TEXT                               -- NULL: never locked out
) STRICT;
CREATE INDEX auth_failures_last ON auth_failures (last_failure);

-- +goose Down
DROP TABLE auth_failures;
