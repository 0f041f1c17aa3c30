-- +goose Up
CREATE TABLE vuln_entries (
    id            text        NOT NULL PRIMARY KEY,
    modified      timestamptz NOT NULL,
    published     timestamptz,
    withdrawn     timestamptz,
    aliases       jsonb       NOT NULL DEFAULT '[]',
    summary       text        NOT NULL DEFAULT '',
    review_status text        NOT NULL,
    modules       jsonb       NOT NULL DEFAULT '[]'
);

COMMENT ON TABLE vuln_entries IS 'One row per advisory of the synced vulnerability database (its JSON is in vulndb_files).';
COMMENT ON COLUMN vuln_entries.id IS 'Advisory id, e.g. GO-2021-0113.';
COMMENT ON COLUMN vuln_entries.modified IS 'The entry''s modified time; a sync fetches entries whose modified changed.';
COMMENT ON COLUMN vuln_entries.published IS 'The entry''s published time, NULL if unknown.';
COMMENT ON COLUMN vuln_entries.withdrawn IS 'When the entry was withdrawn, NULL if it was not.';
COMMENT ON COLUMN vuln_entries.aliases IS 'JSON array of aliases (CVE, GHSA ids).';
COMMENT ON COLUMN vuln_entries.summary IS 'One-line summary.';
COMMENT ON COLUMN vuln_entries.review_status IS 'REVIEWED or UNREVIEWED.';
COMMENT ON COLUMN vuln_entries.modules IS 'JSON array of the module paths its affected blocks name.';

-- +goose Down
DROP TABLE vuln_entries;
