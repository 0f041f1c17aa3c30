-- +goose Up
CREATE TABLE version_facts (
    module_path      TEXT    NOT NULL,
    version          TEXT    NOT NULL,
    licenses         TEXT    NOT NULL DEFAULT '[]',
    licenses_known   INTEGER NOT NULL DEFAULT 0,
    retracted        INTEGER NOT NULL DEFAULT 0,
    rationale        TEXT    NOT NULL DEFAULT '',
    deprecated       INTEGER NOT NULL DEFAULT 0,
    deprecation      TEXT    NOT NULL DEFAULT '',
    published_at     TEXT,
    published_source TEXT    NOT NULL DEFAULT '',
    updated_at       TEXT    NOT NULL,
    PRIMARY KEY (module_path, version)
) STRICT;

-- +goose Down
DROP TABLE version_facts;
