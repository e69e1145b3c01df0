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
// The statements and row scanning are contacts/sqlstore's, shared with contacts/postgres;
// this package holds the schema, opening, the newline-joined lists, Import and SetEditors.
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
	"mailgrid/internal/contacts/sqlstore"
	"mailgrid/internal/sqlitekit"
	"mailgrid/internal/sqlkit"
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
	*sqlstore.Store
	kit *sqlitekit.DB
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
	st := &sqlstore.Store{Base: sqlkit.Base{Name: "contacts/sqlite", R: kit.Reader(), W: kit.Writer()}, Now: opt.Now, Lists: joined{}}
	return &DB{Store: st, kit: kit}, nil
}

// Close closes the databases.
func (d *DB) Close() error { return d.kit.Close() }

// joined stores a list as its elements joined by newlines ("" for none; Validate
// refuses newlines in them).
type joined struct{}

func (joined) Value(s []string) any { return strings.Join(s, "\n") }
func (joined) Dest(p *[]string) any { return (*splitter)(p) }

// splitter is a Scan destination (database/sql's Scanner) for a joined list.
type splitter []string

func (l *splitter) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("contacts/sqlite: list column holds %T", src)
	}
	*l = nil
	if s != "" {
		*l = strings.Split(s, "\n")
	}
	return nil
}

// Import implements contacts.Store: every contact is validated before the transaction.
func (d *DB) Import(ctx context.Context, b contacts.Book, cs []contacts.Contact) error {
	rows, err := d.ImportRows(b, cs)
	if err != nil {
		return err
	}
	return d.kit.Tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, sqlstore.InsertSQL)
		if err != nil {
			return fmt.Errorf("contacts/sqlite: import: %w", err)
		}
		defer stmt.Close() //nolint:errcheck // closed with the transaction
		for _, row := range rows {
			var id int64
			if err := stmt.QueryRowContext(ctx, row...).Scan(&id); err != nil {
				return fmt.Errorf("contacts/sqlite: import: %w", err)
			}
		}
		return nil
	})
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
