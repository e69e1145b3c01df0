// Package sqlstore is the SQL the two address-book drivers share: the statements and row
// scanning of contacts.Store, written once over sqlkit and run by contacts/sqlite (through
// sqlitekit) and contacts/postgres (through pgkit) on the same tables (layout in either
// driver's package doc).
//
// What stays in each driver: the schemas and migrations, opening and closing, Import
// (SQLite inserts row by row in one transaction; PostgreSQL sends one COPY), SetEditors
// (row by row; one INSERT … unnest) and two settings of Store: Lists, how a []string
// column is stored (newline-joined text on SQLite, text[] on PostgreSQL), and Collate,
// the collation that makes PostgreSQL's orders the byte order SQLite's BINARY gives.
//
// Store is embedded by each driver's DB, so its methods are the driver's.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"mailgrid/internal/contacts"
	"mailgrid/internal/sqlkit"
)

// Lists is how an engine stores the []string columns (emails, phones, members).
type Lists interface {
	// Value is the statement argument for s.
	Value(s []string) any
	// Dest is a Scan destination that fills *p.
	Dest(p *[]string) any
}

// Store runs the shared statements on the driver's connections (sqlkit.Base).
type Store struct {
	sqlkit.Base
	Now     func() time.Time
	Lists   Lists
	Collate string // after each sort key, e.g. ` COLLATE "C"`
}

const columns = "id, name, emails, phones, note, updated, kind, members"

// Columns are the columns of Row, in order.
var Columns = []string{"domain", "account", "name", "emails", "phones", "note", "name_key", "email_key", "search", "updated", "kind", "members"}

// InsertSQL inserts one Row and returns its ID.
const InsertSQL = `INSERT INTO contacts (domain, account, name, emails, phones, note, name_key, email_key, search, updated, kind, members)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`

func (s *Store) scan(sc sqlkit.Row) (contacts.Contact, error) {
	var c contacts.Contact
	var updated int64
	if err := sc.Scan(&c.ID, &c.Name, s.Lists.Dest(&c.Emails), s.Lists.Dest(&c.Phones), &c.Note, &updated, &c.Kind, s.Lists.Dest(&c.Members)); err != nil {
		return c, err
	}
	for _, l := range []*[]string{&c.Emails, &c.Phones, &c.Members} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	c.Updated = time.Unix(updated, 0)
	return c, nil
}

// Row is the stored values of a prepared c in b, in the order of Columns.
func (s *Store) Row(b contacts.Book, c contacts.Contact) []any {
	nk, ek := contacts.SortKeys(c)
	return []any{b.Domain, b.Account, c.Name, s.Lists.Value(c.Emails), s.Lists.Value(c.Phones), c.Note, nk, ek, contacts.SearchKey(c), s.Now().Unix(),
		int(c.Kind), s.Lists.Value(c.Members)}
}

// ImportRows checks an import's size and prepares each contact (contacts.Prepare), before
// anything is written, and returns their Rows.
func (s *Store) ImportRows(b contacts.Book, cs []contacts.Contact) ([][]any, error) {
	if len(cs) > contacts.MaxImport {
		return nil, fmt.Errorf("%w: more than %d contacts in one import", contacts.ErrInvalid, contacts.MaxImport)
	}
	rows := make([][]any, len(cs))
	for i, c := range cs {
		c, err := contacts.Prepare(c)
		if err != nil {
			return nil, fmt.Errorf("contact %d: %w", i+1, err)
		}
		rows[i] = s.Row(b, c)
	}
	return rows, nil
}

// kindSQL is the condition of a KindFilter.
func kindSQL(k contacts.KindFilter) string {
	switch k {
	case contacts.OnlyIndividuals:
		return " AND kind = 0"
	case contacts.OnlyGroups:
		return " AND kind = 1"
	}
	return ""
}

