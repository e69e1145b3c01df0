// Package sqlstore is the SQL the two fetch drivers share: the statements and row
// scanning of fetch.Store, written once over sqlkit and run by fetch/sqlite (through
// sqlitekit) and fetch/postgres (through pgkit) on the same tables (layout in either
// driver's package doc; times are Unix milliseconds, 0 for "never").
//
// What stays in each driver: the schemas and migrations, opening and closing, Forget
// (PostgreSQL deletes with one "uidl = ANY($2)" array statement; SQLite deletes row by
// row in one transaction) and two settings of Store: OwnerLock, PostgreSQL's per-owner
// advisory lock that Add takes before counting (SQLite's one writer already serialises
// Add), and ForUpdate, the row lock Update reads the old row with (" FOR UPDATE" on
// PostgreSQL; SQLite's write transaction holds the database).
//
// Store is embedded by each driver's DB, so its methods are the driver's.
package sqlstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"mailgrid/internal/fetch"
	"mailgrid/internal/sqlkit"
	"mailgrid/internal/store"
)

// Store runs the shared statements on the driver's connections (sqlkit.Base).
type Store struct {
	sqlkit.Base
	// OwnerLock, when not nil, runs first in Add's transaction, so that concurrent adds
	// for one owner cannot pass fetch.MaxAccounts together.
	OwnerLock func(ctx context.Context, tx sqlkit.Conn, owner store.AccountRef) error
	// ForUpdate ends the statement with which Update reads the account it changes.
	ForUpdate string
}

const columns = `id, domain, account, host, port, tls, "user", secret, folder, keep, interval_ms, last_run, last_error, last_count, next_run`

// ms is t in Unix milliseconds, 0 for the zero time.
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

// scan reads a row of columns. keep is a boolean on PostgreSQL and 0 or 1 on SQLite;
// database/sql converts the integer to a bool as pgx reads the boolean.
func scan(sc sqlkit.Row) (fetch.Account, error) {
	var a fetch.Account
	var tls int
	var iv, last, next int64
	err := sc.Scan(&a.ID, &a.Owner.Domain, &a.Owner.ID, &a.Host, &a.Port, &tls, &a.User, &a.Secret, &a.Folder, &a.Keep, &iv, &last, &a.LastError, &a.LastCount, &next)
	a.TLS, a.Interval = fetch.TLS(tls), time.Duration(iv)*time.Millisecond
	a.LastRun, a.NextRun = fromMS(last), fromMS(next)
	return a, err
}

// List implements fetch.Store.
func (s *Store) List(ctx context.Context, owner store.AccountRef) ([]fetch.Account, error) {
	return s.query(ctx, "list", "SELECT "+columns+" FROM accounts WHERE domain = $1 AND account = $2 ORDER BY id", owner.Domain, owner.ID)
}

func (s *Store) query(ctx context.Context, what, q string, args ...any) ([]fetch.Account, error) {
	out, err := sqlkit.All(ctx, s.R, scan, q, args...)
	if err != nil {
		return nil, s.Err(what, err)
	}
	return out, nil
}

// Get implements fetch.Store.
func (s *Store) Get(ctx context.Context, owner store.AccountRef, id int64) (fetch.Account, error) {
	a, err := scan(s.R.QueryRow(ctx, "SELECT "+columns+" FROM accounts WHERE domain = $1 AND account = $2 AND id = $3", owner.Domain, owner.ID, id))
	if errors.Is(err, sqlkit.ErrNoRows) {
		return a, fetch.ErrNotFound
	}
	if err != nil {
		return a, s.Err("get", err)
	}
	return a, nil
}

