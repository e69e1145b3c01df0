package pgkit_test

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/pgkit"
	"mailgrid/internal/sqlkit/sqlkittest"
	"mailgrid/internal/testkit/pgtest"
)

// The sqlkit adapter passes sqlkittest, and "no row" still matches pgx.ErrNoRows.
func TestConn(t *testing.T) {
	pool := connect(t, pgtest.DSN(t), "public")
	if _, err := pool.Exec(t.Context(), sqlkittest.Schema); err != nil {
		t.Fatal(err)
	}
	db := pgkit.Conn(pool)
	sqlkittest.Run(t, db, db)
	var v int
	if err := db.QueryRow(t.Context(), "SELECT v FROM kv WHERE k = 'zz'").Scan(&v); !errors.Is(err, pgx.ErrNoRows) {
		t.Errorf("no row: %v, want pgx.ErrNoRows in the chain", err)
	}
}