// List implements contacts.Store. The keys compare in byte order.
func (s *Store) List(ctx context.Context, b contacts.Book, q contacts.Query) ([]contacts.Contact, error) {
	query := "SELECT " + columns + " FROM contacts WHERE domain = $1 AND account = $2"
	args := []any{b.Domain, b.Account}
	query += kindSQL(q.Kinds)
	if q.Search != "" {
		query += ` AND search LIKE $3 ESCAPE '\'`
		args = append(args, contacts.LikePattern(q.Search))
	}
	if q.Order == contacts.ByEmail {
		query += " ORDER BY email_key = '', email_key" + s.Collate + ", name_key" + s.Collate + ", id"
	} else {
		query += " ORDER BY name_key" + s.Collate + ", email_key" + s.Collate + ", id"
	}
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	out, err := sqlkit.All(ctx, s.R, s.scan, query, args...)
	if err != nil {
		return nil, s.Err("list", err)
	}
	return out, nil
}

// Get implements contacts.Store.
func (s *Store) Get(ctx context.Context, b contacts.Book, id int64) (contacts.Contact, error) {
	c, err := s.scan(s.R.QueryRow(ctx, "SELECT "+columns+" FROM contacts WHERE domain = $1 AND account = $2 AND id = $3", b.Domain, b.Account, id))
	if errors.Is(err, sqlkit.ErrNoRows) {
		return c, contacts.ErrNotFound
	}
	if err != nil {
		return c, s.Err("get", err)
	}
	return c, nil
}

// Add implements contacts.Store.
func (s *Store) Add(ctx context.Context, b contacts.Book, c contacts.Contact) (int64, error) {
	c, err := contacts.Prepare(c)
	if err != nil {
		return 0, err
	}
	var id int64
	if err := s.W.QueryRow(ctx, InsertSQL, s.Row(b, c)...).Scan(&id); err != nil {
		return 0, s.Err("add", err)
	}
	return id, nil
}

// Update implements contacts.Store.
func (s *Store) Update(ctx context.Context, b contacts.Book, c contacts.Contact) error {
	id := c.ID
	c, err := contacts.Prepare(c)
	if err != nil {
		return err
	}
	n, err := s.W.Exec(ctx, `UPDATE contacts SET name = $3, emails = $4, phones = $5, note = $6, name_key = $7, email_key = $8, search = $9, updated = $10,
kind = $11, members = $12 WHERE domain = $1 AND account = $2 AND id = $13`, append(s.Row(b, c), id)...)
	return s.oneRow(n, err, "update")
}

// Delete implements contacts.Store.
func (s *Store) Delete(ctx context.Context, b contacts.Book, id int64) error {
	n, err := s.W.Exec(ctx, "DELETE FROM contacts WHERE domain = $1 AND account = $2 AND id = $3", b.Domain, b.Account, id)
	return s.oneRow(n, err, "delete")
}

func (s *Store) oneRow(n int64, err error, what string) error {
	if err != nil {
		return s.Err(what, err)
	}
	if n == 0 {
		return contacts.ErrNotFound
	}
	return nil
}

// Editors implements contacts.Store.
func (s *Store) Editors(ctx context.Context, domain string) ([]int64, error) {
	ids, err := sqlkit.All(ctx, s.R, sqlkit.Value[int64], "SELECT account FROM book_editors WHERE domain = $1 ORDER BY account", domain)
	if err != nil {
		return nil, s.Err("editors", err)
	}
	return ids, nil
}

// DeleteAccount implements contacts.Store.
func (s *Store) DeleteAccount(ctx context.Context, domain string, account int64) error {
	if err := contacts.CheckDeleteAccount(domain, account); err != nil {
		return err
	}
	return s.deleteWhere(ctx, "delete account", "domain = $1 AND account = $2", domain, account)
}

// DeleteDomain implements contacts.Store.
func (s *Store) DeleteDomain(ctx context.Context, domain string) error {
	if domain == "" {
		return fmt.Errorf("%w: delete domain: no domain named", contacts.ErrInvalid)
	}
	return s.deleteWhere(ctx, "delete domain", "domain = $1", domain)
}

// deleteWhere deletes the contacts and editors rows that where selects, in one
// transaction.
func (s *Store) deleteWhere(ctx context.Context, what, where string, args ...any) error {
	err := s.W.Tx(ctx, func(tx sqlkit.Conn) error {
		for _, table := range []string{"contacts", "book_editors"} {
			if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE "+where, args...); err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
		}
		return nil
	})
	if err != nil {
		return s.Err(what, err)
	}
	return nil
}
