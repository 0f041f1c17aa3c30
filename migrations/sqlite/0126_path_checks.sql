-- +goose Up
CREATE TABLE path_checks (
    path       TEXT    NOT NULL PRIMARY KEY,
    checked_at TEXT    NOT NULL,
    resembles  TEXT    NOT NULL DEFAULT '',
    kind       TEXT    NOT NULL DEFAULT '',
    how        TEXT    NOT NULL DEFAULT '',
    uses       INTEGER NOT NULL DEFAULT 0,
    listed     INTEGER NOT NULL DEFAULT 0 CHECK (listed IN (0, 1)),
    others     INTEGER NOT NULL DEFAULT 0
) STRICT;

-- +goose Down
DROP TABLE path_checks;
