-- +goose Up
CREATE TABLE audit_log (
    seq          bigint      PRIMARY KEY CHECK (seq > 0),
    at           timestamptz NOT NULL,
    type         text        NOT NULL,
    client_token text        NOT NULL,
    client_ip    text        NOT NULL,
    user_agent   text        NOT NULL,
    module       text        NOT NULL,
    version      text        NOT NULL,
    kind         text        NOT NULL,
    decision     text        NOT NULL,
    reasons      text[]      NOT NULL,
    source       text        NOT NULL,
    bytes        bigint      NOT NULL,
    duration_ns  bigint      NOT NULL,
    sbom         text        NOT NULL,
    prev_hash    text        NOT NULL,
    hash         text        NOT NULL
);

COMMENT ON TABLE audit_log IS
    'Append-only audit log: one record per answered module request or admin action, hash-chained in seq order (store.AuditHash). Rows are never updated; only pruning deletes the oldest.';
COMMENT ON COLUMN audit_log.seq IS 'Position in the one global chain: 1, 2, 3, ... with no gaps, assigned under the audit_chain row lock.';
COMMENT ON COLUMN audit_log.at IS 'When the request was answered (microseconds, UTC).';
COMMENT ON COLUMN audit_log.type IS 'fetch, checksum, security or admin.';
COMMENT ON COLUMN audit_log.client_token IS 'Name of the client''s token; empty without authentication.';
COMMENT ON COLUMN audit_log.client_ip IS 'Client IP address (X-Forwarded-For honoured only from trusted proxies).';
COMMENT ON COLUMN audit_log.user_agent IS 'The client''s User-Agent (the go command names its version).';
COMMENT ON COLUMN audit_log.module IS 'Module path, case preserved; empty for events about no module.';
COMMENT ON COLUMN audit_log.version IS 'Module version or query as asked.';
COMMENT ON COLUMN audit_log.kind IS 'Artifact asked for: list, latest, info, mod, zip, sumdb, or empty.';
COMMENT ON COLUMN audit_log.decision IS 'served, blocked, not_found or error (free-form for admin events).';
COMMENT ON COLUMN audit_log.reasons IS 'Why: rules, advisories, hash mismatches.';
COMMENT ON COLUMN audit_log.source IS 'cache, or the upstream that served the bytes.';
COMMENT ON COLUMN audit_log.bytes IS 'Response body bytes.';
COMMENT ON COLUMN audit_log.duration_ns IS 'Time taken to answer, in nanoseconds.';
COMMENT ON COLUMN audit_log.sbom IS 'Id of the SBOM of what was served; empty if none.';
COMMENT ON COLUMN audit_log.prev_hash IS 'hash of record seq-1 (empty for record 1).';
COMMENT ON COLUMN audit_log.hash IS 'Hex SHA-256 of the record''s canonical encoding including prev_hash (store.AuditHash).';
COMMENT ON INDEX audit_log_pkey IS 'Chain order; keyset pagination of exports and verification.';

-- +goose Down
DROP TABLE audit_log;
