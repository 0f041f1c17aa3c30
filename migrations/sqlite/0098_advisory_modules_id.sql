-- +goose Up
CREATE INDEX advisory_modules_id ON advisory_modules (advisory_id);

-- +goose Down
DROP INDEX advisory_modules_id;
