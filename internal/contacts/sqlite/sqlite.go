// Package sqlite is the embedded driver of the address books (contacts.Store): one SQLite
// database, contacts.db, in the data directory's contacts/ folder.
//
// Layout:
//
//	contacts (id, domain, account, name, emails, phones, note, name_key, email_key,
//	          search, updated, kind, members)   account 0 is the domain's group book;
//	          emails, phones and members (a group's addresses) are newline-joined
//	          (Validate refuses newlines in them); the *_key and search columns are
//	          lower-cased copies the orders and the search use; kind 1 is a group
//	book_editors (domain, account)   the group book's permitted editors
//
// Every statement names the book (domain, account) beside the contact ID, so another
// book's IDs are not found. Opening, durability and migrations are internal/sqlitekit's:
// WAL, synchronous=FULL, one writer connection with BEGIN IMMEDIATE, a read pool,
// PRAGMA user_version steps; Import is one transaction.
//
// Library: modernc.org/sqlite (pure Go).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"mailgrid/internal/contacts"
	"mailgrid/internal/sqlitekit"
)

// SchemaVersion is the schema version this code writes (PRAGMA user_version).
const SchemaVersion = 3

var migrations = []string{`
CREATE TABLE contacts (
	id        INTEGER PRIMARY KEY,
	domain    TEXT NOT NULL,
	account   INTEGER NOT NULL,
	name      TEXT NOT NULL,
	emails    TEXT NOT NULL,
	phones    TEXT NOT NULL,
	note      TEXT NOT NULL,
	name_key  TEXT NOT NULL,
	email_key TEXT NOT NULL,
	search    TEXT NOT NULL,
	updated   INTEGER NOT NULL
) STRICT;
CREATE INDEX contacts_book ON contacts(domain, account, name_key);
`, `
ALTER TABLE contacts ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN members TEXT NOT NULL DEFAULT '';
`, `
CREATE TABLE book_editors (
	domain  TEXT NOT NULL,
	account INTEGER NOT NULL,
	PRIMARY KEY (domain, account)
) STRICT;
`}

// Options configure Open.
type Options struct {
	Dir       string           // the directory holding contacts.db
	ReadConns int              // read pool size; default 4
	Now       func() time.Time // the clock; nil is time.Now
}

// DB is the address books of one node. It is safe for concurrent use.
type DB struct {
	kit      *sqlitekit.DB
	wdb, rdb *sql.DB // kit.Write, kit.Read
	now      func() time.Time
}

var _ contacts.Store = (*DB)(nil)

