-- +goose Up
CREATE TABLE version_upstream (
    module_path      TEXT    NOT NULL,
    version          TEXT    NOT NULL,
    source           TEXT    NOT NULL DEFAULT '',  -- the upstream that served the version (no password)
    origin_vcs       TEXT    NOT NULL DEFAULT '',  -- the first .info Origin recorded
    origin_url       TEXT    NOT NULL DEFAULT '',
    origin_hash      TEXT    NOT NULL DEFAULT '',
    origin_ref       TEXT    NOT NULL DEFAULT '',
    origin_at        TEXT,
    moved_vcs        TEXT    NOT NULL DEFAULT '',  -- the latest Origin with another Hash: the tag moved
    moved_url        TEXT    NOT NULL DEFAULT '',
    moved_hash       TEXT    NOT NULL DEFAULT '',
    moved_ref        TEXT    NOT NULL DEFAULT '',
    moved_at         TEXT,
    checked_at       TEXT,                         -- the last recheck
    last_status      INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    failures         INTEGER NOT NULL DEFAULT 0,   -- consecutive transient failures
    withdrawn_at     TEXT,                         -- since when upstream refuses it (403/404/410)
    withdrawn_status INTEGER NOT NULL DEFAULT 0,
    returned_at      TEXT,                         -- when a withdrawn version was served again
    PRIMARY KEY (module_path, version)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE version_upstream;
