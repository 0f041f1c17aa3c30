-- +goose Up
CREATE INDEX advisory_modules_id ON advisory_modules (advisory_id);

COMMENT ON INDEX advisory_modules_id IS 'Replaces a record''s module keys when it changes (without it a 10k-record first sync is quadratic).';

-- +goose Down
DROP INDEX advisory_modules_id;
