// Package sqlitekit holds what the small embedded SQLite drivers (fetch, schedule,
// contacts, filter state) share, so each driver states only its own tables and queries.
// It is the SQLite counterpart of internal/pgkit.
//
// The model: one database file, opened twice through database/sql (modernc.org/sqlite):
//
//   - Write: a pool of exactly one connection, whose transactions begin with
//     BEGIN IMMEDIATE (_txlock=immediate). Every change goes through it, so writers queue
//     in Go instead of failing with SQLITE_BUSY, and a read-then-write transaction holds
//     the write lock from its first statement (no lock upgrade that could deadlock).
//   - Read: a pool of ReadConns connections with PRAGMA query_only, so a read can never
//     write by mistake; in WAL mode readers see the last commit and never block the writer.
//
// Every connection sets busy_timeout(10000) (first, so the journal_mode change waits for
// a lock rather than failing), journal_mode(WAL), synchronous(FULL) (a commit is on disk
// when it returns, WAL included) and foreign_keys(1) (REFERENCES clauses are enforced).
//
// The schema is versioned by PRAGMA user_version: Steps[i] brings version i to i+1, each
// step in its own transaction with the user_version update, so a failed step leaves the
// database at the previous version (SQLite DDL is transactional). A database whose
// user_version is above the program's Version is refused, never downgraded.
//
// Tx runs a function in a write transaction, committing when it returns nil and rolling
// back otherwise (also on panic).
//
// Reader and Writer present the two pools as internal/sqlkit's engine-neutral Conn and
// DB, so a store's shared statements (contacts/sqlstore, schedule/sqlstore,
// fetch/sqlstore, filter/sqlstore) run here as on PostgreSQL through pgkit.Conn.
//
// Only drivers import sqlitekit (internal/archtest checks it): front-ends and core
// packages never see SQL.
package sqlitekit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// Options configure Open.
type Options struct {
	// Name starts every error message, e.g. "fetch/sqlite".
	Name string
	// Path is the database file; its directory is created with DirMode when missing.
	Path    string
	DirMode os.FileMode // default 0o750
	// ReadConns is the read pool's size; default 2.
	ReadConns int
	// Version is the schema version the program writes; it must equal len(Steps).
	Version int
	// Steps are the schema steps in order. Never edit a released step: append one and
	// raise Version.
	Steps []string
}

// DB is one SQLite database opened as a single writer and a read pool. It is safe for
// concurrent use.
type DB struct {
	Write *sql.DB // one connection; BEGIN IMMEDIATE
	Read  *sql.DB // query_only connections
	name  string
}

// Open opens (creating if needed) the database at opt.Path and brings its schema up to
// opt.Version.
func Open(ctx context.Context, opt Options) (*DB, error) {
	if opt.Path == "" {
		return nil, fmt.Errorf("%s: no database path", opt.Name)
	}
	if len(opt.Steps) != opt.Version {
		return nil, fmt.Errorf("%s: %d migrations for schema version %d", opt.Name, len(opt.Steps), opt.Version)
	}
	if opt.DirMode == 0 {
		opt.DirMode = 0o750
	}
	if opt.ReadConns <= 0 {
		opt.ReadConns = 2
	}
	if err := os.MkdirAll(filepath.Dir(opt.Path), opt.DirMode); err != nil {
		return nil, fmt.Errorf("%s: %w", opt.Name, err)
	}
	w, err := sql.Open("sqlite", DSN(opt.Path, false))
	if err != nil {
		return nil, fmt.Errorf("%s: open: %w", opt.Name, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	if err := Migrate(ctx, w, opt.Steps); err != nil {
		return nil, errors.Join(fmt.Errorf("%s: %w", opt.Name, err), w.Close())
	}
	r, err := sql.Open("sqlite", DSN(opt.Path, true))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%s: open: %w", opt.Name, err), w.Close())
	}
	r.SetMaxOpenConns(opt.ReadConns)
	return &DB{Write: w, Read: r, name: opt.Name}, nil
}

// DSN is the modernc.org/sqlite data source name of the database at path: the writer's
// (_txlock=immediate) or, with readOnly, a reader's (query_only).
func DSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Close closes both pools.
func (d *DB) Close() error { return errors.Join(d.Read.Close(), d.Write.Close()) }

// Tx runs fn in a write transaction: committed when fn returns nil, rolled back when it
// returns an error (returned as it is) or panics.
func (d *DB) Tx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	tx, err := d.Write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", d.name, err)
	}
	done := false
	defer func() {
		if !done {
			err = errors.Join(err, IgnoreDone(tx.Rollback()))
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", d.name, err)
	}
	done = true
	return nil
}

// IgnoreDone drops sql.ErrTxDone, the error of rolling back a transaction that has
// already ended.
func IgnoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
