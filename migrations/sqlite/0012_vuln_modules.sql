-- +goose Up
CREATE TABLE vuln_modules (
    module_path TEXT NOT NULL,
    vuln_id     TEXT NOT NULL,
    PRIMARY KEY (module_path, vuln_id)
) STRICT;

-- +goose Down
DROP TABLE vuln_modules;
