-- +goose Up
CREATE SEQUENCE fetch_lease_generation;

CREATE TABLE fetch_leases (
    key        text        NOT NULL PRIMARY KEY,
    generation bigint      NOT NULL,
    holder     text        NOT NULL,
    taken_at   timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

COMMENT ON SEQUENCE fetch_lease_generation IS 'Generations of fetch leases: every take gets a new one, so a holder that was taken over is fenced.';
COMMENT ON TABLE fetch_leases IS 'Upstream fetches in progress, one row per artifact being fetched by some replica; deleted when the fetch completes.';
COMMENT ON COLUMN fetch_leases.key IS 'The artifact: module path, version and kind.';
COMMENT ON COLUMN fetch_leases.generation IS 'Generation of this take (from fetch_lease_generation); a completion must name it.';
COMMENT ON COLUMN fetch_leases.holder IS 'The replica holding the lease (host and pid), for operators.';
COMMENT ON COLUMN fetch_leases.taken_at IS 'When this holder took the lease.';
COMMENT ON COLUMN fetch_leases.expires_at IS 'Past this time without a heartbeat another replica may take the lease over.';

-- +goose Down
DROP TABLE fetch_leases;
DROP SEQUENCE fetch_lease_generation;
