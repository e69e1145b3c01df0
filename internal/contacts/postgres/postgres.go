// Package postgres is the cluster driver of the address books (contacts.Store): one
// table in the directory database that every node shares, in the PostgreSQL schema
// "contacts" (the pool sets search_path). It passes the conformance suite in
// contacts/contactstest, as the embedded driver (contacts/sqlite) does.
//
// Layout, as the SQLite driver's:
//
//	contacts (id, domain, account, name, emails, phones, note, name_key, email_key,
//	          search, updated, kind, members)   account 0 is the domain's group book;
//	          emails, phones and members (a group's addresses) are text arrays; *_key
//	          and search are lower-cased copies for the orders and the search; updated
//	          is Unix seconds; kind 1 is a group
//	book_editors (domain, account)   the group book's permitted editors
//
// Every statement names the book (domain, account) beside the contact ID, so another
// book's IDs are not found. A write is durable when its method returns nil; Import is
// one transaction (CopyFrom). Migrations are versioned in contacts.schema_migrations
// (pgkit.Migrations).
//
// Engine: github.com/jackc/pgx/v5 (pgxpool), with package pgkit.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/contacts"
	"mailgrid/internal/pgkit"
)

// SchemaName is the PostgreSQL schema holding the address books.
const SchemaName = "contacts"

// SchemaVersion is the schema version this code writes.
const SchemaVersion = 3

func schema() pgkit.Migrations {
	return pgkit.Migrations{Schema: SchemaName, Lock: 0x6d61696c67726407, Version: SchemaVersion, Steps: []string{`
CREATE TABLE contacts (
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	domain    text NOT NULL,
	account   bigint NOT NULL,
	name      text NOT NULL,
	emails    text[] NOT NULL,
	phones    text[] NOT NULL,
	note      text NOT NULL,
	name_key  text NOT NULL,
	email_key text NOT NULL,
	search    text NOT NULL,
	updated   bigint NOT NULL
);
CREATE INDEX contacts_book ON contacts(domain, account, name_key);
`, `
ALTER TABLE contacts ADD COLUMN kind integer NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN members text[] NOT NULL DEFAULT '{}';
`, `
CREATE TABLE book_editors (
	domain  text NOT NULL,
	account bigint NOT NULL,
	PRIMARY KEY (domain, account)
);
`}}
}

// Options configure Open.
type Options struct {
	Now func() time.Time // the clock; nil is time.Now
}

// DB is the address books in PostgreSQL. It is safe for concurrent use by any number of
// nodes.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ contacts.Store = (*DB)(nil)

// Open connects to dsn and brings the contacts schema up to date.
func Open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	pool, err := pgkit.Connect(ctx, dsn, SchemaName, nil)
	if err != nil {
		return nil, fmt.Errorf("contacts/postgres: %w", err)
	}
	if err := schema().Apply(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("contacts/postgres: %w", err)
	}
	return &DB{pool: pool, now: opt.Now}, nil
}

// Close releases the pool.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

const columns = "id, name, emails, phones, note, updated, kind, members"

func scan(sc pgx.Row) (contacts.Contact, error) {
	var c contacts.Contact
	var updated int64
	if err := sc.Scan(&c.ID, &c.Name, &c.Emails, &c.Phones, &c.Note, &updated, &c.Kind, &c.Members); err != nil {
		return c, err
	}
	if len(c.Members) == 0 {
		c.Members = nil
	}
	if len(c.Emails) == 0 {
		c.Emails = nil
	}
	if len(c.Phones) == 0 {
		c.Phones = nil
	}
	c.Updated = time.Unix(updated, 0)
	return c, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// row is the stored values of a prepared c after domain and account.
func (d *DB) row(b contacts.Book, c contacts.Contact) []any {
	nk, ek := contacts.SortKeys(c)
	return []any{b.Domain, b.Account, c.Name, nonNil(c.Emails), nonNil(c.Phones), c.Note, nk, ek, contacts.SearchKey(c), d.now().Unix(),
		int(c.Kind), nonNil(c.Members)}
}

var rowColumns = []string{"domain", "account", "name", "emails", "phones", "note", "name_key", "email_key", "search", "updated", "kind", "members"}

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

// List implements contacts.Store. The keys compare with COLLATE "C", the byte order the
// SQLite driver uses.
func (d *DB) List(ctx context.Context, b contacts.Book, q contacts.Query) ([]contacts.Contact, error) {
	query := "SELECT " + columns + " FROM contacts WHERE domain = $1 AND account = $2"
	args := []any{b.Domain, b.Account}
	query += kindSQL(q.Kinds)
	if q.Search != "" {
		query += ` AND search LIKE $3 ESCAPE '\'`
		args = append(args, contacts.LikePattern(q.Search))
	}
	if q.Order == contacts.ByEmail {
		query += ` ORDER BY email_key = '', email_key COLLATE "C", name_key COLLATE "C", id`
	} else {
		query += ` ORDER BY name_key COLLATE "C", email_key COLLATE "C", id`
	}
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := d.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("contacts/postgres: list: %w", err)
	}
	defer rows.Close()
	var out []contacts.Contact
	for rows.Next() {
		c, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("contacts/postgres: list: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contacts/postgres: list: %w", err)
	}
	return out, nil
}

