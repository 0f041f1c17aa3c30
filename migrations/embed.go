// Package migrations holds modgate's database schema as ordered SQL migrations,
// one directory per dialect (postgres/ and sqlite/), applied by the store drivers
// with github.com/pressly/goose/v3.
//
// Each file NNNN_name.sql makes one change and has a "-- +goose Up" and a
// "-- +goose Down" section; goose runs each file in its own transaction, so the
// files carry no BEGIN/COMMIT of their own. Both directories use the same version
// numbers for the same change, so a schema version means the same thing in either
// database. To add a table, add the next number in both directories; never edit a
// migration that has been released.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql. Use fs.Sub(FS, "postgres") or
// fs.Sub(FS, "sqlite") as a goose provider's file system.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
