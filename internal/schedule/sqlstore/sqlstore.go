// Package sqlstore is the SQL the two schedule drivers share: the statements and row
// scanning of every schedule.Store method but Lease, written once over sqlkit and run by
// schedule/sqlite (through sqlitekit) and schedule/postgres (through pgkit) on the same
// items table (layout in either driver's package doc; times are Unix nanoseconds).
//
// What stays in each driver: the schema and its migrations, opening and closing, and
// Lease's statement — SQLite runs one UPDATE … WHERE id IN (SELECT …) RETURNING on its one
// writer, PostgreSQL selects the due rows FOR NO KEY UPDATE SKIP LOCKED in a CTE and must
// qualify RETURNING's columns. Both hand it to Leased, which scans and orders the items.
//
// Store is embedded by each driver's DB, so its methods are the driver's.
package sqlstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"mailgrid/internal/schedule"
	"mailgrid/internal/sqlkit"
)

// Store runs the shared statements on the driver's connections (sqlkit.Base).
type Store struct {
	sqlkit.Base
}

const (
	listColumns = "id, domain, account, due, state, meta, created, attempts, last_error, lease_token"
	// Columns are the columns Leased scans, in order, for the drivers' RETURNING.
	Columns = listColumns + ", message"
)

// Qualified is Columns each prefixed with "items." (RETURNING after UPDATE … FROM).
func Qualified() string { return "items." + strings.ReplaceAll(Columns, ", ", ", items.") }

func scan(sc sqlkit.Row, withMessage bool) (schedule.Item, error) {
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

func scanList(sc sqlkit.Row) (schedule.Item, error) { return scan(sc, false) }
func scanAll(sc sqlkit.Row) (schedule.Item, error)  { return scan(sc, true) }

// Add implements schedule.Store.
func (s *Store) Add(ctx context.Context, it schedule.Item) (int64, error) {
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
	err = s.W.QueryRow(ctx, `INSERT INTO items (domain, account, due, state, meta, message, created, attempts, last_error, lease_token, lease_until)
VALUES ($1, $2, $3, 0, $4, $5, $6, 0, '', '', 0) RETURNING id`,
		it.Owner.Domain, it.Owner.Account, it.Due.UnixNano(), m, it.Message, it.Created.UnixNano()).Scan(&id)
	if err != nil {
		return 0, s.Err("add", err)
	}
	return id, nil
}

// List implements schedule.Store.
func (s *Store) List(ctx context.Context, o schedule.Owner) ([]schedule.Item, error) {
	out, err := sqlkit.All(ctx, s.R, scanList, "SELECT "+listColumns+" FROM items WHERE domain = $1 AND account = $2 ORDER BY due, id", o.Domain, o.Account)
	if err != nil {
		return nil, s.Err("list", err)
	}
	for i := range out {
		out[i].Token = ""
	}
	return out, nil
}

// Get implements schedule.Store.
func (s *Store) Get(ctx context.Context, o schedule.Owner, id int64) (schedule.Item, error) {
	it, err := scanAll(s.R.QueryRow(ctx, "SELECT "+Columns+" FROM items WHERE domain = $1 AND account = $2 AND id = $3", o.Domain, o.Account, id))
	if errors.Is(err, sqlkit.ErrNoRows) {
		return it, schedule.ErrNotFound
	}
	if err != nil {
		return it, s.Err("get", err)
	}
	it.Token = ""
	return it, nil
}

// Cancel implements schedule.Store: one DELETE … RETURNING, which a lease excludes (the
// one SQLite writer; PostgreSQL's row lock, after which the lease is checked again).
func (s *Store) Cancel(ctx context.Context, o schedule.Owner, id int64, now time.Time) (schedule.Item, error) {
	it, err := scanAll(s.W.QueryRow(ctx, "DELETE FROM items WHERE domain = $1 AND account = $2 AND id = $3 AND lease_until <= $4 RETURNING "+Columns,
		o.Domain, o.Account, id, now.UnixNano()))
	if err == nil {
		it.Token = ""
		return it, nil
	}
	if !errors.Is(err, sqlkit.ErrNoRows) {
		return it, s.Err("cancel", err)
	}
	var n int
	if err := s.W.QueryRow(ctx, "SELECT count(*) FROM items WHERE domain = $1 AND account = $2 AND id = $3", o.Domain, o.Account, id).Scan(&n); err != nil {
		return schedule.Item{}, s.Err("cancel", err)
	}
	if n > 0 {
		return schedule.Item{}, schedule.ErrBusy
	}
	return schedule.Item{}, schedule.ErrNotFound
}

// Leased runs a driver's lease statement (returning Columns) on W and returns the items
// it leased, ordered by due time and ID.
func (s *Store) Leased(ctx context.Context, query string, args ...any) ([]schedule.Item, error) {
	out, err := sqlkit.All(ctx, s.W, scanAll, query, args...)
	if err != nil {
		return nil, s.Err("lease", err)
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
func (s *Store) held(ctx context.Context, what, query string, args ...any) error {
	n, err := s.W.Exec(ctx, query, args...)
	if err != nil {
		return s.Err(what, err)
	}
	if n == 0 {
		return schedule.ErrLeaseLost
	}
	return nil
}

// Done implements schedule.Store.
func (s *Store) Done(ctx context.Context, id int64, token string) error {
	return s.held(ctx, "done", "DELETE FROM items WHERE id = $1 AND lease_token = $2 AND lease_token <> ''", id, token)
}

// Retry implements schedule.Store.
func (s *Store) Retry(ctx context.Context, id int64, token string, due time.Time, reason string) error {
	return s.held(ctx, "retry", `UPDATE items SET due = $3, last_error = $4, lease_token = '', lease_until = 0
WHERE id = $1 AND lease_token = $2 AND lease_token <> ''`, id, token, due.UnixNano(), reason)
}

// Fail implements schedule.Store.
func (s *Store) Fail(ctx context.Context, id int64, token string, reason string) error {
	return s.held(ctx, "fail", `UPDATE items SET state = 1, last_error = $3, lease_token = '', lease_until = 0
WHERE id = $1 AND lease_token = $2 AND lease_token <> ''`, id, token, reason)
}

// DeleteOwner implements schedule.Store: one DELETE, leased items included.
func (s *Store) DeleteOwner(ctx context.Context, o schedule.Owner) (int, error) {
	if err := schedule.CheckDelete(o.Domain, o.Account, false); err != nil {
		return 0, err
	}
	return s.deleteWhere(ctx, "delete owner", "domain = $1 AND account = $2", o.Domain, o.Account)
}

// DeleteDomain implements schedule.Store: one DELETE, leased items included.
func (s *Store) DeleteDomain(ctx context.Context, domain string) (int, error) {
	if err := schedule.CheckDelete(domain, 0, true); err != nil {
		return 0, err
	}
	return s.deleteWhere(ctx, "delete domain", "domain = $1", domain)
}

func (s *Store) deleteWhere(ctx context.Context, what, where string, args ...any) (int, error) {
	n, err := s.W.Exec(ctx, "DELETE FROM items WHERE "+where, args...)
	if err != nil {
		return 0, s.Err(what, err)
	}
	return int(n), nil
}
