-- +goose Up
CREATE TABLE advisory_entries (
    id        text        NOT NULL PRIMARY KEY,
    source    text        NOT NULL,
    modified  timestamptz NOT NULL,
    published timestamptz,
    withdrawn timestamptz,
    aliases   jsonb       NOT NULL DEFAULT '[]',
    summary   text        NOT NULL DEFAULT '',
    modules   jsonb       NOT NULL DEFAULT '[]',
    json      bytea       NOT NULL
);
CREATE INDEX advisory_entries_source ON advisory_entries (source);

COMMENT ON TABLE advisory_entries IS 'OSV records of the --advisories feeds (malware records and other advisories beside the Go vulnerability database).';
COMMENT ON COLUMN advisory_entries.id IS 'The record id (MAL-..., GHSA-...); the first feed to store an id owns it.';
COMMENT ON COLUMN advisory_entries.source IS 'The feed URL, without password.';
COMMENT ON COLUMN advisory_entries.modified IS 'The record''s modified time: an unchanged record is not rewritten.';
COMMENT ON COLUMN advisory_entries.published IS 'The record''s published time, if any.';
COMMENT ON COLUMN advisory_entries.withdrawn IS 'The record''s withdrawn time, if any: a withdrawn record never matches.';
COMMENT ON COLUMN advisory_entries.aliases IS 'The record''s aliases (JSON array).';
COMMENT ON COLUMN advisory_entries.summary IS 'The record''s summary.';
COMMENT ON COLUMN advisory_entries.modules IS 'The Go module paths its affected blocks name, as written (JSON array).';
COMMENT ON COLUMN advisory_entries.json IS 'The record as read.';
COMMENT ON INDEX advisory_entries_source IS 'Lists a feed''s records for its incremental sync.';

-- +goose Down
DROP TABLE advisory_entries;
