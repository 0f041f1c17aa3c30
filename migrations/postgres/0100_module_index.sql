-- +goose Up
CREATE TABLE module_index (
    module_path text        NOT NULL,
    version     text        NOT NULL,
    ts          timestamptz NOT NULL,
    PRIMARY KEY (module_path, version)
);

COMMENT ON TABLE module_index IS 'The module index feed (index.golang.org): when the public mirror first served each version. A publication time no module author can set.';
COMMENT ON COLUMN module_index.module_path IS 'Module path as the feed lists it.';
COMMENT ON COLUMN module_index.version IS 'Version as the feed lists it.';
COMMENT ON COLUMN module_index.ts IS 'The feed''s Timestamp; the earliest one when a version is listed twice.';

-- +goose Down
DROP TABLE module_index;
