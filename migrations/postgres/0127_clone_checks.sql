-- +goose Up
CREATE TABLE clone_checks (
    module_path        text        NOT NULL,
    version            text        NOT NULL,
    checked_at         timestamptz NOT NULL,
    original_path      text        NOT NULL DEFAULT '',
    original_version   text        NOT NULL DEFAULT '',
    similarity         integer     NOT NULL DEFAULT 0 CHECK (similarity BETWEEN 0 AND 1000),
    added              jsonb       NOT NULL DEFAULT '[]',
    changed            jsonb       NOT NULL DEFAULT '[]',
    module_line_only   boolean     NOT NULL DEFAULT false,
    capabilities       jsonb       NOT NULL DEFAULT '[]',
    capabilities_known boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (module_path, version)
);

COMMENT ON TABLE clone_checks IS 'The clone check of every zip ingested: the stored version of another module it copies.';
COMMENT ON COLUMN clone_checks.original_path IS 'Module it copies; empty when none.';
COMMENT ON COLUMN clone_checks.original_version IS 'Version of original_path it copies.';
COMMENT ON COLUMN clone_checks.similarity IS 'Share of its files identical to the original''s, in thousandths.';
COMMENT ON COLUMN clone_checks.added IS 'JSON list of files the original does not have.';
COMMENT ON COLUMN clone_checks.changed IS 'JSON list of files the original has with other contents (go.mod aside).';
COMMENT ON COLUMN clone_checks.module_line_only IS 'Whether go.mod differs from the original''s only in its module line.';
COMMENT ON COLUMN clone_checks.capabilities IS 'JSON list of capabilities the added and changed files add.';
COMMENT ON COLUMN clone_checks.capabilities_known IS 'Whether the added and changed files could be analysed for capabilities.';

-- +goose Down
DROP TABLE clone_checks;
