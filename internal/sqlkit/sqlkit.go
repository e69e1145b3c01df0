// Package sqlkit is the engine-neutral face of the two connection kits: the few calls a
// statement needs (Query, QueryRow, Exec, and Tx for a transaction), so that a store's
// SQL and row scanning can be written once and run on SQLite (internal/sqlitekit, over
// database/sql and modernc.org/sqlite) and on PostgreSQL (internal/pgkit, over pgx).
//
// The model: both engines take the statements as written, with $1… placeholders (modernc
// sqlite binds $N by number, as PostgreSQL does). sqlitekit.Reader, sqlitekit.Writer and
// pgkit.Conn adapt each engine to Conn and DB; "no row" comes back as an error matching
// ErrNoRows (and the engine's own sentinel); Exec reports the rows affected. What the
// engines do differently — schemas and migrations, upserts, RETURNING after a join,
// row locks (FOR UPDATE, SKIP LOCKED, advisory locks), arrays versus joined text, COPY —
// stays in each driver; a shared store package (e.g. internal/contacts/sqlstore) holds
// only what reads the same on both.
//
// sqlkit imports no database library, so the shared store packages, which live beside
// their core package, stay free of engine code (internal/archtest).
package sqlkit

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoRows is the error of Row.Scan when the query returned no row.
var ErrNoRows = errors.New("no rows in result set")

// Row is the result of QueryRow: Scan copies its first row into dest, or returns an error
// matching ErrNoRows when there is none.
type Row interface {
	Scan(dest ...any) error
}

// Rows is the result of Query. Next advances; Err reports the failure that ended the
// iteration; Close may be called any number of times.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Conn runs statements. A statement that fails returns the engine's error.
type Conn interface {
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
}

// DB is a Conn that also runs transactions.
type DB interface {
	Conn
	// Tx runs fn in one transaction: committed when fn returns nil, rolled back otherwise.
	// fn's error is returned as it is.
	Tx(ctx context.Context, fn func(Conn) error) error
}

// Base is what a shared store package's Store holds first: Name starts every error
// ("contacts/sqlite"); R runs the reads that may see the last commit, W every write and
// the reads a write decides on (on SQLite the read pool and the one writer connection,
// on PostgreSQL the pool for both).
type Base struct {
	Name string
	R    Conn
	W    DB
}

// Err wraps err, a failed statement's error, as "<Name>: <what>: <err>"; nil stays nil.
func (b *Base) Err(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s: %w", b.Name, what, err)
}

// All runs query on c and scans every row with scan.
func All[T any](ctx context.Context, c Conn, scan func(Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return Collect(rows, scan)
}

// Collect scans every row of rows with scan and closes rows.
func Collect[T any](rows Rows, scan func(Row) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Value scans a row of one column into a T.
func Value[T any](r Row) (T, error) {
	var v T
	err := r.Scan(&v)
	return v, err
}
