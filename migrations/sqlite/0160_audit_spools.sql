-- +goose Up
-- How far each audit spool (a replica's write-ahead file of records
-- acknowledged before they were appended, see internal/audit) is in the log:
-- its records up to through are appended. Moved in the same transaction as
-- the records, so a spool replayed after a crash appends each record once.
CREATE TABLE audit_spools (
    spool   TEXT    PRIMARY KEY,
    through INTEGER NOT NULL CHECK (through >= 0)
) STRICT;

-- +goose Down
DROP TABLE audit_spools;