// Add implements fetch.Store: the owner's accounts are counted and the new one inserted
// in one transaction.
func (s *Store) Add(ctx context.Context, a fetch.Account) (id int64, err error) {
	a, err = fetch.Prepare(a)
	if err != nil {
		return 0, err
	}
	err = s.W.Tx(ctx, func(tx sqlkit.Conn) error {
		if s.OwnerLock != nil {
			if err := s.OwnerLock(ctx, tx, a.Owner); err != nil {
				return err
			}
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
		return 0, s.Err("add", err)
	}
	return id, nil
}

// Update implements fetch.Store: a change of host or user forgets the remembered UIDLs
// (another mailbox), in the same transaction.
func (s *Store) Update(ctx context.Context, a fetch.Account) error {
	err := s.W.Tx(ctx, func(tx sqlkit.Conn) error {
		old, err := scan(tx.QueryRow(ctx, "SELECT "+columns+" FROM accounts WHERE domain = $1 AND account = $2 AND id = $3"+s.ForUpdate, a.Owner.Domain, a.Owner.ID, a.ID))
		if errors.Is(err, sqlkit.ErrNoRows) {
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
		return s.Err("update", err)
	}
	return nil
}

// Delete implements fetch.Store (the UIDLs go with the account: ON DELETE CASCADE).
func (s *Store) Delete(ctx context.Context, owner store.AccountRef, id int64) error {
	n, err := s.W.Exec(ctx, "DELETE FROM accounts WHERE domain = $1 AND account = $2 AND id = $3", owner.Domain, owner.ID, id)
	if err != nil {
		return s.Err("delete", err)
	}
	if n == 0 {
		return fetch.ErrNotFound
	}
	return nil
}

// Due implements fetch.Store.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]fetch.Account, error) {
	return s.query(ctx, "due", "SELECT "+columns+" FROM accounts WHERE next_run <= $1 AND lease_until <= $1 ORDER BY next_run, id LIMIT $2", ms(now), limit)
}

// Claim implements fetch.Store: a conditional UPDATE, which the row's lock (PostgreSQL)
// or the one writer (SQLite) lets only one claimant pass while the lease holds.
func (s *Store) Claim(ctx context.Context, id int64, holder string, now, until time.Time) (bool, error) {
	n, err := s.W.Exec(ctx, "UPDATE accounts SET lease_holder = $1, lease_until = $2 WHERE id = $3 AND lease_until <= $4", holder, ms(until), id, ms(now))
	if err != nil {
		return false, s.Err("claim", err)
	}
	return n == 1, nil
}

// Finish implements fetch.Store.
func (s *Store) Finish(ctx context.Context, id int64, holder string, now time.Time, count int, errMsg string) error {
	_, err := s.W.Exec(ctx, `UPDATE accounts SET last_run = $1, last_error = $2, last_count = $3, next_run = $1 + interval_ms,
lease_holder = '', lease_until = 0 WHERE id = $4 AND lease_holder = $5`, ms(now), errMsg, count, id, holder)
	if err != nil {
		return s.Err("finish", err)
	}
	return nil
}

// Seen implements fetch.Store.
func (s *Store) Seen(ctx context.Context, id int64) (map[string]bool, error) {
	uidls, err := sqlkit.All(ctx, s.R, sqlkit.Value[string], "SELECT uidl FROM uidls WHERE fetch_id = $1", id)
	if err != nil {
		return nil, s.Err("seen", err)
	}
	out := make(map[string]bool, len(uidls))
	for _, u := range uidls {
		out[u] = true
	}
	return out, nil
}

// Remember implements fetch.Store; for an account deleted meanwhile it remembers nothing.
func (s *Store) Remember(ctx context.Context, id int64, uidl string) error {
	if _, err := s.W.Exec(ctx, "INSERT INTO uidls (fetch_id, uidl) SELECT id, $2 FROM accounts WHERE id = $1 ON CONFLICT DO NOTHING", id, uidl); err != nil {
		return s.Err("remember", err)
	}
	return nil
}

// Key implements fetch.Store: the first caller's random key is kept (one row, id 1).
func (s *Store) Key(ctx context.Context) ([]byte, error) {
	k := make([]byte, fetch.KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if _, err := s.W.Exec(ctx, "INSERT INTO sealkey (id, key) VALUES (1, $1) ON CONFLICT DO NOTHING", k); err != nil {
		return nil, s.Err("key", err)
	}
	var out []byte
	if err := s.W.QueryRow(ctx, "SELECT key FROM sealkey WHERE id = 1").Scan(&out); err != nil {
		return nil, s.Err("key", err)
	}
	return out, nil
}

// DeleteOwner implements fetch.Store: one DELETE (the UIDLs go by ON DELETE CASCADE).
func (s *Store) DeleteOwner(ctx context.Context, owner store.AccountRef) (int, error) {
	if err := fetch.CheckDelete(owner, false); err != nil {
		return 0, err
	}
	return s.deleteWhere(ctx, "delete owner", "domain = $1 AND account = $2", owner.Domain, owner.ID)
}

// DeleteDomain implements fetch.Store: one DELETE (the UIDLs go by ON DELETE CASCADE).
func (s *Store) DeleteDomain(ctx context.Context, domain string) (int, error) {
	if err := fetch.CheckDelete(store.AccountRef{Domain: domain}, true); err != nil {
		return 0, err
	}
	return s.deleteWhere(ctx, "delete domain", "domain = $1", domain)
}

func (s *Store) deleteWhere(ctx context.Context, what, where string, args ...any) (int, error) {
	n, err := s.W.Exec(ctx, "DELETE FROM accounts WHERE "+where, args...)
	if err != nil {
		return 0, s.Err(what, err)
	}
	return int(n), nil
}
