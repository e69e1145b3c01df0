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
// The statements and row scanning are contacts/sqlstore's, shared with contacts/sqlite;
// this package holds the schema, opening, the array lists, COLLATE "C", Import (COPY) and
// SetEditors (unnest). Every statement names the book (domain, account) beside the contact
// ID, so another book's IDs are not found. A write is durable when its method returns nil; Import is
// one transaction (CopyFrom). Migrations are versioned in contacts.schema_migrations
// (pgkit.Migrations).
//
// Engine: github.com/jackc/pgx/v5 (pgxpool), with package pgkit.
package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/contacts"
	"mailgrid/internal/contacts/sqlstore"
	"mailgrid/internal/pgkit"
	"mailgrid/internal/sqlkit"
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
	*sqlstore.Store
	pool *pgxpool.Pool
}

var _ contacts.Store = (*DB)(nil)

// Open connects to dsn and brings the contacts schema up to date.
func Open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	pool, err := schema().Open(ctx, dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("contacts/postgres: %w", err)
	}
	c := pgkit.Conn(pool)
	// The keys compare with COLLATE "C", the byte order the SQLite driver uses.
	st := &sqlstore.Store{Base: sqlkit.Base{Name: "contacts/postgres", R: c, W: c}, Now: opt.Now, Lists: arrays{}, Collate: ` COLLATE "C"`}
	return &DB{Store: st, pool: pool}, nil
}

// Close releases the pool.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// arrays stores a list as a text[] ('{}' for none: the columns are NOT NULL).
type arrays struct{}

func (arrays) Value(s []string) any {
	if s == nil {
		return []string{}
	}
	return s
}

func (arrays) Dest(p *[]string) any { return p }

// Import implements contacts.Store: every contact is validated first, then one COPY.
func (d *DB) Import(ctx context.Context, b contacts.Book, cs []contacts.Contact) error {
	rows, err := d.ImportRows(b, cs)
	if err != nil {
		return err
	}
	// A single COPY is atomic: all rows or none.
	if _, err := d.pool.CopyFrom(ctx, pgx.Identifier{"contacts"}, sqlstore.Columns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("contacts/postgres: import: %w", err)
	}
	return nil
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
