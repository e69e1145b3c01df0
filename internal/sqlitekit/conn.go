package sqlitekit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"mailgrid/internal/sqlkit"
)

// Reader is the read pool as a sqlkit.Conn, for the statements a shared store package
// (engine-neutral, see internal/sqlkit) runs on both engines.
func (d *DB) Reader() sqlkit.Conn { return conn{d.Read} }

// Writer is the one writer connection as a sqlkit.DB; its Tx is d.Tx.
func (d *DB) Writer() sqlkit.DB { return writer{conn{d.Write}, d} }

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type conn struct{ q querier }

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlkit.Rows, error) {
	rows, err := c.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlkit.Row {
	return sqlRow{c.q.QueryRowContext(ctx, query, args...)}
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

type writer struct {
	conn
	d *DB
}

func (w writer) Tx(ctx context.Context, fn func(sqlkit.Conn) error) error {
	return w.d.Tx(ctx, func(tx *sql.Tx) error { return fn(conn{tx}) })
}

type sqlRow struct{ r *sql.Row }

// Scan maps sql.ErrNoRows to an error matching both it and sqlkit.ErrNoRows.
func (r sqlRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w (%w)", sqlkit.ErrNoRows, err)
	}
	return err
}

type sqlRows struct{ *sql.Rows }

// Close drops the close error: a read's failures are reported by Err.
func (r sqlRows) Close() { _ = r.Rows.Close() }
