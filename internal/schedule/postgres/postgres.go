// Package postgres is the cluster driver of the scheduled sends (schedule.Store): one
// table in the directory database that every node shares, in the PostgreSQL schema
// "schedule" (the pool sets search_path). It passes schedule/scheduletest, as the
// embedded driver (schedule/sqlite) does.
//
// Layout, as the SQLite driver's:
//
//	items (id, domain, account, due, state, meta, message, created, attempts,
//	       last_error, lease_token, lease_until)   times are Unix nanoseconds; meta is
//	       the JSON of the envelope and display fields; lease_token '' and
//	       lease_until 0 when not leased
//
// The statements and row scanning are schedule/sqlstore's, shared with schedule/sqlite;
// this package holds the schema, opening and Lease. Leasing is one statement: due rows are selected FOR NO KEY UPDATE SKIP LOCKED and
// updated with the lease in the same statement. Leasers on other nodes skip the locked
// rows, and a row whose lease another node has just committed no longer matches when
// PostgreSQL re-checks it under the lock, so an item is never leased twice; an expired
// lease makes it match again on every node. Cancel is one DELETE that waits for a
// leaser's row lock and then re-checks the lease, so a cancelled item is never sent.
// Done, Retry and Fail act only while the token is the row's.
//
// Every change is durable when its method returns nil (synchronous_commit=on, through
// pgkit.Connect). Migrations are versioned in schedule.schema_migrations (pgkit).
//
// Engine: github.com/jackc/pgx/v5 (pgxpool), with package pgkit.
package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/pgkit"
	"mailgrid/internal/schedule"
	"mailgrid/internal/schedule/sqlstore"
	"mailgrid/internal/sqlkit"
)

// SchemaName is the PostgreSQL schema holding the scheduled sends.
const SchemaName = "schedule"

// SchemaVersion is the schema version this code writes.
const SchemaVersion = 1

func schema() pgkit.Migrations {
	return pgkit.Migrations{Schema: SchemaName, Lock: 0x6d61696c67726411, Version: SchemaVersion, Steps: []string{`
CREATE TABLE items (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain      text NOT NULL,
	account     bigint NOT NULL,
	due         bigint NOT NULL,
	state       integer NOT NULL,
	meta        text NOT NULL,
	message     bytea NOT NULL,
	created     bigint NOT NULL,
	attempts    integer NOT NULL,
	last_error  text NOT NULL,
	lease_token text NOT NULL,
	lease_until bigint NOT NULL
);
CREATE INDEX items_due ON items(state, due);
CREATE INDEX items_owner ON items(domain, account, due);
`}}
}

// DB is the scheduled sends in PostgreSQL, safe for concurrent use by any number of
// nodes.
type DB struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

var _ schedule.Store = (*DB)(nil)

// Open connects to dsn and brings the schedule schema up to date.
func Open(ctx context.Context, dsn string) (*DB, error) {
	pool, err := schema().Open(ctx, dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("schedule/postgres: %w", err)
	}
	c := pgkit.Conn(pool)
	return &DB{Store: &sqlstore.Store{Base: sqlkit.Base{Name: "schedule/postgres", R: c, W: c}}, pool: pool}, nil
}

// Close releases the pool.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// Lease implements schedule.Store.
func (d *DB) Lease(ctx context.Context, now time.Time, dur time.Duration, max int) ([]schedule.Item, error) {
	return d.Leased(ctx, `WITH due AS (
		SELECT id FROM items
		WHERE state = 0 AND due <= $3 AND lease_until <= $3
		ORDER BY due, id
		LIMIT $4
		FOR NO KEY UPDATE SKIP LOCKED)
	UPDATE items SET lease_token = $1, lease_until = $2, attempts = items.attempts + 1
	FROM due WHERE items.id = due.id
	RETURNING `+sqlstore.Qualified(),
		schedule.NewToken(), now.Add(dur).UnixNano(), now.UnixNano(), max)
}