// Get implements contacts.Store.
func (d *DB) Get(ctx context.Context, b contacts.Book, id int64) (contacts.Contact, error) {
	c, err := scan(d.pool.QueryRow(ctx, "SELECT "+columns+" FROM contacts WHERE domain = $1 AND account = $2 AND id = $3", b.Domain, b.Account, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, contacts.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("contacts/postgres: get: %w", err)
	}
	return c, nil
}

// Add implements contacts.Store.
func (d *DB) Add(ctx context.Context, b contacts.Book, c contacts.Contact) (int64, error) {
	c, err := contacts.Prepare(c)
	if err != nil {
		return 0, err
	}
	var id int64
	err = d.pool.QueryRow(ctx, `INSERT INTO contacts (domain, account, name, emails, phones, note, name_key, email_key, search, updated, kind, members)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`, d.row(b, c)...).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("contacts/postgres: add: %w", err)
	}
	return id, nil
}

// Update implements contacts.Store.
func (d *DB) Update(ctx context.Context, b contacts.Book, c contacts.Contact) error {
	id := c.ID
	c, err := contacts.Prepare(c)
	if err != nil {
		return err
	}
	tag, err := d.pool.Exec(ctx, `UPDATE contacts SET name = $3, emails = $4, phones = $5, note = $6, name_key = $7, email_key = $8, search = $9, updated = $10,
kind = $11, members = $12 WHERE domain = $1 AND account = $2 AND id = $13`, append(d.row(b, c), id)...)
	return oneRow(tag, err, "update")
}

// Delete implements contacts.Store.
func (d *DB) Delete(ctx context.Context, b contacts.Book, id int64) error {
	tag, err := d.pool.Exec(ctx, "DELETE FROM contacts WHERE domain = $1 AND account = $2 AND id = $3", b.Domain, b.Account, id)
	return oneRow(tag, err, "delete")
}

func oneRow(tag pgconn.CommandTag, err error, what string) error {
	if err != nil {
		return fmt.Errorf("contacts/postgres: %s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return contacts.ErrNotFound
	}
	return nil
}

// Import implements contacts.Store: every contact is validated first, then one COPY.
func (d *DB) Import(ctx context.Context, b contacts.Book, cs []contacts.Contact) error {
	if len(cs) > contacts.MaxImport {
		return fmt.Errorf("%w: more than %d contacts in one import", contacts.ErrInvalid, contacts.MaxImport)
	}
	rows := make([][]any, len(cs))
	for i, c := range cs {
		c, err := contacts.Prepare(c)
		if err != nil {
			return fmt.Errorf("contact %d: %w", i+1, err)
		}
		rows[i] = d.row(b, c)
	}
	// A single COPY is atomic: all rows or none.
	if _, err := d.pool.CopyFrom(ctx, pgx.Identifier{"contacts"}, rowColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("contacts/postgres: import: %w", err)
	}
	return nil
}

// Editors implements contacts.Store.
func (d *DB) Editors(ctx context.Context, domain string) ([]int64, error) {
	rows, err := d.pool.Query(ctx, "SELECT account FROM book_editors WHERE domain = $1 ORDER BY account", domain)
	if err != nil {
		return nil, fmt.Errorf("contacts/postgres: editors: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("contacts/postgres: editors: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, nil
}

// SetEditors implements contacts.Store: the list is replaced in one transaction.
func (d *DB) SetEditors(ctx context.Context, domain string, ids []int64) error {
	ids, err := contacts.NormEditors(ids)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "DELETE FROM book_editors WHERE domain = $1", domain); err != nil {
			return err
		}
		if len(ids) > 0 {
			_, err := tx.Exec(ctx, "INSERT INTO book_editors (domain, account) SELECT $1, unnest($2::bigint[])", domain, ids)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("contacts/postgres: set editors: %w", err)
	}
	return nil
}

// DeleteAccount implements contacts.Store.
func (d *DB) DeleteAccount(ctx context.Context, domain string, account int64) error {
	if err := contacts.CheckDeleteAccount(domain, account); err != nil {
		return err
	}
	return d.deleteWhere(ctx, "delete account", "domain = $1 AND account = $2", domain, account)
}

// DeleteDomain implements contacts.Store.
func (d *DB) DeleteDomain(ctx context.Context, domain string) error {
	if domain == "" {
		return fmt.Errorf("%w: delete domain: no domain named", contacts.ErrInvalid)
	}
	return d.deleteWhere(ctx, "delete domain", "domain = $1", domain)
}

// deleteWhere deletes the contacts and editors rows that where selects, in one
// transaction.
func (d *DB) deleteWhere(ctx context.Context, what, where string, args ...any) error {
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		for _, table := range []string{"contacts", "book_editors"} {
			if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE "+where, args...); err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("contacts/postgres: %s: %w", what, err)
	}
	return nil
}
