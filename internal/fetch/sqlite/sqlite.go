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
// Every statement about an account names its owner (domain, account) beside its ID.
// Leases are row updates through the single writer connection (BEGIN IMMEDIATE), so one
// node's fetches of an account never overlap. Opening, durability and migrations are
// internal/sqlitekit's (WAL, synchronous=FULL, foreign keys on, PRAGMA user_version steps).
//
// Library: modernc.org/sqlite (pure Go).
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"mailgrid/internal/fetch"
	"mailgrid/internal/sqlitekit"
	"mailgrid/internal/store"
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
	kit      *sqlitekit.DB
	wdb, rdb *sql.DB // kit.Write, kit.Read
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
	return &DB{kit: kit, wdb: kit.Write, rdb: kit.Read}, nil
}

// Close closes the databases.
func (d *DB) Close() error { return d.kit.Close() }

const columns = "id, domain, account, host, port, tls, user, secret, folder, keep, interval_ms, last_run, last_error, last_count, next_run"

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}

func scan(sc interface{ Scan(...any) error }) (fetch.Account, error) {
	var a fetch.Account
	var tls, keep int
	var iv, last, next int64
	err := sc.Scan(&a.ID, &a.Owner.Domain, &a.Owner.ID, &a.Host, &a.Port, &tls, &a.User, &a.Secret, &a.Folder, &keep, &iv, &last, &a.LastError, &a.LastCount, &next)
	a.TLS, a.Keep, a.Interval = fetch.TLS(tls), keep != 0, time.Duration(iv)*time.Millisecond
	a.LastRun, a.NextRun = fromMS(last), fromMS(next)
	return a, err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// List implements fetch.Store.
func (d *DB) List(ctx context.Context, owner store.AccountRef) ([]fetch.Account, error) {
	return d.query(ctx, "SELECT "+columns+" FROM accounts WHERE domain = $1 AND account = $2 ORDER BY id", owner.Domain, owner.ID)
}

func (d *DB) query(ctx context.Context, q string, args ...any) ([]fetch.Account, error) {
	rows, err := d.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("fetch/sqlite: %w", err)
	}
	defer rows.Close() //nolint:errcheck // rows.Err below reports failures
	var out []fetch.Account
	for rows.Next() {
		a, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("fetch/sqlite: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fetch/sqlite: %w", err)
	}
	return out, nil
}

// Get implements fetch.Store.
func (d *DB) Get(ctx context.Context, owner store.AccountRef, id int64) (fetch.Account, error) {
	a, err := scan(d.rdb.QueryRowContext(ctx, "SELECT "+columns+" FROM accounts WHERE domain = $1 AND account = $2 AND id = $3", owner.Domain, owner.ID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fetch.ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("fetch/sqlite: get: %w", err)
	}
	return a, nil
}

// Add implements fetch.Store.
func (d *DB) Add(ctx context.Context, a fetch.Account) (id int64, err error) {
	a, err = fetch.Prepare(a)
	if err != nil {
		return 0, err
	}
	err = d.kit.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM accounts WHERE domain = $1 AND account = $2", a.Owner.Domain, a.Owner.ID).Scan(&n); err != nil {
			return fmt.Errorf("fetch/sqlite: add: %w", err)
		}
		if n >= fetch.MaxAccounts {
			return fmt.Errorf("%w: at most %d external accounts", fetch.ErrInvalid, fetch.MaxAccounts)
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO accounts (domain, account, host, port, tls, user, secret, folder, keep, interval_ms, next_run)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0) RETURNING id`,
			a.Owner.Domain, a.Owner.ID, a.Host, a.Port, int(a.TLS), a.User, a.Secret, a.Folder, b2i(a.Keep), a.Interval.Milliseconds()).Scan(&id)
		if err != nil {
			return fmt.Errorf("fetch/sqlite: add: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// Update implements fetch.Store.
func (d *DB) Update(ctx context.Context, a fetch.Account) error {
	return d.kit.Tx(ctx, func(tx *sql.Tx) error { return update(ctx, tx, a) })
}

func update(ctx context.Context, tx *sql.Tx, a fetch.Account) error {
	old, err := scan(tx.QueryRowContext(ctx, "SELECT "+columns+" FROM accounts WHERE domain = $1 AND account = $2 AND id = $3", a.Owner.Domain, a.Owner.ID, a.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return fetch.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("fetch/sqlite: update: %w", err)
	}
	if a.Secret == nil {
		a.Secret = old.Secret
	}
	if a, err = fetch.Prepare(a); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE accounts SET host = $1, port = $2, tls = $3, user = $4, secret = $5, folder = $6, keep = $7, interval_ms = $8, next_run = 0, last_error = ''
WHERE id = $9`, a.Host, a.Port, int(a.TLS), a.User, a.Secret, a.Folder, b2i(a.Keep), a.Interval.Milliseconds(), a.ID); err != nil {
		return fmt.Errorf("fetch/sqlite: update: %w", err)
	}
	if old.Host != a.Host || old.User != a.User {
		if _, err := tx.ExecContext(ctx, "DELETE FROM uidls WHERE fetch_id = $1", a.ID); err != nil {
			return fmt.Errorf("fetch/sqlite: update: %w", err)
		}
	}
	return nil
}

