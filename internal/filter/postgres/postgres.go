// Package postgres is the cluster driver of the filter state (package filter's Settings,
// Tokens, TrainLog, SieveScripts, Vacations, QuarantineStore, BlockLists and
// DomainRules): one state in a PostgreSQL database that every node shares, so a Sieve
// script uploaded through one node's ManageSieve runs for mail any node delivers, a
// message held on one node is listed and released on any other, and a vacation reply
// is sent once per period whichever nodes receive the mail. It passes the conformance
// suite in package filter/statetest, as the embedded driver (filter/sqlite) does.
//
// Engine: github.com/jackc/pgx/v5 with its pgxpool pool, used directly, as the queue and
// directory drivers, with the pieces they share from package pgkit.
//
// Layout: the tables live in the PostgreSQL schema "filter" (the pool sets search_path),
// so the state shares the directory database with the directory and the queue. The
// tables mirror the SQLite driver's; every row names its tenant (domain) and account:
//
//	spam_levels       (domain, account, level)      account 0 is the domain default
//	bayes_totals      (domain, account, spam, ham)
//	bayes_tokens      (domain, account, token, spam, ham)
//	bayes_trained     (domain, account, blob, class, trained)  filter.TrainLog
//	sieve_scripts     (domain, account, name, source, active, updated)  at most one
//	                  active per account (a partial unique index)
//	vacation_replies  (domain, account, sender, handle, sent)  RFC 5230 4.2 memory
//	quarantine        (id, domain, account, rcpt, sender, reason, mailet, size,
//	                  created, blob)  one row per held copy; blob references held_bodies
//	held_bodies       (id, size)  a held message, named by the hex sha256 of its content:
//	                  a message held for several recipients is stored once
//	held_chunks       (body, seq, data)  the body in chunks of ChunkSize octets (bytea),
//	                  deleted with their held_bodies row
//	block_list        (domain, kind, value, note, created)   "" is the system list
//	domain_rules      (id, domain, name, position, enabled, match_any, conditions jsonb,
//	                  action, arg)
//
// Times are Unix seconds, as in the SQLite driver.
//
// Consistency: every method that changes more than one row is one transaction, and
// every change is durable when the method returns nil (synchronous_commit=on unless the
// DSN chooses otherwise). Bayes Add is one transaction per message with the tokens in a
// fixed order; Bayes reads and deletes probe the primary key per token. Vacation MarkReplied is a single
// INSERT ... ON CONFLICT DO UPDATE ... WHERE statement: of two nodes racing for one
// sender exactly one sees its row written. Script changes that touch several rows lock
// the account's scripts first. A held body row is locked (INSERT ... ON CONFLICT DO
// UPDATE) by Hold before its copies are inserted, and Delete and Expire lock it (SELECT
// ... FOR UPDATE) before removing a body no copy references, so a body is never removed
// under a copy being held; a foreign key backs this up.
//
// The statements and row scanning of everything but the Bayes tokens, the held bodies and
// RenameScript are filter/sqlstore's, shared with filter/sqlite; this package holds the
// schema, opening, the token store, the chunked held bodies, the script lock and the
// rename.
//
// Migrations are versioned in filter.schema_migrations (pgkit.Migrations): nodes starting
// together apply each step once; a database written by a newer mailgrid is refused.
package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/sqlstore"
	"mailgrid/internal/pgkit"
	"mailgrid/internal/sqlkit"
)

// SchemaName is the PostgreSQL schema that holds the filter state's tables.
const SchemaName = "filter"

// ChunkSize is the size of a held body's chunk (the last one may be shorter).
const ChunkSize = 256 << 10

// Options configure Open.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time // the clock; nil is time.Now
}

// DB is the filter state in PostgreSQL. It is safe for concurrent use, and any number of
// DBs (nodes) may work on one database at once.
type DB struct {
	*sqlstore.Store
	pool *pgxpool.Pool
	log  *slog.Logger
	now  func() time.Time
}

// The interfaces that need this driver's own methods; sqlstore.Store, embedded, fills
// the others (asserted there).
var (
	_ filter.Tokens          = (*DB)(nil)
	_ filter.SieveScripts    = (*DB)(nil)
	_ filter.QuarantineStore = (*DB)(nil)
)

// Open connects to the database at dsn (a PostgreSQL URL or key=value string; pool
// settings such as pool_max_conns are honoured) and brings the filter schema up to date.
func Open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	pool, err := schema().Open(ctx, dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("filter/postgres: %w", err)
	}
	c := pgkit.Conn(pool)
	st := &sqlstore.Store{Base: sqlkit.Base{Name: "filter/postgres", R: c, W: c}, Now: opt.Now, LockScripts: lockScripts,
		JSONParam: "::text::jsonb", JSONText: "::text", DropInTx: dropUnused}
	return &DB{Store: st, pool: pool, log: opt.Logger, now: opt.Now}, nil
}

// Close releases the connection pool. Held bodies opened from it fail afterwards.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// tx runs fn in a transaction and commits it.
func (d *DB) tx(ctx context.Context, fn func(pgx.Tx) error) (err error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return dbErr("begin", err)
	}
	defer func() {
		if err != nil {
			if rerr := pgkit.Rollback(tx); rerr != nil {
				d.log.Warn("filter/postgres: rollback", "err", rerr)
			}
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return dbErr("commit", err)
	}
	return nil
}

func dbErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("filter/postgres: %s: %w", what, err)
}
