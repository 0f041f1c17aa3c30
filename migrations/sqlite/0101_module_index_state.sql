-- +goose Up
CREATE TABLE module_index_state (
    id           INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    source       TEXT    NOT NULL DEFAULT '',
    since        TEXT,             -- Timestamp of the newest entry stored
    entries      INTEGER NOT NULL DEFAULT 0,
    read_at      TEXT,
    caught_up    INTEGER NOT NULL DEFAULT 0,
    attempted_at TEXT,
    last_error   TEXT    NOT NULL DEFAULT ''
) STRICT;

-- +goose Down
DROP TABLE module_index_state;
