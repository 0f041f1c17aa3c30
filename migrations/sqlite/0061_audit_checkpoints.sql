-- +goose Up
CREATE TABLE audit_checkpoints (
    id        INTEGER PRIMARY KEY,
    size      INTEGER NOT NULL,
    head_hash TEXT    NOT NULL,
    at        TEXT    NOT NULL,
    note      BLOB    NOT NULL
) STRICT;
CREATE INDEX audit_checkpoints_size ON audit_checkpoints (size, at);

-- +goose Down
DROP TABLE audit_checkpoints;
