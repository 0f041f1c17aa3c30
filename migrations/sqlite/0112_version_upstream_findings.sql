-- +goose Up
CREATE INDEX version_upstream_findings ON version_upstream (withdrawn_at, returned_at, moved_at)
    WHERE withdrawn_at IS NOT NULL OR returned_at IS NOT NULL OR moved_at IS NOT NULL;

-- +goose Down
DROP INDEX version_upstream_findings;
