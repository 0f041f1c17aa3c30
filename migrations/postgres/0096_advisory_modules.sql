-- +goose Up
CREATE TABLE advisory_modules (
    module_key  text NOT NULL,
    advisory_id text NOT NULL,
    PRIMARY KEY (module_key, advisory_id)
);

COMMENT ON TABLE advisory_modules IS 'Which feed records name which module.';
COMMENT ON COLUMN advisory_modules.module_key IS 'The module path, lower-cased on case-insensitive hosts (github.com, gitlab.com, bitbucket.org).';
COMMENT ON COLUMN advisory_modules.advisory_id IS 'The record id.';

-- +goose Down
DROP TABLE advisory_modules;
