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
// The lease is a conditional UPDATE of the account's row: PostgreSQL's row lock makes
// concurrent claims from several nodes serialise, and only one sees its condition (the
// lease expired) hold. Every statement about an account names its owner beside its ID.
// Migrations are versioned in pop3fetch.schema_migrations (pgkit.Migrations).
//
// Engine: github.com/jackc/pgx/v5 (pgxpool), with package pgkit.
package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/fetch"
	"mailgrid/internal/pgkit"
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
	pool *pgxpool.Pool
}

var _ fetch.Store = (*DB)(nil)

// Open connects to dsn and brings the fetch schema up to date.
func Open(ctx context.Context, dsn string) (*DB, error) {
	pool, err := pgkit.Connect(ctx, dsn, SchemaName, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch/postgres: %w", err)
	}
	if err := schema().Apply(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("fetch/postgres: %w", err)
	}
	return &DB{pool: pool}, nil
}

// Close releases the pool.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

const columns = `id, domain, account, host, port, tls, "user", secret, folder, keep, interval_ms, last_run, last_error, last_count, next_run`

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

func scan(sc pgx.Row) (fetch.Account, error) {
	var a fetch.Account
	var tls int
	var iv, last, next int64
	err := sc.Scan(&a.ID, &a.Owner.Domain, &a.Owner.ID, &a.Host, &a.Port, &tls, &a.User, &a.Secret, &a.Folder, &a.Keep, &iv, &last, &a.LastError, &a.LastCount, &next)
	a.TLS, a.Interval = fetch.TLS(tls), time.Duration(iv)*time.Millisecond
	a.LastRun, a.NextRun = fromMS(last), fromMS(next)
	return a, err
}

// List implements fetch.Store.
func (d *DB) List(ctx context.Context, owner store.AccountRef) ([]fetch.Account, error) {
	return d.query(ctx, "SELECT "+columns+" FROM accounts WHERE domain = $1 AND account = $2 ORDER BY id", owner.Domain, owner.ID)
}

func (d *DB) query(ctx context.Context, q string, args ...any) ([]fetch.Account, error) {
	rows, err := d.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("fetch/postgres: %w", err)
	}
	defer rows.Close()
	var out []fetch.Account
	for rows.Next() {
		a, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("fetch/postgres: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fetch/postgres: %w", err)
	}
	return out, nil
}

// Get implements fetch.Store.
func (d *DB) Get(ctx context.Context, owner store.AccountRef, id int64) (fetch.Account, error) {
	a, err := scan(d.pool.QueryRow(ctx, "SELECT "+columns+" FROM accounts WHERE domain = $1 AND account = $2 AND id = $3", owner.Domain, owner.ID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, fetch.ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("fetch/postgres: get: %w", err)
	}
	return a, nil
}

// Add implements fetch.Store. The count and the insert run under a per-owner advisory
// transaction lock, so concurrent adds cannot pass MaxAccounts together.
func (d *DB) Add(ctx context.Context, a fetch.Account) (id int64, err error) {
	a, err = fetch.Prepare(a)
	if err != nil {
		return 0, err
	}
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('fetch:' || $1), $2::int)", a.Owner.Domain, int32(a.Owner.ID)); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM accounts WHERE domain = $1 AND account = $2", a.Owner.Domain, a.Owner.ID).Scan(&n); err != nil {
			return err
		}
		if n >= fetch.MaxAccounts {
			return fmt.Errorf("%w: at most %d external accounts", fetch.ErrInvalid, fetch.MaxAccounts)
		}
		return tx.QueryRow(ctx, `INSERT INTO accounts (domain, account, host, port, tls, "user", secret, folder, keep, interval_ms, next_run)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0) RETURNING id`,
			a.Owner.Domain, a.Owner.ID, a.Host, a.Port, int(a.TLS), a.User, a.Secret, a.Folder, a.Keep, a.Interval.Milliseconds()).Scan(&id)
	})
	if errors.Is(err, fetch.ErrInvalid) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("fetch/postgres: add: %w", err)
	}
	return id, nil
}

