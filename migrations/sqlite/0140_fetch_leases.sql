-- +goose Up
CREATE TABLE fetch_leases (
    key        TEXT    NOT NULL PRIMARY KEY, -- module path, version and kind
    generation INTEGER NOT NULL,             -- from fetch_lease_generation; a completion must name it
    holder     TEXT    NOT NULL,
    taken_at   TEXT    NOT NULL,
    expires_at TEXT    NOT NULL
) STRICT;

CREATE TABLE fetch_lease_generation (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
) STRICT;

INSERT INTO fetch_lease_generation (id, n) VALUES (1, 0);

-- +goose Down
DROP TABLE fetch_lease_generation;
DROP TABLE fetch_leases;
