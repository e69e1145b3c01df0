// Package sqlite is the embedded driver of the external POP3 accounts (fetch.Store): one
// SQLite database, fetch.db, in the data directory's fetch/ folder.
//
// Layout:
//
//	accounts (id, domain, account, host, port, tls, user, secret, folder, keep,
//	          interval_ms, last_run, last_error, last_count, next_run, lease_holder,
//	          lease_until)   times are Unix milliseconds; secret is the sealed password
//	uidls    (fetch_id, uidl)   the remote unique-ids already stored locally
//	sealkey  (id = 1, key)      the installation's sealing key
//
// The statements and row scanning are fetch/sqlstore's, shared with fetch/postgres; this
// package holds the schema, opening and Forget. Every statement about an account names its
// owner (domain, account) beside its ID.
// Leases are row updates through the single writer connection (BEGIN IMMEDIATE), so one
// node's fetches of an account never overlap. Opening, durability and migrations are
// internal/sqlitekit's (WAL, synchronous=FULL, foreign keys on, PRAGMA user_version steps).
//
// Library: modernc.org/sqlite (pure Go).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"

	"mailgrid/internal/fetch"
	"mailgrid/internal/fetch/sqlstore"
	"mailgrid/internal/sqlitekit"
	"mailgrid/internal/sqlkit"
)

// SchemaVersion is the schema version this code writes (PRAGMA user_version).
const SchemaVersion = 1

var migrations = []string{`
CREATE TABLE accounts (
	id           INTEGER PRIMARY KEY,
	domain       TEXT NOT NULL,
	account      INTEGER NOT NULL,
	host         TEXT NOT NULL,
	port         INTEGER NOT NULL,
	tls          INTEGER NOT NULL,
	user         TEXT NOT NULL,
	secret       BLOB NOT NULL,
	folder       TEXT NOT NULL,
	keep         INTEGER NOT NULL,
	interval_ms  INTEGER NOT NULL,
	last_run     INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT '',
	last_count   INTEGER NOT NULL DEFAULT 0,
	next_run     INTEGER NOT NULL,
	lease_holder TEXT NOT NULL DEFAULT '',
	lease_until  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX accounts_owner ON accounts(domain, account);
CREATE INDEX accounts_due ON accounts(next_run);
CREATE TABLE uidls (
	fetch_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	uidl     TEXT NOT NULL,
	PRIMARY KEY (fetch_id, uidl)
) STRICT, WITHOUT ROWID;
CREATE TABLE sealkey (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	key BLOB NOT NULL
) STRICT;
`}

// Options configure Open.
type Options struct {
	Dir       string // the directory holding fetch.db
	ReadConns int    // read pool size; default 2
}

// DB is the external accounts of one node. It is safe for concurrent use.
type DB struct {
	*sqlstore.Store
	kit *sqlitekit.DB
}

var _ fetch.Store = (*DB)(nil)

// Open opens (creating if needed) fetch.db in opt.Dir.
func Open(ctx context.Context, opt Options) (*DB, error) {
	if opt.Dir == "" {
		return nil, errors.New("fetch/sqlite: no directory")
	}
	kit, err := sqlitekit.Open(ctx, sqlitekit.Options{Name: "fetch/sqlite", Path: filepath.Join(opt.Dir, "fetch.db"), DirMode: 0o700,
		ReadConns: opt.ReadConns, Version: SchemaVersion, Steps: migrations})
	if err != nil {
		return nil, err
	}
	// The one writer serialises Add's count and insert and Update's read and write, so
	// neither needs a lock of its own.
	return &DB{Store: &sqlstore.Store{Base: sqlkit.Base{Name: "fetch/sqlite", R: kit.Reader(), W: kit.Writer()}}, kit: kit}, nil
}

// Close closes the databases.
func (d *DB) Close() error { return d.kit.Close() }

// Forget implements fetch.Store: the UIDLs not in keep are deleted one by one in one
// transaction.
func (d *DB) Forget(ctx context.Context, id int64, keep map[string]bool) error {
	seen, err := d.Seen(ctx, id)
	if err != nil {
		return err
	}
	var drop []string
	for u := range seen {
		if !keep[u] {
			drop = append(drop, u)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return d.kit.Tx(ctx, func(tx *sql.Tx) error {
		for _, u := range drop {
			if _, err := tx.ExecContext(ctx, "DELETE FROM uidls WHERE fetch_id = $1 AND uidl = $2", id, u); err != nil {
				return fmt.Errorf("fetch/sqlite: forget: %w", err)
			}
		}
		return nil
	})
}
