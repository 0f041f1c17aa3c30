-- +goose Up
CREATE INDEX version_requires_lower_req ON version_requires (lower(req_path));

COMMENT ON INDEX version_requires_lower_req IS 'Finds the stored versions that require any spelling of a module path on a case-insensitive host (github.com) for a feed record''s re-evaluation.';

-- +goose Down
DROP INDEX version_requires_lower_req;