// Delete implements fetch.Store (the UIDLs go with the account: ON DELETE CASCADE).
func (d *DB) Delete(ctx context.Context, owner store.AccountRef, id int64) error {
	res, err := d.wdb.ExecContext(ctx, "DELETE FROM accounts WHERE domain = $1 AND account = $2 AND id = $3", owner.Domain, owner.ID, id)
	if err != nil {
		return fmt.Errorf("fetch/sqlite: delete: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(fetch.ErrNotFound, err)
	}
	return nil
}

// Due implements fetch.Store.
func (d *DB) Due(ctx context.Context, now time.Time, limit int) ([]fetch.Account, error) {
	return d.query(ctx, "SELECT "+columns+" FROM accounts WHERE next_run <= $1 AND lease_until <= $1 ORDER BY next_run, id LIMIT $2", ms(now), limit)
}

// Claim implements fetch.Store.
func (d *DB) Claim(ctx context.Context, id int64, holder string, now, until time.Time) (bool, error) {
	res, err := d.wdb.ExecContext(ctx, "UPDATE accounts SET lease_holder = $1, lease_until = $2 WHERE id = $3 AND lease_until <= $4", holder, ms(until), id, ms(now))
	if err != nil {
		return false, fmt.Errorf("fetch/sqlite: claim: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("fetch/sqlite: claim: %w", err)
	}
	return n == 1, nil
}

// Finish implements fetch.Store.
func (d *DB) Finish(ctx context.Context, id int64, holder string, now time.Time, count int, errMsg string) error {
	_, err := d.wdb.ExecContext(ctx, `UPDATE accounts SET last_run = $1, last_error = $2, last_count = $3, next_run = $1 + interval_ms,
lease_holder = '', lease_until = 0 WHERE id = $4 AND lease_holder = $5`, ms(now), errMsg, count, id, holder)
	if err != nil {
		return fmt.Errorf("fetch/sqlite: finish: %w", err)
	}
	return nil
}

// Seen implements fetch.Store.
func (d *DB) Seen(ctx context.Context, id int64) (map[string]bool, error) {
	rows, err := d.rdb.QueryContext(ctx, "SELECT uidl FROM uidls WHERE fetch_id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("fetch/sqlite: seen: %w", err)
	}
	defer rows.Close() //nolint:errcheck // rows.Err below reports failures
	out := map[string]bool{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("fetch/sqlite: seen: %w", err)
		}
		out[u] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fetch/sqlite: seen: %w", err)
	}
	return out, nil
}

// Remember implements fetch.Store; for an account deleted meanwhile it remembers nothing.
func (d *DB) Remember(ctx context.Context, id int64, uidl string) error {
	res, err := d.wdb.ExecContext(ctx, "INSERT INTO uidls (fetch_id, uidl) SELECT id, $2 FROM accounts WHERE id = $1 ON CONFLICT DO NOTHING", id, uidl)
	if err != nil {
		return fmt.Errorf("fetch/sqlite: remember: %w", err)
	}
	if _, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("fetch/sqlite: remember: %w", err)
	}
	return nil
}

// Forget implements fetch.Store.
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

// Key implements fetch.Store.
func (d *DB) Key(ctx context.Context) ([]byte, error) {
	k := make([]byte, fetch.KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if _, err := d.wdb.ExecContext(ctx, "INSERT INTO sealkey (id, key) VALUES (1, $1) ON CONFLICT DO NOTHING", k); err != nil {
		return nil, fmt.Errorf("fetch/sqlite: key: %w", err)
	}
	var out []byte
	if err := d.wdb.QueryRowContext(ctx, "SELECT key FROM sealkey WHERE id = 1").Scan(&out); err != nil {
		return nil, fmt.Errorf("fetch/sqlite: key: %w", err)
	}
	return out, nil
}

// DeleteOwner implements fetch.Store: one DELETE (the UIDLs go by ON DELETE CASCADE).
func (d *DB) DeleteOwner(ctx context.Context, owner store.AccountRef) (int, error) {
	if err := fetch.CheckDelete(owner, false); err != nil {
		return 0, err
	}
	return d.deleteWhere(ctx, "fetch/sqlite: delete owner", "domain = $1 AND account = $2", owner.Domain, owner.ID)
}

// DeleteDomain implements fetch.Store: one DELETE (the UIDLs go by ON DELETE CASCADE).
func (d *DB) DeleteDomain(ctx context.Context, domain string) (int, error) {
	if err := fetch.CheckDelete(store.AccountRef{Domain: domain}, true); err != nil {
		return 0, err
	}
	return d.deleteWhere(ctx, "fetch/sqlite: delete domain", "domain = $1", domain)
}

func (d *DB) deleteWhere(ctx context.Context, what, where string, args ...any) (int, error) {
	res, err := d.wdb.ExecContext(ctx, "DELETE FROM accounts WHERE "+where, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return int(n), nil
}