// Update implements fetch.Store.
func (d *DB) Update(ctx context.Context, a fetch.Account) error {
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		old, err := scan(tx.QueryRow(ctx, "SELECT "+columns+" FROM accounts WHERE domain = $1 AND account = $2 AND id = $3 FOR UPDATE", a.Owner.Domain, a.Owner.ID, a.ID))
		if errors.Is(err, pgx.ErrNoRows) {
			return fetch.ErrNotFound
		}
		if err != nil {
			return err
		}
		if a.Secret == nil {
			a.Secret = old.Secret
		}
		if a, err = fetch.Prepare(a); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET host = $1, port = $2, tls = $3, "user" = $4, secret = $5, folder = $6, keep = $7, interval_ms = $8, next_run = 0, last_error = ''
WHERE id = $9`, a.Host, a.Port, int(a.TLS), a.User, a.Secret, a.Folder, a.Keep, a.Interval.Milliseconds(), a.ID); err != nil {
			return err
		}
		if old.Host != a.Host || old.User != a.User {
			if _, err := tx.Exec(ctx, "DELETE FROM uidls WHERE fetch_id = $1", a.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, fetch.ErrNotFound) || errors.Is(err, fetch.ErrInvalid) {
		return err
	}
	if err != nil {
		return fmt.Errorf("fetch/postgres: update: %w", err)
	}
	return nil
}

// Delete implements fetch.Store (the UIDLs go with the account: ON DELETE CASCADE).
func (d *DB) Delete(ctx context.Context, owner store.AccountRef, id int64) error {
	tag, err := d.pool.Exec(ctx, "DELETE FROM accounts WHERE domain = $1 AND account = $2 AND id = $3", owner.Domain, owner.ID, id)
	if err != nil {
		return fmt.Errorf("fetch/postgres: delete: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fetch.ErrNotFound
	}
	return nil
}

// Due implements fetch.Store.
func (d *DB) Due(ctx context.Context, now time.Time, limit int) ([]fetch.Account, error) {
	return d.query(ctx, "SELECT "+columns+" FROM accounts WHERE next_run <= $1 AND lease_until <= $1 ORDER BY next_run, id LIMIT $2", ms(now), limit)
}

// Claim implements fetch.Store.
func (d *DB) Claim(ctx context.Context, id int64, holder string, now, until time.Time) (bool, error) {
	tag, err := d.pool.Exec(ctx, "UPDATE accounts SET lease_holder = $1, lease_until = $2 WHERE id = $3 AND lease_until <= $4", holder, ms(until), id, ms(now))
	if err != nil {
		return false, fmt.Errorf("fetch/postgres: claim: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Finish implements fetch.Store.
func (d *DB) Finish(ctx context.Context, id int64, holder string, now time.Time, count int, errMsg string) error {
	_, err := d.pool.Exec(ctx, `UPDATE accounts SET last_run = $1, last_error = $2, last_count = $3, next_run = $1 + interval_ms,
lease_holder = '', lease_until = 0 WHERE id = $4 AND lease_holder = $5`, ms(now), errMsg, count, id, holder)
	if err != nil {
		return fmt.Errorf("fetch/postgres: finish: %w", err)
	}
	return nil
}

// Seen implements fetch.Store.
func (d *DB) Seen(ctx context.Context, id int64) (map[string]bool, error) {
	rows, err := d.pool.Query(ctx, "SELECT uidl FROM uidls WHERE fetch_id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("fetch/postgres: seen: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("fetch/postgres: seen: %w", err)
		}
		out[u] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fetch/postgres: seen: %w", err)
	}
	return out, nil
}

// Remember implements fetch.Store; for an account deleted meanwhile it remembers nothing.
func (d *DB) Remember(ctx context.Context, id int64, uidl string) error {
	if _, err := d.pool.Exec(ctx, "INSERT INTO uidls (fetch_id, uidl) SELECT id, $2 FROM accounts WHERE id = $1 ON CONFLICT DO NOTHING", id, uidl); err != nil {
		return fmt.Errorf("fetch/postgres: remember: %w", err)
	}
	return nil
}

// Forget implements fetch.Store.
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

// Key implements fetch.Store.
func (d *DB) Key(ctx context.Context) ([]byte, error) {
	k := make([]byte, fetch.KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if _, err := d.pool.Exec(ctx, "INSERT INTO sealkey (id, key) VALUES (1, $1) ON CONFLICT DO NOTHING", k); err != nil {
		return nil, fmt.Errorf("fetch/postgres: key: %w", err)
	}
	var out []byte
	if err := d.pool.QueryRow(ctx, "SELECT key FROM sealkey WHERE id = 1").Scan(&out); err != nil {
		return nil, fmt.Errorf("fetch/postgres: key: %w", err)
	}
	return out, nil
}

// DeleteOwner implements fetch.Store: one DELETE (the UIDLs go by ON DELETE CASCADE).
func (d *DB) DeleteOwner(ctx context.Context, owner store.AccountRef) (int, error) {
	if err := fetch.CheckDelete(owner, false); err != nil {
		return 0, err
	}
	return d.deleteWhere(ctx, "fetch/postgres: delete owner", "domain = $1 AND account = $2", owner.Domain, owner.ID)
}

// DeleteDomain implements fetch.Store: one DELETE (the UIDLs go by ON DELETE CASCADE).
func (d *DB) DeleteDomain(ctx context.Context, domain string) (int, error) {
	if err := fetch.CheckDelete(store.AccountRef{Domain: domain}, true); err != nil {
		return 0, err
	}
	return d.deleteWhere(ctx, "fetch/postgres: delete domain", "domain = $1", domain)
}

func (d *DB) deleteWhere(ctx context.Context, what, where string, args ...any) (int, error) {
	tag, err := d.pool.Exec(ctx, "DELETE FROM accounts WHERE "+where, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return int(tag.RowsAffected()), nil
}
