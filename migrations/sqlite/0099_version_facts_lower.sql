-- +goose Up
CREATE INDEX version_facts_lower_path ON version_facts (lower(module_path));

-- +goose Down
DROP INDEX version_facts_lower_path;
