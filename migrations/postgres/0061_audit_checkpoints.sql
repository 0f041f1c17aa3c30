-- +goose Up
CREATE TABLE audit_checkpoints (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size      bigint      NOT NULL,
    head_hash text        NOT NULL,
    at        timestamptz NOT NULL,
    note      bytea       NOT NULL
);
CREATE INDEX audit_checkpoints_size ON audit_checkpoints (size, at);

COMMENT ON TABLE audit_checkpoints IS
    'Signed checkpoints of the audit chain (store.AuditCheckpoint), as published; never updated.';
COMMENT ON COLUMN audit_checkpoints.id IS 'Insertion order: the latest checkpoint is the highest id.';
COMMENT ON COLUMN audit_checkpoints.size IS 'The chain''s size (the seq of its head) when it was signed.';
COMMENT ON COLUMN audit_checkpoints.head_hash IS 'The hash of record size.';
COMMENT ON COLUMN audit_checkpoints.at IS 'When it was signed (UTC, microseconds).';
COMMENT ON COLUMN audit_checkpoints.note IS 'The signed note (golang.org/x/mod/sumdb/note format).';
COMMENT ON INDEX audit_checkpoints_pkey IS 'Finds the latest.';
COMMENT ON INDEX audit_checkpoints_size IS 'Finds the checkpoints a prune covers.';

-- +goose Down
DROP TABLE audit_checkpoints;