// Open opens (creating if needed) contacts.db in opt.Dir.
func Open(ctx context.Context, opt Options) (*DB, error) {
	if opt.Dir == "" {
		return nil, errors.New("contacts/sqlite: no directory")
	}
	if opt.ReadConns <= 0 {
		opt.ReadConns = 4
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	kit, err := sqlitekit.Open(ctx, sqlitekit.Options{Name: "contacts/sqlite", Path: filepath.Join(opt.Dir, "contacts.db"),
		ReadConns: opt.ReadConns, Version: SchemaVersion, Steps: migrations})
	if err != nil {
		return nil, err
	}
	return &DB{kit: kit, wdb: kit.Write, rdb: kit.Read, now: opt.Now}, nil
}

// Close closes the databases.
func (d *DB) Close() error { return d.kit.Close() }

const columns = "id, name, emails, phones, note, updated, kind, members"

func scan(sc interface{ Scan(...any) error }) (contacts.Contact, error) {
	var c contacts.Contact
	var emails, phones, members string
	var updated int64
	if err := sc.Scan(&c.ID, &c.Name, &emails, &phones, &c.Note, &updated, &c.Kind, &members); err != nil {
		return c, err
	}
	c.Emails, c.Phones, c.Members = split(emails), split(phones), split(members)
	c.Updated = time.Unix(updated, 0)
	return c, nil
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// row is the stored values of c (prepared) in the column order of insertSQL's $3...$12.
func (d *DB) row(c contacts.Contact) []any {
	nk, ek := contacts.SortKeys(c)
	return []any{c.Name, strings.Join(c.Emails, "\n"), strings.Join(c.Phones, "\n"), c.Note, nk, ek, contacts.SearchKey(c), d.now().Unix(),
		int(c.Kind), strings.Join(c.Members, "\n")}
}

const insertSQL = `INSERT INTO contacts (domain, account, name, emails, phones, note, name_key, email_key, search, updated, kind, members)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`

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

// List implements contacts.Store.
func (d *DB) List(ctx context.Context, b contacts.Book, q contacts.Query) ([]contacts.Contact, error) {
	query := "SELECT " + columns + " FROM contacts WHERE domain = $1 AND account = $2"
	args := []any{b.Domain, b.Account}
	query += kindSQL(q.Kinds)
	if q.Search != "" {
		query += ` AND search LIKE $3 ESCAPE '\'`
		args = append(args, contacts.LikePattern(q.Search))
	}
	if q.Order == contacts.ByEmail {
		query += " ORDER BY email_key = '', email_key, name_key, id"
	} else {
		query += " ORDER BY name_key, email_key, id"
	}
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := d.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("contacts/sqlite: list: %w", err)
	}
	defer rows.Close() //nolint:errcheck // rows.Err below reports failures
	var out []contacts.Contact
	for rows.Next() {
		c, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("contacts/sqlite: list: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contacts/sqlite: list: %w", err)
	}
	return out, nil
}

// Get implements contacts.Store.
func (d *DB) Get(ctx context.Context, b contacts.Book, id int64) (contacts.Contact, error) {
	c, err := scan(d.rdb.QueryRowContext(ctx, "SELECT "+columns+" FROM contacts WHERE domain = $1 AND account = $2 AND id = $3", b.Domain, b.Account, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, contacts.ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("contacts/sqlite: get: %w", err)
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
	if err := d.wdb.QueryRowContext(ctx, insertSQL, append([]any{b.Domain, b.Account}, d.row(c)...)...).Scan(&id); err != nil {
		return 0, fmt.Errorf("contacts/sqlite: add: %w", err)
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
	res, err := d.wdb.ExecContext(ctx, `UPDATE contacts SET name = $3, emails = $4, phones = $5, note = $6, name_key = $7, email_key = $8, search = $9, updated = $10,
kind = $11, members = $12 WHERE domain = $1 AND account = $2 AND id = $13`, append(append([]any{b.Domain, b.Account}, d.row(c)...), id)...)
	return oneRow(res, err, "update")
}

// Delete implements contacts.Store.
func (d *DB) Delete(ctx context.Context, b contacts.Book, id int64) error {
	res, err := d.wdb.ExecContext(ctx, "DELETE FROM contacts WHERE domain = $1 AND account = $2 AND id = $3", b.Domain, b.Account, id)
	return oneRow(res, err, "delete")
}

func oneRow(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("contacts/sqlite: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("contacts/sqlite: %s: %w", what, err)
	}
	if n == 0 {
		return contacts.ErrNotFound
	}
	return nil
}

// Import implements contacts.Store: every contact is validated before the transaction.
func (d *DB) Import(ctx context.Context, b contacts.Book, cs []contacts.Contact) (err error) {
	if len(cs) > contacts.MaxImport {
		return fmt.Errorf("%w: more than %d contacts in one import", contacts.ErrInvalid, contacts.MaxImport)
	}
	prepared := make([]contacts.Contact, len(cs))
	for i, c := range cs {
		if prepared[i], err = contacts.Prepare(c); err != nil {
			return fmt.Errorf("contact %d: %w", i+1, err)
		}
	}
	return d.kit.Tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, insertSQL)
		if err != nil {
			return fmt.Errorf("contacts/sqlite: import: %w", err)
		}
		defer stmt.Close() //nolint:errcheck // closed with the transaction
		for _, c := range prepared {
			var id int64
			if err := stmt.QueryRowContext(ctx, append([]any{b.Domain, b.Account}, d.row(c)...)...).Scan(&id); err != nil {
				return fmt.Errorf("contacts/sqlite: import: %w", err)
			}
		}
		return nil
	})
}

// Editors implements contacts.Store.
func (d *DB) Editors(ctx context.Context, domain string) ([]int64, error) {
	rows, err := d.rdb.QueryContext(ctx, "SELECT account FROM book_editors WHERE domain = $1 ORDER BY account", domain)
	if err != nil {
		return nil, fmt.Errorf("contacts/sqlite: editors: %w", err)
	}
	defer rows.Close() //nolint:errcheck // rows.Err is checked
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("contacts/sqlite: editors: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contacts/sqlite: editors: %w", err)
	}
	return ids, nil
}

// SetEditors implements contacts.Store: the list is replaced in one transaction.
func (d *DB) SetEditors(ctx context.Context, domain string, ids []int64) error {
	ids, err := contacts.NormEditors(ids)
	if err != nil {
		return err
	}
	return d.kit.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM book_editors WHERE domain = $1", domain); err != nil {
			return fmt.Errorf("contacts/sqlite: set editors: %w", err)
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, "INSERT INTO book_editors (domain, account) VALUES ($1, $2)", domain, id); err != nil {
				return fmt.Errorf("contacts/sqlite: set editors: %w", err)
			}
		}
		return nil
	})
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
	return d.kit.Tx(ctx, func(tx *sql.Tx) error {
		for _, table := range []string{"contacts", "book_editors"} {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE "+where, args...); err != nil {
				return fmt.Errorf("contacts/sqlite: %s: %s: %w", what, table, err)
			}
		}
		return nil
	})
}
