// Package sqlkittest is the conformance suite of the sqlkit adapters: sqlitekit's and
// pgkit's tests run it on a real database of their engine, so a shared store package
// finds the same behaviour on both.
package sqlkittest

import (
	"errors"
	"testing"

	"mailgrid/internal/sqlkit"
)

// Schema is the table Run expects, in either engine's dialect:
//
//	CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)
const Schema = "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"

// Run checks w (the writer) and r (a reader of the same database, possibly w itself)
// on an empty kv table.
func Run(t *testing.T, w sqlkit.DB, r sqlkit.Conn) {
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		if n, err := w.Exec(ctx, "INSERT INTO kv (k, v) VALUES ($1, $2)", k, len(k)); err != nil || n != 1 {
			t.Fatalf("insert %s: %d rows, %v", k, n, err)
		}
	}
	if n, err := w.Exec(ctx, "UPDATE kv SET v = v + 1 WHERE k <> $1", "a"); err != nil || n != 2 {
		t.Fatalf("Exec reported %d rows (%v), want 2", n, err)
	}
	got, err := sqlkit.All(ctx, r, sqlkit.Value[string], "SELECT k FROM kv WHERE v = $1 ORDER BY k", 2)
	if err != nil || len(got) != 2 || got[0] != "b" || got[1] != "c" {
		t.Fatalf("All %v, %v; want [b c]", got, err)
	}
	if _, err := sqlkit.All(ctx, r, sqlkit.Value[string], "SELECT nosuch FROM kv"); err == nil {
		t.Error("All of a failed Query reported no error")
	}
	var v int
	err = r.QueryRow(ctx, "SELECT v FROM kv WHERE k = $1", "zz").Scan(&v)
	if !errors.Is(err, sqlkit.ErrNoRows) {
		t.Fatalf("QueryRow of no row: %v, want ErrNoRows", err)
	}
	sentinel := errors.New("refused")
	err = w.Tx(ctx, func(c sqlkit.Conn) error {
		if _, err := c.Exec(ctx, "DELETE FROM kv"); err != nil {
			return err
		}
		return sentinel
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("Tx returned %v, want fn's error", err)
	}
	if err := w.Tx(ctx, func(c sqlkit.Conn) error {
		_, err := c.Exec(ctx, "DELETE FROM kv WHERE k = $1", "a")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	n, err := sqlkit.Value[int](r.QueryRow(ctx, "SELECT count(*) FROM kv"))
	if err != nil || n != 2 {
		t.Fatalf("after a rolled-back and a committed Tx: %d rows (%v), want 2", n, err)
	}
}
