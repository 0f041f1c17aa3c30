-- +goose Up
CREATE INDEX version_facts_lower_path ON version_facts (lower(module_path));

COMMENT ON INDEX version_facts_lower_path IS 'Finds every stored spelling of a module path on a case-insensitive host (github.com) for a feed record''s re-evaluation.';

-- +goose Down
DROP INDEX version_facts_lower_path;
