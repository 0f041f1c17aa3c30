-- +goose Up
CREATE TABLE module_index_state (
    id           integer     NOT NULL PRIMARY KEY CHECK (id = 1),
    source       text        NOT NULL DEFAULT '',
    since        timestamptz,
    entries      bigint      NOT NULL DEFAULT 0,
    read_at      timestamptz,
    caught_up    boolean     NOT NULL DEFAULT false,
    attempted_at timestamptz,
    last_error   text        NOT NULL DEFAULT ''
);

COMMENT ON TABLE module_index_state IS 'The one row saying how far the module index feed has been followed.';
COMMENT ON COLUMN module_index_state.id IS 'Always 1.';
COMMENT ON COLUMN module_index_state.source IS 'Feed URL (no password).';
COMMENT ON COLUMN module_index_state.since IS 'Timestamp of the newest entry stored: the next page starts there.';
COMMENT ON COLUMN module_index_state.entries IS 'How many entries were stored in all.';
COMMENT ON COLUMN module_index_state.read_at IS 'When a page was last read successfully.';
COMMENT ON COLUMN module_index_state.caught_up IS 'Whether that page was the feed''s last.';
COMMENT ON COLUMN module_index_state.attempted_at IS 'When the last read ended.';
COMMENT ON COLUMN module_index_state.last_error IS 'Error of the last read, empty if it succeeded.';

-- +goose Down
DROP TABLE module_index_state;
