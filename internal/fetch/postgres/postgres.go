// Package postgres is the cluster driver of the external POP3 accounts (fetch.Store): tables
// in the directory database that every node shares, in the PostgreSQL schema "pop3fetch" (the
// pool sets search_path). It passes the conformance suite in fetch/fetchtest, as the
// embedded driver (fetch/sqlite) does.
//
// Layout, as the SQLite driver's:
//
//	accounts (id, domain, account, host, port, tls, "user", secret, folder, keep,
//	          interval_ms, last_run, last_error, last_count, next_run, lease_holder,
//	          lease_until)   times are Unix milliseconds; secret is the sealed password
//	uidls    (fetch_id, uidl)   the remote unique-ids already stored locally
//	sealkey  (id = 1, key)      the installation's sealing key, shared by every node
//
// The statements and row scanning are fetch/sqlstore's, shared with fetch/sqlite; this
// package holds the schema, opening, Forget (one array statement) and the locks Add and
// Update take. The lease is a conditional UPDATE of the account's row: PostgreSQL's row
// lock makes concurrent claims from several nodes serialise, and only one sees its
// condition (the lease expired) hold. Every statement about an account names its owner beside its ID.
// Migrations are versioned in pop3fetch.schema_migrations (pgkit.Migrations).
//
// Engine: github.com/jackc/pgx/v5 (pgxpool), with package pgkit.
package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/fetch"
	"mailgrid/internal/fetch/sqlstore"
	"mailgrid/internal/pgkit"
	"mailgrid/internal/sqlkit"
	"mailgrid/internal/store"
)

// SchemaName is the PostgreSQL schema holding the accounts.
const SchemaName = "pop3fetch"

// SchemaVersion is the schema version this code writes.
const SchemaVersion = 1

func schema() pgkit.Migrations {
	return pgkit.Migrations{Schema: SchemaName, Lock: 0x6d61696c6772640f, Version: SchemaVersion, Steps: []string{`
CREATE TABLE accounts (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain       text NOT NULL,
	account      bigint NOT NULL,
	host         text NOT NULL,
	port         integer NOT NULL,
	tls          integer NOT NULL,
	"user"       text NOT NULL,
	secret       bytea NOT NULL,
	folder       text NOT NULL,
	keep         boolean NOT NULL,
	interval_ms  bigint NOT NULL,
	last_run     bigint NOT NULL DEFAULT 0,
	last_error   text NOT NULL DEFAULT '',
	last_count   integer NOT NULL DEFAULT 0,
	next_run     bigint NOT NULL,
	lease_holder text NOT NULL DEFAULT '',
	lease_until  bigint NOT NULL DEFAULT 0
);
CREATE INDEX accounts_owner ON accounts(domain, account);
CREATE INDEX accounts_due ON accounts(next_run);
CREATE TABLE uidls (
	fetch_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	uidl     text NOT NULL,
	PRIMARY KEY (fetch_id, uidl)
);
CREATE TABLE sealkey (
	id  integer PRIMARY KEY CHECK (id = 1),
	key bytea NOT NULL
);
`}}
}

// DB is the external accounts in PostgreSQL, safe for concurrent use by any number of nodes.
type DB struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

var _ fetch.Store = (*DB)(nil)

// Open connects to dsn and brings the fetch schema up to date.
func Open(ctx context.Context, dsn string) (*DB, error) {
	pool, err := schema().Open(ctx, dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch/postgres: %w", err)
	}
	c := pgkit.Conn(pool)
	st := &sqlstore.Store{Base: sqlkit.Base{Name: "fetch/postgres", R: c, W: c}, OwnerLock: ownerLock, ForUpdate: " FOR UPDATE"}
	return &DB{Store: st, pool: pool}, nil
}

// ownerLock serialises Add's count and insert for one owner across nodes: a transaction
// advisory lock on the owner.
func ownerLock(ctx context.Context, tx sqlkit.Conn, owner store.AccountRef) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('fetch:' || $1), $2::int)", owner.Domain, int32(owner.ID))
	return err
}

// Close releases the pool.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// Forget implements fetch.Store: one DELETE of the UIDLs not in keep.
func (d *DB) Forget(ctx context.Context, id int64, keep map[string]bool) error {
	ks := make([]string, 0, len(keep))
	for u := range keep {
		ks = append(ks, u)
	}
	if _, err := d.pool.Exec(ctx, "DELETE FROM uidls WHERE fetch_id = $1 AND NOT (uidl = ANY($2))", id, ks); err != nil {
		return fmt.Errorf("fetch/postgres: forget: %w", err)
	}
	return nil
}
