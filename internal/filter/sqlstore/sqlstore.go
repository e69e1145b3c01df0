// Package sqlstore is the SQL the two filter-state drivers share: the statements and row
// scanning of the spam levels, train log, vacation memory, account documents, domain
// switches, block lists, domain rules, Sieve scripts, the quarantine's listing and the
// rows the tenant purges delete, written once over sqlkit and run by filter/sqlite
// (through sqlitekit) and filter/postgres (through pgkit) on the same tables (layout in
// either driver's package doc). Booleans are written as true/false, which SQLite stores
// as 1/0 in its INTEGER columns and reads back into Go bools.
//
// What stays in each driver: the schemas and migrations, opening and closing, the Bayes
// token stores (SQLite probes token by token through prepared statements; PostgreSQL
// joins unnest'ed arrays and batches), the held bodies (files named by their hash on
// SQLite, chunked bytea rows on PostgreSQL: Hold, Open, Delete, Expire and the body half
// of the purges), RenameScript (SQLite counts the taken name first; PostgreSQL catches
// the unique violation and stamps updated) and these settings of Store: LockScripts,
// PostgreSQL's lock on an account's scripts before a change of several rows (SQLite's
// one writer already serialises them); JSONParam/JSONText, the casts between the rule
// conditions' JSON text and PostgreSQL's jsonb; DropInTx/DropAfter, how a purge removes
// the held bodies its deleted copies leave unused.
//
// Store is embedded by each driver's DB, so its methods are the driver's.
package sqlstore

import (
	"context"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/sqlkit"
	"mailgrid/internal/store"
)

// Store runs the shared statements on the driver's connections (sqlkit.Base).
type Store struct {
	sqlkit.Base
	Now func() time.Time
	// LockScripts, when not nil, runs first in the transactions that change several of
	// an account's scripts (SetActive, DeleteScript).
	LockScripts func(ctx context.Context, tx sqlkit.Conn, acct store.AccountRef) error
	// JSONParam follows the parameter that writes a rule's conditions (JSON text);
	// JSONText follows the column that reads them back as text.
	JSONParam, JSONText string
	// A purge (DeleteDomain, DeleteAccount) hands the held bodies its deleted copies named
	// to DropInTx, within its transaction (PostgreSQL, whose bodies are rows), or to
	// DropAfter, after the commit (SQLite, whose bodies are files); either removes the
	// ones no remaining copy references.
	DropInTx  func(ctx context.Context, tx sqlkit.Conn, blobs []string) error
	DropAfter func(ctx context.Context, blobs []string)
}

// The interfaces Store fills by itself; the drivers add the token stores, RenameScript
// and the held bodies.
var (
	_ filter.Settings       = (*Store)(nil)
	_ filter.TrainLog       = (*Store)(nil)
	_ filter.Vacations      = (*Store)(nil)
	_ filter.BlockLists     = (*Store)(nil)
	_ filter.DomainRules    = (*Store)(nil)
	_ filter.DomainSwitches = (*Store)(nil)
	_ filter.AccountDocs    = (*Store)(nil)
	_ filter.DomainDeleter  = (*Store)(nil)
	_ filter.AccountDeleter = (*Store)(nil)
)

// OneRow turns a change of no row into filter.ErrNotFound.
func (s *Store) OneRow(n int64, err error, what string) error {
	if err != nil {
		return s.Err(what, err)
	}
	if n == 0 {
		return filter.ErrNotFound
	}
	return nil
}
