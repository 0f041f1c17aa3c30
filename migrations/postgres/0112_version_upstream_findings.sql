-- +goose Up
CREATE INDEX version_upstream_findings ON version_upstream (withdrawn_at, returned_at, moved_at)
    WHERE withdrawn_at IS NOT NULL OR returned_at IS NOT NULL OR moved_at IS NOT NULL;

COMMENT ON INDEX version_upstream_findings IS 'The versions withdrawn upstream, come back, or whose origin changed, for the dashboard.';

-- +goose Down
DROP INDEX version_upstream_findings;
