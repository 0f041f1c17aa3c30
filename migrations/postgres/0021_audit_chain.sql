-- +goose Up
CREATE TABLE audit_chain (
    id          integer     PRIMARY KEY CHECK (id = 1),
    head_seq    bigint      NOT NULL,
    head_hash   text        NOT NULL,
    anchor_seq  bigint      NOT NULL,
    anchor_hash text        NOT NULL,
    anchor_at   timestamptz
);
INSERT INTO audit_chain (id, head_seq, head_hash, anchor_seq, anchor_hash) VALUES (1, 0, '', 0, '');

COMMENT ON TABLE audit_chain IS
    'The one row holding the audit chain''s ends. Appenders lock it (FOR UPDATE) to serialise appends across replicas.';
COMMENT ON COLUMN audit_chain.id IS 'Always 1.';
COMMENT ON COLUMN audit_chain.head_seq IS 'seq of the last audit record appended (0: none yet); verify checks the log ends here.';
COMMENT ON COLUMN audit_chain.head_hash IS 'hash of that record.';
COMMENT ON COLUMN audit_chain.anchor_seq IS 'seq of the last audit record pruned (0: none); verify starts after it.';
COMMENT ON COLUMN audit_chain.anchor_hash IS 'hash of the last record pruned: the prev_hash of record anchor_seq+1.';
COMMENT ON COLUMN audit_chain.anchor_at IS 'Time of the last record pruned; NULL if none was.';
COMMENT ON INDEX audit_chain_pkey IS 'One row.';

-- +goose Down
DROP TABLE audit_chain;
