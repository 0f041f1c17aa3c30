-- +goose Up
CREATE TABLE sumdb_forks (
    db          text        NOT NULL PRIMARY KEY,
    detail      text        NOT NULL,
    detected_at timestamptz NOT NULL
);

COMMENT ON TABLE sumdb_forks IS
    'Checksum databases caught misbehaving (forked or rolled-back log), store.SumDBFork. While a row exists every replica refuses what it would verify against that database; `modgate checksum reset-fork` removes it.';
COMMENT ON COLUMN sumdb_forks.db IS 'The checksum database''s name, such as sum.golang.org.';
COMMENT ON COLUMN sumdb_forks.detail IS 'What the checksum-database client reported.';
COMMENT ON COLUMN sumdb_forks.detected_at IS 'When it was first detected (UTC, microseconds).';
COMMENT ON INDEX sumdb_forks_pkey IS 'One record per database: the first detection is kept.';

-- +goose Down
DROP TABLE sumdb_forks;
