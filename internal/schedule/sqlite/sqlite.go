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
// Every owner's statement names (domain, account) beside the ID. Opening, durability and
// migrations are internal/sqlitekit's: WAL, synchronous=FULL, one writer connection with
// BEGIN IMMEDIATE, a read pool, PRAGMA user_version steps. Lease is one UPDATE …
// RETURNING on the one writer, so two leases never claim the same item, and Cancel (one
// DELETE … RETURNING) excludes it the same way.
//
// Library: modernc.org/sqlite (pure Go).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"mailgrid/internal/schedule"
	"mailgrid/internal/sqlitekit"
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
	kit      *sqlitekit.DB
	wdb, rdb *sql.DB // kit.Write, kit.Read
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
	return &DB{kit: kit, wdb: kit.Write, rdb: kit.Read}, nil
}

// Close closes the databases.
func (d *DB) Close() error { return d.kit.Close() }

const (
	listColumns = "id, domain, account, due, state, meta, created, attempts, last_error, lease_token"
	allColumns  = listColumns + ", message"
)

func scan(sc interface{ Scan(...any) error }, withMessage bool) (schedule.Item, error) {
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
	err = d.wdb.QueryRowContext(ctx, `INSERT INTO items (domain, account, due, state, meta, message, created, attempts, last_error, lease_token, lease_until)
VALUES ($1, $2, $3, 0, $4, $5, $6, 0, '', '', 0) RETURNING id`,
		it.Owner.Domain, it.Owner.Account, it.Due.UnixNano(), m, it.Message, it.Created.UnixNano()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("schedule/sqlite: add: %w", err)
	}
	return id, nil
}

// List implements schedule.Store.
func (d *DB) List(ctx context.Context, o schedule.Owner) ([]schedule.Item, error) {
	rows, err := d.rdb.QueryContext(ctx, "SELECT "+listColumns+" FROM items WHERE domain = $1 AND account = $2 ORDER BY due, id", o.Domain, o.Account)
	if err != nil {
		return nil, fmt.Errorf("schedule/sqlite: list: %w", err)
	}
	out, err := collect(rows, false)
	if err != nil {
		return nil, fmt.Errorf("schedule/sqlite: list: %w", err)
	}
	for i := range out {
		out[i].Token = ""
	}
	return out, nil
}

func collect(rows *sql.Rows, withMessage bool) ([]schedule.Item, error) {
	defer func() { _ = rows.Close() }() // read-only; rows.Err reports failures
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

// Get implements schedule.Store.
func (d *DB) Get(ctx context.Context, o schedule.Owner, id int64) (schedule.Item, error) {
	it, err := scan(d.rdb.QueryRowContext(ctx, "SELECT "+allColumns+" FROM items WHERE domain = $1 AND account = $2 AND id = $3", o.Domain, o.Account, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return it, schedule.ErrNotFound
	}
	if err != nil {
		return it, fmt.Errorf("schedule/sqlite: get: %w", err)
	}
	it.Token = ""
	return it, nil
}

// Cancel implements schedule.Store: one DELETE on the one writer.
func (d *DB) Cancel(ctx context.Context, o schedule.Owner, id int64, now time.Time) (schedule.Item, error) {
	it, err := scan(d.wdb.QueryRowContext(ctx, "DELETE FROM items WHERE domain = $1 AND account = $2 AND id = $3 AND lease_until <= $4 RETURNING "+allColumns,
		o.Domain, o.Account, id, now.UnixNano()), true)
	if err == nil {
		it.Token = ""
		return it, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return it, fmt.Errorf("schedule/sqlite: cancel: %w", err)
	}
	var n int
	if err := d.wdb.QueryRowContext(ctx, "SELECT count(*) FROM items WHERE domain = $1 AND account = $2 AND id = $3", o.Domain, o.Account, id).Scan(&n); err != nil {
		return schedule.Item{}, fmt.Errorf("schedule/sqlite: cancel: %w", err)
	}
	if n > 0 {
		return schedule.Item{}, schedule.ErrBusy
	}
	return schedule.Item{}, schedule.ErrNotFound
}

// Lease implements schedule.Store: one UPDATE … RETURNING on the one writer.
func (d *DB) Lease(ctx context.Context, now time.Time, dur time.Duration, max int) ([]schedule.Item, error) {
	token := schedule.NewToken()
	rows, err := d.wdb.QueryContext(ctx, `UPDATE items SET lease_token = $1, lease_until = $2, attempts = attempts + 1
WHERE id IN (SELECT id FROM items WHERE state = 0 AND due <= $3 AND lease_until <= $3 ORDER BY due, id LIMIT $4)
RETURNING `+allColumns, token, now.Add(dur).UnixNano(), now.UnixNano(), max)
	if err != nil {
		return nil, fmt.Errorf("schedule/sqlite: lease: %w", err)
	}
	out, err := collect(rows, true)
	if err != nil {
		return nil, fmt.Errorf("schedule/sqlite: lease: %w", err)
	}
	slices.SortFunc(out, func(a, b schedule.Item) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return out, nil
}

// held runs a statement on a leased item and maps "no row" to ErrLeaseLost.
func (d *DB) held(ctx context.Context, what, query string, args ...any) error {
	res, err := d.wdb.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("schedule/sqlite: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("schedule/sqlite: %s: %w", what, err)
	}
	if n == 0 {
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
	return d.deleteWhere(ctx, "schedule/sqlite: delete owner", "domain = $1 AND account = $2", o.Domain, o.Account)
}

// DeleteDomain implements schedule.Store: one DELETE, leased items included.
func (d *DB) DeleteDomain(ctx context.Context, domain string) (int, error) {
	if err := schedule.CheckDelete(domain, 0, true); err != nil {
		return 0, err
	}
	return d.deleteWhere(ctx, "schedule/sqlite: delete domain", "domain = $1", domain)
}

func (d *DB) deleteWhere(ctx context.Context, what, where string, args ...any) (int, error) {
	res, err := d.wdb.ExecContext(ctx, "DELETE FROM items WHERE "+where, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return int(n), nil
}
