-- +goose Up
CREATE INDEX sboms_module_idx ON sboms (module_path, version, created_at, seq);

COMMENT ON INDEX sboms_module_idx IS 'The latest SBOM of a module version (ORDER BY created_at DESC, seq DESC).';

-- +goose Down
DROP INDEX sboms_module_idx;
