-- +goose Up
CREATE TABLE vuln_modules (
    module_path text NOT NULL,
    vuln_id     text NOT NULL,
    PRIMARY KEY (module_path, vuln_id)
);

COMMENT ON TABLE vuln_modules IS 'Which stored advisories name which module path (stdlib and toolchain included).';
COMMENT ON COLUMN vuln_modules.module_path IS 'Module path as in go.mod.';
COMMENT ON COLUMN vuln_modules.vuln_id IS 'Advisory id (vuln_entries.id).';
COMMENT ON INDEX vuln_modules_pkey IS 'Looks up the advisories of a module.';

-- +goose Down
DROP TABLE vuln_modules;
