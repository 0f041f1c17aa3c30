-- +goose Up
CREATE TABLE version_requires (
    module_path text NOT NULL,
    version     text NOT NULL,
    req_path    text NOT NULL,
    req_version text NOT NULL,
    PRIMARY KEY (module_path, version, req_path, req_version)
);
CREATE INDEX version_requires_req ON version_requires (req_path);

COMMENT ON TABLE version_requires IS 'The require lines of the go.mod of each version in version_facts.';
COMMENT ON COLUMN version_requires.module_path IS 'The requiring module.';
COMMENT ON COLUMN version_requires.version IS 'The requiring version.';
COMMENT ON COLUMN version_requires.req_path IS 'The required module.';
COMMENT ON COLUMN version_requires.req_version IS 'The required version.';
COMMENT ON INDEX version_requires_req IS 'Finds the dependents of a module when its advisories change.';

-- +goose Down
DROP TABLE version_requires;
