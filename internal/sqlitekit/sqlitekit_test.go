package sqlitekit_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"mailgrid/internal/sqlitekit"
)

var steps = []string{
	`CREATE TABLE parent (id INTEGER PRIMARY KEY) STRICT;`,
	`CREATE TABLE child (p INTEGER NOT NULL REFERENCES parent(id)) STRICT;`,
}

func open(t *testing.T, path string, steps []string) (*sqlitekit.DB, error) {
	t.Helper()
	d, err := sqlitekit.Open(t.Context(), sqlitekit.Options{Name: "kit", Path: path, Version: len(steps), Steps: steps})
	if err == nil {
		t.Cleanup(func() {
			if err := d.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	return d, err
}

func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// A path with a space and a '?' must reach SQLite as a file name, not as DSN syntax.
func TestOpenSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new dir", "a?b.db")
	d, err := open(t, path, steps)
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range []*sql.DB{d.Write, d.Read} {
		for name, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000", "user_version": "2"} {
			if got := pragma(t, db, name); got != want {
				t.Errorf("PRAGMA %s = %s, want %s", name, got, want)
			}
		}
	}
	if got := pragma(t, d.Read, "query_only"); got != "1" {
		t.Errorf("reader query_only = %s", got)
	}
	if got := pragma(t, d.Write, "query_only"); got != "0" {
		t.Errorf("writer query_only = %s", got)
	}
	if _, err := d.Read.ExecContext(t.Context(), "INSERT INTO parent (id) VALUES (1)"); err == nil {
		t.Error("the read pool wrote")
	}
	if _, err := d.Write.ExecContext(t.Context(), "INSERT INTO child (p) VALUES (7)"); err == nil {
		t.Error("foreign key not enforced")
	}
}

func TestMigrateUpgradeAndRefuseNewer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	d, err := open(t, path, steps[:1])
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = open(t, path, steps)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	if got := pragma(t, d.Read, "user_version"); got != "2" {
		t.Fatalf("user_version %s after upgrade", got)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = open(t, path, steps[:1])
	if err == nil || !strings.Contains(err.Error(), "kit: schema version 2 is newer than this program's 1") {
		t.Fatalf("older program opened a newer database: %v", err)
	}
}

// A failing step leaves the database at the previous version with none of its parts.
func TestMigrateFailedStepRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	bad := append(steps[:1:1], `CREATE TABLE half (x INTEGER); INSERT INTO nosuch VALUES (1);`)
	if _, err := open(t, path, bad); err == nil || !strings.Contains(err.Error(), "migrate to 2") {
		t.Fatalf("bad step: %v", err)
	}
	d, err := open(t, path, steps[:1])
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.Read.QueryRowContext(t.Context(), "SELECT count(*) FROM sqlite_schema WHERE name = 'half'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("half-applied step left a table: n=%d err=%v", n, err)
	}
	if got := pragma(t, d.Read, "user_version"); got != "1" {
		t.Fatalf("user_version %s", got)
	}
}

func TestOpenRefusesMismatchedVersion(t *testing.T) {
	_, err := sqlitekit.Open(t.Context(), sqlitekit.Options{Name: "kit", Path: filepath.Join(t.TempDir(), "v.db"), Version: 3, Steps: steps})
	if err == nil {
		t.Fatal("Version 3 with 2 steps opened")
	}
}

func count(t *testing.T, d *sqlitekit.DB) int {
	t.Helper()
	var n int
	if err := d.Read.QueryRowContext(t.Context(), "SELECT count(*) FROM parent").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTx(t *testing.T) {
	d, err := open(t, filepath.Join(t.TempDir(), "t.db"), steps)
	if err != nil {
		t.Fatal(err)
	}
	insert := func(tx *sql.Tx) error {
		_, err := tx.ExecContext(context.Background(), "INSERT INTO parent DEFAULT VALUES")
		return err
	}
	if err := d.Tx(t.Context(), insert); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d); n != 1 {
		t.Fatalf("committed rows %d, want 1", n)
	}
	sentinel := errors.New("refused")
	err = d.Tx(t.Context(), func(tx *sql.Tx) error {
		if err := insert(tx); err != nil {
			return err
		}
		return sentinel
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("Tx error %v, want the function's", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic swallowed")
			}
		}()
		_ = d.Tx(t.Context(), func(tx *sql.Tx) error { //nolint:errcheck // it panics
			if err := insert(tx); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	if n := count(t, d); n != 1 {
		t.Fatalf("rows %d after failed transactions, want 1", n)
	}
	// The one writer connection is free again: a rolled-back Tx must not hold it.
	if err := d.Tx(t.Context(), insert); err != nil {
		t.Fatal(err)
	}
	if n := count(t, d); n != 2 {
		t.Fatalf("rows %d, want 2", n)
	}
}
