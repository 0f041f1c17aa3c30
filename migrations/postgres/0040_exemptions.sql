-- +goose Up
CREATE TABLE exemptions (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    module     text        NOT NULL CHECK (module <> ''),
    versions   text        NOT NULL,
    rule       text        NOT NULL,
    reason     text        NOT NULL,
    granted_by text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

COMMENT ON TABLE exemptions IS
    'Policy exemptions shared by every replica (store.Exemption). Removal deletes the row; the audit log keeps every addition and removal. Expired rows stay until removed and stop applying by themselves.';
COMMENT ON COLUMN exemptions.id IS 'Assigned on insert, never reused: audit records and modgate exempt rm name it.';
COMMENT ON COLUMN exemptions.module IS 'Exact module path, or a path pattern in GOPRIVATE syntax (corp.example.com/*).';
COMMENT ON COLUMN exemptions.versions IS 'Empty for every version, an exact version, or comparisons joined by commas (>=v1.2.0,<v1.3.0).';
COMMENT ON COLUMN exemptions.rule IS 'Empty for every rule, a policy rule name (vulnerabilities, min_age, licenses.deny, ...) or an advisory ID or alias.';
COMMENT ON COLUMN exemptions.reason IS 'Why it was granted.';
COMMENT ON COLUMN exemptions.granted_by IS 'Who granted it.';
COMMENT ON COLUMN exemptions.created_at IS 'When it was granted (UTC, microseconds).';
COMMENT ON COLUMN exemptions.expires_at IS 'When it stops applying (UTC, microseconds).';

-- +goose Down
DROP TABLE exemptions;
