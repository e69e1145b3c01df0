package pgkit

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/sqlkit"
)

// Conn is pool as a sqlkit.DB, for the statements a shared store package
// (engine-neutral, see internal/sqlkit) runs on both engines. Its Tx rolls back with
// Rollback (bounded, detached from a cancelled ctx) when fn fails or panics.
func Conn(pool *pgxpool.Pool) sqlkit.DB { return poolConn{conn{pool}, pool} }

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

type conn struct{ q querier }

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlkit.Rows, error) {
	return c.q.Query(ctx, query, args...)
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqlkit.Row {
	return pgRow{c.q.QueryRow(ctx, query, args...)}
}

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

type poolConn struct {
	conn
	pool *pgxpool.Pool
}

func (p poolConn) Tx(ctx context.Context, fn func(sqlkit.Conn) error) (err error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	done := false
	defer func() {
		if done {
			return
		}
		if rerr := Rollback(tx); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	if err := fn(conn{tx}); err != nil {
		return err
	}
	done = true // a failed commit ends the transaction too
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

type pgRow struct{ r pgx.Row }

// Scan maps pgx.ErrNoRows to an error matching both it and sqlkit.ErrNoRows.
func (r pgRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w (%w)", sqlkit.ErrNoRows, err)
	}
	return err
}

// TxConn is tx as a sqlkit.Conn, for a shared statement inside a driver's own transaction.
func TxConn(tx pgx.Tx) sqlkit.Conn { return conn{tx} }
