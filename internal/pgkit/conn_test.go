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

// Migrations.Open returns a pool on the schema, migrated; a failed step closes the pool
// it opened (TestMain's goleak would see it left open) and changes nothing.
func TestMigrationsOpen(t *testing.T) {
	dsn := pgtest.DSN(t)
	bad := migrations("kit", `CREATE TABLE t (k text PRIMARY KEY)`, `SELECT nosuch`)
	if pool, err := bad.Open(t.Context(), dsn, nil); err == nil {
		pool.Close()
		t.Fatal("Open applied a failing step")
	}
	pool, err := migrations("kit").Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(t.Context(), `INSERT INTO t (k, v) VALUES ('a', 1)`); err != nil {
		t.Fatalf("migrated table not on the search_path: %v", err)
	}
	if got := versions(t, dsn, "kit"); got != "1,2" {
		t.Errorf("versions %q, want 1,2", got)
	}
}
