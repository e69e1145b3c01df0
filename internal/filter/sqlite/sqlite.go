// Package sqlite is the embedded driver of the filter state (package filter's Settings,
// Tokens, TrainLog, SieveScripts, Vacations, QuarantineStore, BlockLists, DomainRules,
// DomainSwitches and AccountDocs): one SQLite database, filter.db,
// and a directory of held message bodies, beside a store shard's data.
//
// Layout (schema.go):
//
//	spam_levels       (domain, account, level)      account 0 is the domain default
//	bayes_totals      (domain, account, spam, ham)  messages trained per class
//	bayes_tokens      (domain, account, token, spam, ham)  WITHOUT ROWID, one row per
//	                  token with a non-zero count; Add is one transaction per message
//	sieve_scripts     (domain, account, name, source, active)  at most one active per
//	                  account (a partial unique index)
//	vacation_replies  (domain, account, sender, handle, sent)  RFC 5230 4.2 memory
//	quarantine        (id, domain, account, rcpt, sender, reason, mailet, size, created,
//	                  blob)   one row per held copy
//	held/<sha256>     the held bodies, content-addressed: a message held for several
//	                  recipients is stored once; the file goes with its last row
//
// The statements and row scanning of everything but the Bayes tokens, the held bodies and
// RenameScript are filter/sqlstore's, shared with filter/postgres; this package holds the
// schema, opening, the token store, the held-body files and the rename.
//
// Every row names its tenant (domain) and account, as the store does: a user moving to
// another shard takes these rows along (the migration is the cluster's job; this driver
// offers nothing for it yet). Opening, durability and migrations are internal/sqlitekit's:
// WAL, synchronous=FULL, one writer connection with BEGIN IMMEDIATE, a read pool,
// PRAGMA user_version steps; a held body is written to a temporary file, fsynced and
// renamed before its rows commit.
//
// Library: modernc.org/sqlite (pure Go), as the other embedded drivers.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/sqlstore"
	"mailgrid/internal/sqlitekit"
	"mailgrid/internal/sqlkit"
)

// Options configure Open.
type Options struct {
	Dir       string // the directory holding filter.db and held/
	Logger    *slog.Logger
	ReadConns int              // read pool size; default 4
	Now       func() time.Time // the clock; nil is time.Now
}

// DB is the filter state of one shard. It is safe for concurrent use.
type DB struct {
	*sqlstore.Store
	kit      *sqlitekit.DB
	wdb, rdb *sql.DB // kit.Write, kit.Read
	heldDir  string
	blobMu   sync.Mutex // orders Hold against the removal of unused held bodies
	log      *slog.Logger
	now      func() time.Time
}

// The interfaces that need this driver's own methods; sqlstore.Store, embedded, fills
// the others (asserted there).
var (
	_ filter.Tokens          = (*DB)(nil)
	_ filter.SieveScripts    = (*DB)(nil)
	_ filter.QuarantineStore = (*DB)(nil)
)

// Open opens (creating if needed) the filter state in opt.Dir.
func Open(ctx context.Context, opt Options) (*DB, error) {
	if opt.Dir == "" {
		return nil, errors.New("filter/sqlite: no directory")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.ReadConns <= 0 {
		opt.ReadConns = 4
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	d := &DB{heldDir: filepath.Join(opt.Dir, "held"), log: opt.Logger, now: opt.Now}
	if err := os.MkdirAll(d.heldDir, 0o750); err != nil {
		return nil, fmt.Errorf("filter/sqlite: %w", err)
	}
	kit, err := sqlitekit.Open(ctx, sqlitekit.Options{Name: "filter/sqlite", Path: filepath.Join(opt.Dir, "filter.db"),
		ReadConns: opt.ReadConns, Version: SchemaVersion, Steps: migrations()})
	if err != nil {
		return nil, err
	}
	d.kit, d.wdb, d.rdb = kit, kit.Write, kit.Read
	// The one writer serialises script changes; held bodies are files, removed after a
	// purge commits (their rows are gone by then).
	d.Store = &sqlstore.Store{Base: sqlkit.Base{Name: "filter/sqlite", R: kit.Reader(), W: kit.Writer()}, Now: opt.Now, DropAfter: d.dropBlobs}
	return d, nil
}

// Close closes the databases.
func (d *DB) Close() error { return d.kit.Close() }

// tx runs fn in a write transaction (sqlitekit.DB.Tx).
func (d *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error { return d.kit.Tx(ctx, fn) }

func dbErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("filter/sqlite: %s: %w", what, err)
}
