-- +goose Up
CREATE TABLE version_facts (
    module_path      text        NOT NULL,
    version          text        NOT NULL,
    licenses         jsonb       NOT NULL DEFAULT '[]',
    licenses_known   boolean     NOT NULL DEFAULT false,
    retracted        boolean     NOT NULL DEFAULT false,
    rationale        text        NOT NULL DEFAULT '',
    deprecated       boolean     NOT NULL DEFAULT false,
    deprecation      text        NOT NULL DEFAULT '',
    published_at     timestamptz,
    published_source text        NOT NULL DEFAULT '',
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (module_path, version)
);

COMMENT ON TABLE version_facts IS 'Facts about module versions modgate has seen, computed at ingest.';
COMMENT ON COLUMN version_facts.module_path IS 'Module path as in go.mod.';
COMMENT ON COLUMN version_facts.version IS 'Canonical version.';
COMMENT ON COLUMN version_facts.licenses IS 'JSON array of SPDX ids found in the zip''s license files.';
COMMENT ON COLUMN version_facts.licenses_known IS 'Whether the zip was scanned for licenses.';
COMMENT ON COLUMN version_facts.retracted IS 'Retracted by the module''s latest go.mod, when computed.';
COMMENT ON COLUMN version_facts.rationale IS 'The retraction''s rationale.';
COMMENT ON COLUMN version_facts.deprecated IS 'The module''s go.mod carries a Deprecated comment.';
COMMENT ON COLUMN version_facts.deprecation IS 'The deprecation message.';
COMMENT ON COLUMN version_facts.published_at IS 'Publish time of the version.';
COMMENT ON COLUMN version_facts.published_source IS 'Where published_at came from: upstream-last-modified, first-seen or info-time.';
COMMENT ON COLUMN version_facts.updated_at IS 'When the facts were last computed.';

-- +goose Down
DROP TABLE version_facts;
