-- +goose Up
CREATE TABLE vuln_findings (
    module_path text        NOT NULL,
    version     text        NOT NULL,
    via_path    text        NOT NULL DEFAULT '',
    via_version text        NOT NULL DEFAULT '',
    vuln_id     text        NOT NULL,
    fixed       text        NOT NULL DEFAULT '',
    learnt_at   timestamptz NOT NULL,
    at_ingest   boolean     NOT NULL,
    PRIMARY KEY (module_path, version, via_path, via_version, vuln_id)
);
CREATE INDEX vuln_findings_learnt ON vuln_findings (learnt_at) WHERE NOT at_ingest;

COMMENT ON TABLE vuln_findings IS 'Advisories affecting stored versions (or, with via_path, a requirement of their go.mod).';
COMMENT ON COLUMN vuln_findings.module_path IS 'The version''s module path.';
COMMENT ON COLUMN vuln_findings.version IS 'The version.';
COMMENT ON COLUMN vuln_findings.via_path IS 'Empty for the version itself, else the vulnerable requirement''s path.';
COMMENT ON COLUMN vuln_findings.via_version IS 'The vulnerable requirement''s version, empty for the version itself.';
COMMENT ON COLUMN vuln_findings.vuln_id IS 'The advisory id.';
COMMENT ON COLUMN vuln_findings.fixed IS 'The version that fixes it, empty if none.';
COMMENT ON COLUMN vuln_findings.learnt_at IS 'When modgate recorded the finding.';
COMMENT ON COLUMN vuln_findings.at_ingest IS 'False when re-evaluation after a sync found it: the version may have been served before.';
COMMENT ON INDEX vuln_findings_learnt IS 'Lists findings learnt by re-evaluation, by time.';

-- +goose Down
DROP TABLE vuln_findings;
