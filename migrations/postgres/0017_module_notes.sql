-- +goose Up
CREATE TABLE module_notes (
    module_path    text        NOT NULL PRIMARY KEY,
    latest_version text        NOT NULL DEFAULT '',
    retractions    jsonb       NOT NULL DEFAULT '[]',
    deprecated     boolean     NOT NULL DEFAULT false,
    deprecation    text        NOT NULL DEFAULT '',
    updated_at     timestamptz NOT NULL
);

COMMENT ON TABLE module_notes IS 'Per-module facts from the module''s latest go.mod.';
COMMENT ON COLUMN module_notes.module_path IS 'Module path.';
COMMENT ON COLUMN module_notes.latest_version IS 'The version whose go.mod was read.';
COMMENT ON COLUMN module_notes.retractions IS 'JSON array of {Low, High, Rationale} retract intervals.';
COMMENT ON COLUMN module_notes.deprecated IS 'The go.mod''s module directive carries a Deprecated comment.';
COMMENT ON COLUMN module_notes.deprecation IS 'The deprecation message.';
COMMENT ON COLUMN module_notes.updated_at IS 'When the notes were stored.';

-- +goose Down
DROP TABLE module_notes;
