-- +goose Up
CREATE TABLE advisory_modules (
    module_key  TEXT NOT NULL,
    advisory_id TEXT NOT NULL,
    PRIMARY KEY (module_key, advisory_id)
) STRICT;

-- +goose Down
DROP TABLE advisory_modules;
