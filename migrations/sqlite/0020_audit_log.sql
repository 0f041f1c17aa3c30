-- +goose Up
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY CHECK (seq > 0),
    at           TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    client_token TEXT    NOT NULL,
    client_ip    TEXT    NOT NULL,
    user_agent   TEXT    NOT NULL,
    module       TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    decision     TEXT    NOT NULL,
    reasons      TEXT    NOT NULL, -- JSON array of strings
    source       TEXT    NOT NULL,
    bytes        INTEGER NOT NULL,
    duration_ns  INTEGER NOT NULL,
    sbom         TEXT    NOT NULL,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL
) STRICT;

-- +goose Down
DROP TABLE audit_log;
