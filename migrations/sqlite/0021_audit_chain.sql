-- +goose Up
CREATE TABLE audit_chain (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    head_seq    INTEGER NOT NULL,
    head_hash   TEXT    NOT NULL,
    anchor_seq  INTEGER NOT NULL,
    anchor_hash TEXT    NOT NULL,
    anchor_at   TEXT
) STRICT;
INSERT INTO audit_chain (id, head_seq, head_hash, anchor_seq, anchor_hash) VALUES (1, 0, '', 0, '');

-- +goose Down
DROP TABLE audit_chain;
