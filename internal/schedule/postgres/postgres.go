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
// Leasing is one statement: due rows are selected FOR NO KEY UPDATE SKIP LOCKED and
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
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/pgkit"
	"mailgrid/internal/schedule"
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
	pool *pgxpool.Pool
}

var _ schedule.Store = (*DB)(nil)

// Open connects to dsn and brings the schedule schema up to date.
func Open(ctx context.Context, dsn string) (*DB, error) {
	pool, err := pgkit.Connect(ctx, dsn, SchemaName, nil)
	if err != nil {
		return nil, fmt.Errorf("schedule/postgres: %w", err)
	}
	if err := schema().Apply(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("schedule/postgres: %w", err)
	}
	return &DB{pool: pool}, nil
}

// Close releases the pool.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

const (
	listColumns = "id, domain, account, due, state, meta, created, attempts, last_error, lease_token"
	allColumns  = listColumns + ", message"
)

func scan(sc pgx.Row, withMessage bool) (schedule.Item, error) {
	var it schedule.Item
	var due, created int64
	var m string
	dest := []any{&it.ID, &it.Owner.Domain, &it.Owner.Account, &due, &it.State, &m, &created, &it.Attempts, &it.LastError, &it.Token}
	if withMessage {
		dest = append(dest, &it.Message)
	}
	if err := sc.Scan(dest...); err != nil {
		return it, err
	}
	it.Due, it.Created = time.Unix(0, due).UTC(), time.Unix(0, created).UTC()
	return it, schedule.DecodeMeta(m, &it)
}

