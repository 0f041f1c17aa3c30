-- +goose Up
CREATE TABLE exemptions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: audit records name it
    module     TEXT    NOT NULL CHECK (module <> ''),
    versions   TEXT    NOT NULL,
    rule       TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    granted_by TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
) STRICT;

-- +goose Down
DROP TABLE exemptions;
