// Package sqlite is the embedded driver of the scheduled sends (schedule.Store): one
// SQLite database, schedule.db, in the data directory's schedule/ folder.
//
// Layout:
//
//	items (id, domain, account, due, state, meta, message, created, attempts,
//	       last_error, lease_token, lease_until)   times are Unix nanoseconds;
//	       meta is the JSON of the envelope and display fields (schedule.EncodeMeta);
//	       lease_token '' and lease_until 0 when not leased
//
// The statements and row scanning are schedule/sqlstore's, shared with schedule/postgres;
// this package holds the schema, opening and Lease. Every owner's statement names
// (domain, account) beside the ID. Opening, durability and migrations are
// internal/sqlitekit's: WAL, synchronous=FULL, one writer connection with BEGIN
// IMMEDIATE, a read pool, PRAGMA user_version steps. Lease is one UPDATE … RETURNING on
// the one writer, so two leases never claim the same item, and Cancel (one DELETE …
// RETURNING) excludes it the same way.
//
// Library: modernc.org/sqlite (pure Go).
package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"mailgrid/internal/schedule"
	"mailgrid/internal/schedule/sqlstore"
	"mailgrid/internal/sqlitekit"
	"mailgrid/internal/sqlkit"
)

// SchemaVersion is the schema version this code writes (PRAGMA user_version).
const SchemaVersion = 1

var migrations = []string{`
CREATE TABLE items (
	id          INTEGER PRIMARY KEY,
	domain      TEXT NOT NULL,
	account     INTEGER NOT NULL,
	due         INTEGER NOT NULL,
	state       INTEGER NOT NULL,
	meta        TEXT NOT NULL,
	message     BLOB NOT NULL,
	created     INTEGER NOT NULL,
	attempts    INTEGER NOT NULL,
	last_error  TEXT NOT NULL,
	lease_token TEXT NOT NULL,
	lease_until INTEGER NOT NULL
) STRICT;
CREATE INDEX items_due ON items(state, due);
CREATE INDEX items_owner ON items(domain, account, due);
`}

// Options configure Open.
type Options struct {
	Dir       string // the directory holding schedule.db
	ReadConns int    // read pool size; default 2
}

// DB is the scheduled sends of one node. It is safe for concurrent use.
type DB struct {
	*sqlstore.Store
	kit *sqlitekit.DB
}

var _ schedule.Store = (*DB)(nil)

// Open opens (creating if needed) schedule.db in opt.Dir.
func Open(ctx context.Context, opt Options) (*DB, error) {
	if opt.Dir == "" {
		return nil, errors.New("schedule/sqlite: no directory")
	}
	kit, err := sqlitekit.Open(ctx, sqlitekit.Options{Name: "schedule/sqlite", Path: filepath.Join(opt.Dir, "schedule.db"),
		ReadConns: opt.ReadConns, Version: SchemaVersion, Steps: migrations})
	if err != nil {
		return nil, err
	}
	return &DB{Store: &sqlstore.Store{Base: sqlkit.Base{Name: "schedule/sqlite", R: kit.Reader(), W: kit.Writer()}}, kit: kit}, nil
}

// Close closes the databases.
func (d *DB) Close() error { return d.kit.Close() }

// Lease implements schedule.Store: one UPDATE … RETURNING on the one writer.
func (d *DB) Lease(ctx context.Context, now time.Time, dur time.Duration, max int) ([]schedule.Item, error) {
	return d.Leased(ctx, `UPDATE items SET lease_token = $1, lease_until = $2, attempts = attempts + 1
WHERE id IN (SELECT id FROM items WHERE state = 0 AND due <= $3 AND lease_until <= $3 ORDER BY due, id LIMIT $4)
RETURNING `+sqlstore.Columns, schedule.NewToken(), now.Add(dur).UnixNano(), now.UnixNano(), max)
}
