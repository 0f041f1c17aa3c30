-- +goose Up
CREATE TABLE module_index (
    module_path TEXT NOT NULL,
    version     TEXT NOT NULL,
    ts          TEXT NOT NULL,   -- the feed's Timestamp: when the public mirror first served the version
    PRIMARY KEY (module_path, version)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE module_index;
