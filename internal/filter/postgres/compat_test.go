package postgres

import (
	"testing"

	"mailgrid/internal/pgkit/pgkittest"
	"mailgrid/internal/testkit/pgtest"
)

// A database migrated by the code before package pgkit opens with recorded versions and
// catalog unchanged, and a fresh database gets the same catalog.
func TestLegacyDatabaseOpens(t *testing.T) {
	legacy, fresh := pgtest.DSN(t), pgtest.DSN(t)
	pgkittest.LegacyMigrate(t, legacy, SchemaName, schema().Steps)
	want := pgkittest.Describe(t, legacy, SchemaName)
	for _, dsn := range []string{legacy, fresh} {
		d, err := Open(t.Context(), dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if got := pgkittest.Describe(t, dsn, SchemaName); got != want {
			t.Errorf("catalog after Open:\n%s\nwant:\n%s", got, want)
		}
	}
}
