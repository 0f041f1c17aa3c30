-- +goose Up
-- The latest SBOM of a version: ORDER BY created_at DESC, seq DESC.
CREATE INDEX sboms_module_idx ON sboms (module_path, version, created_at, seq);

-- +goose Down
DROP INDEX sboms_module_idx;