func collect(rows pgx.Rows, withMessage bool) ([]schedule.Item, error) {
	defer rows.Close()
	var out []schedule.Item
	for rows.Next() {
		it, err := scan(rows, withMessage)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Add implements schedule.Store.
func (d *DB) Add(ctx context.Context, it schedule.Item) (int64, error) {
	if err := schedule.Validate(it); err != nil {
		return 0, err
	}
	m, err := schedule.EncodeMeta(it)
	if err != nil {
		return 0, err
	}
	if it.Created.IsZero() {
		it.Created = time.Now()
	}
	var id int64
	err = d.pool.QueryRow(ctx, `INSERT INTO items (domain, account, due, state, meta, message, created, attempts, last_error, lease_token, lease_until)
VALUES ($1, $2, $3, 0, $4, $5, $6, 0, '', '', 0) RETURNING id`,
		it.Owner.Domain, it.Owner.Account, it.Due.UnixNano(), m, it.Message, it.Created.UnixNano()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("schedule/postgres: add: %w", err)
	}
	return id, nil
}

// List implements schedule.Store.
func (d *DB) List(ctx context.Context, o schedule.Owner) ([]schedule.Item, error) {
	rows, err := d.pool.Query(ctx, "SELECT "+listColumns+" FROM items WHERE domain = $1 AND account = $2 ORDER BY due, id", o.Domain, o.Account)
	if err != nil {
		return nil, fmt.Errorf("schedule/postgres: list: %w", err)
	}
	out, err := collect(rows, false)
	if err != nil {
		return nil, fmt.Errorf("schedule/postgres: list: %w", err)
	}
	for i := range out {
		out[i].Token = ""
	}
	return out, nil
}

// Get implements schedule.Store.
func (d *DB) Get(ctx context.Context, o schedule.Owner, id int64) (schedule.Item, error) {
	it, err := scan(d.pool.QueryRow(ctx, "SELECT "+allColumns+" FROM items WHERE domain = $1 AND account = $2 AND id = $3", o.Domain, o.Account, id), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return it, schedule.ErrNotFound
	}
	if err != nil {
		return it, fmt.Errorf("schedule/postgres: get: %w", err)
	}
	it.Token = ""
	return it, nil
}

// Cancel implements schedule.Store.
func (d *DB) Cancel(ctx context.Context, o schedule.Owner, id int64, now time.Time) (schedule.Item, error) {
	it, err := scan(d.pool.QueryRow(ctx, "DELETE FROM items WHERE domain = $1 AND account = $2 AND id = $3 AND lease_until <= $4 RETURNING "+allColumns,
		o.Domain, o.Account, id, now.UnixNano()), true)
	if err == nil {
		it.Token = ""
		return it, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return it, fmt.Errorf("schedule/postgres: cancel: %w", err)
	}
	var n int
	if err := d.pool.QueryRow(ctx, "SELECT count(*) FROM items WHERE domain = $1 AND account = $2 AND id = $3", o.Domain, o.Account, id).Scan(&n); err != nil {
		return schedule.Item{}, fmt.Errorf("schedule/postgres: cancel: %w", err)
	}
	if n > 0 {
		return schedule.Item{}, schedule.ErrBusy
	}
	return schedule.Item{}, schedule.ErrNotFound
}

// Lease implements schedule.Store.
func (d *DB) Lease(ctx context.Context, now time.Time, dur time.Duration, max int) ([]schedule.Item, error) {
	rows, err := d.pool.Query(ctx, `WITH due AS (
		SELECT id FROM items
		WHERE state = 0 AND due <= $3 AND lease_until <= $3
		ORDER BY due, id
		LIMIT $4
		FOR NO KEY UPDATE SKIP LOCKED)
	UPDATE items SET lease_token = $1, lease_until = $2, attempts = items.attempts + 1
	FROM due WHERE items.id = due.id
	RETURNING `+prefixed(allColumns),
		schedule.NewToken(), now.Add(dur).UnixNano(), now.UnixNano(), max)
	if err != nil {
		return nil, fmt.Errorf("schedule/postgres: lease: %w", err)
	}
	out, err := collect(rows, true)
	if err != nil {
		return nil, fmt.Errorf("schedule/postgres: lease: %w", err)
	}
	slices.SortFunc(out, func(a, b schedule.Item) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return out, nil
}

// prefixed qualifies the columns with the table (RETURNING after UPDATE … FROM).
func prefixed(cols string) string {
	return "items." + strings.ReplaceAll(cols, ", ", ", items.")
}

// held runs a statement on a leased item and maps "no row" to ErrLeaseLost.
func (d *DB) held(ctx context.Context, what, query string, args ...any) error {
	tag, err := d.pool.Exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("schedule/postgres: %s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return schedule.ErrLeaseLost
	}
	return nil
}

// Done implements schedule.Store.
func (d *DB) Done(ctx context.Context, id int64, token string) error {
	return d.held(ctx, "done", "DELETE FROM items WHERE id = $1 AND lease_token = $2 AND lease_token <> ''", id, token)
}

// Retry implements schedule.Store.
func (d *DB) Retry(ctx context.Context, id int64, token string, due time.Time, reason string) error {
	return d.held(ctx, "retry", `UPDATE items SET due = $3, last_error = $4, lease_token = '', lease_until = 0
WHERE id = $1 AND lease_token = $2 AND lease_token <> ''`, id, token, due.UnixNano(), reason)
}

// Fail implements schedule.Store.
func (d *DB) Fail(ctx context.Context, id int64, token string, reason string) error {
	return d.held(ctx, "fail", `UPDATE items SET state = 1, last_error = $3, lease_token = '', lease_until = 0
WHERE id = $1 AND lease_token = $2 AND lease_token <> ''`, id, token, reason)
}

// DeleteOwner implements schedule.Store: one DELETE, leased items included.
func (d *DB) DeleteOwner(ctx context.Context, o schedule.Owner) (int, error) {
	if err := schedule.CheckDelete(o.Domain, o.Account, false); err != nil {
		return 0, err
	}
	return d.deleteWhere(ctx, "schedule/postgres: delete owner", "domain = $1 AND account = $2", o.Domain, o.Account)
}

// DeleteDomain implements schedule.Store: one DELETE, leased items included.
func (d *DB) DeleteDomain(ctx context.Context, domain string) (int, error) {
	if err := schedule.CheckDelete(domain, 0, true); err != nil {
		return 0, err
	}
	return d.deleteWhere(ctx, "schedule/postgres: delete domain", "domain = $1", domain)
}

func (d *DB) deleteWhere(ctx context.Context, what, where string, args ...any) (int, error) {
	tag, err := d.pool.Exec(ctx, "DELETE FROM items WHERE "+where, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return int(tag.RowsAffected()), nil
}
