-- +goose Up
CREATE TABLE path_checks (
    path       text        NOT NULL PRIMARY KEY,
    checked_at timestamptz NOT NULL,
    resembles  text        NOT NULL DEFAULT '',
    kind       text        NOT NULL DEFAULT '',
    how        text        NOT NULL DEFAULT '',
    uses       integer     NOT NULL DEFAULT 0,
    listed     boolean     NOT NULL DEFAULT false,
    others     integer     NOT NULL DEFAULT 0
);

COMMENT ON TABLE path_checks IS 'The look-alike check of every module path, made the first time it was requested.';
COMMENT ON COLUMN path_checks.resembles IS 'Known module path it resembles; empty when none.';
COMMENT ON COLUMN path_checks.kind IS 'How: edit, transposed, doubled, affix, case, vanity.';
COMMENT ON COLUMN path_checks.how IS 'The resemblance in words, for the finding.';
COMMENT ON COLUMN path_checks.uses IS 'Versions of the resembled path stored here when checked.';
COMMENT ON COLUMN path_checks.listed IS 'Whether the resembled path is on the shipped list of widely used modules.';
COMMENT ON COLUMN path_checks.others IS 'How many more known paths it resembles.';

-- +goose Down
DROP TABLE path_checks;
