-- +goose Up
CREATE INDEX version_requires_lower_req ON version_requires (lower(req_path));

-- +goose Down
DROP INDEX version_requires_lower_req;
