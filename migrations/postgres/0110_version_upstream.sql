-- +goose Up
CREATE TABLE version_upstream (
    module_path      text        NOT NULL,
    version          text        NOT NULL,
    source           text        NOT NULL DEFAULT '',
    origin_vcs       text        NOT NULL DEFAULT '',
    origin_url       text        NOT NULL DEFAULT '',
    origin_hash      text        NOT NULL DEFAULT '',
    origin_ref       text        NOT NULL DEFAULT '',
    origin_at        timestamptz,
    moved_vcs        text        NOT NULL DEFAULT '',
    moved_url        text        NOT NULL DEFAULT '',
    moved_hash       text        NOT NULL DEFAULT '',
    moved_ref        text        NOT NULL DEFAULT '',
    moved_at         timestamptz,
    checked_at       timestamptz,
    last_status      integer     NOT NULL DEFAULT 0,
    last_error       text        NOT NULL DEFAULT '',
    failures         integer     NOT NULL DEFAULT 0,
    withdrawn_at     timestamptz,
    withdrawn_status integer     NOT NULL DEFAULT 0,
    returned_at      timestamptz,
    PRIMARY KEY (module_path, version)
);

COMMENT ON TABLE version_upstream IS 'What modgate knows of each cached version at the upstream that served it: the .info Origin, and what the background recheck found (takedowns, moved tags).';
COMMENT ON COLUMN version_upstream.source IS 'The upstream that served the version (URL without password, direct, or file URL).';
COMMENT ON COLUMN version_upstream.origin_hash IS 'The first .info Origin.Hash recorded (with origin_vcs, origin_url, origin_ref, origin_at): the commit the tag pointed to.';
COMMENT ON COLUMN version_upstream.moved_hash IS 'The latest Origin.Hash seen that differs from origin_hash (with moved_vcs, moved_url, moved_ref, moved_at): the tag was moved upstream.';
COMMENT ON COLUMN version_upstream.checked_at IS 'When the last recheck ended; last_status its HTTP status (0: no answer), last_error its error.';
COMMENT ON COLUMN version_upstream.failures IS 'Consecutive transient recheck failures (5xx, timeouts); they never make a version withdrawn.';
COMMENT ON COLUMN version_upstream.withdrawn_at IS 'Since when the upstream refuses the version (withdrawn_status: 403, 404 or 410) after serving it; NULL while it serves it.';
COMMENT ON COLUMN version_upstream.returned_at IS 'When a withdrawn version was served again.';

-- +goose Down
DROP TABLE version_upstream;
