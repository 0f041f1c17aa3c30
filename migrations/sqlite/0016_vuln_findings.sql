-- +goose Up
CREATE TABLE vuln_findings (
    module_path TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    via_path    TEXT    NOT NULL DEFAULT '',
    via_version TEXT    NOT NULL DEFAULT '',
    vuln_id     TEXT    NOT NULL,
    fixed       TEXT    NOT NULL DEFAULT '',
    learnt_at   TEXT    NOT NULL,
    at_ingest   INTEGER NOT NULL,
    PRIMARY KEY (module_path, version, via_path, via_version, vuln_id)
) STRICT;
CREATE INDEX vuln_findings_learnt ON vuln_findings (learnt_at) WHERE at_ingest = 0;

-- +goose Down
DROP TABLE vuln_findings;
