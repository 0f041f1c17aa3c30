-- Versions cached before version_upstream existed: rechecked like the others
-- (their Origin is recorded at their first recheck).

-- +goose Up
INSERT INTO version_upstream (module_path, version, source)
SELECT DISTINCT ON (module_path, version) module_path, version, upstream FROM artifacts
WHERE kind IN ('info', 'mod') AND upstream <> 'synthesized'
ORDER BY module_path, version, kind
ON CONFLICT (module_path, version) DO NOTHING;

-- +goose Down
DELETE FROM version_upstream WHERE origin_at IS NULL AND checked_at IS NULL;
