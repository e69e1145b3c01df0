package postgres

import (
	"testing"

	"mailgrid/internal/pgkit/pgkittest"
	"mailgrid/internal/testkit/pgtest"
)

// A database migrated by the code before package pgkit opens with recorded versions and
// catalog unchanged, and a fresh database gets the same catalog. (Session settings are
// pgkit.Connect's, tested there.)
func TestLegacyDatabaseOpens(t *testing.T) {
	legacy, fresh := pgtest.DSN(t), pgtest.DSN(t)
	pgkittest.LegacyMigrate(t, legacy, SchemaName, schema().Steps)
	want := pgkittest.Describe(t, legacy, SchemaName)
	for _, dsn := range []string{legacy, fresh} {
		q, err := Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		if got := pgkittest.Describe(t, dsn, SchemaName); got != want {
			t.Errorf("catalog after Open:\n%s\nwant:\n%s", got, want)
		}
	}
}

// A database migrated by a newer mailgrid is refused rather than misread.
func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	q, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = q.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, SchemaVersion+1)
	if cerr := q.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	if q, err := Open(t.Context(), dsn); err == nil {
		t.Error("Open of a newer schema succeeded")
		if err := q.Close(); err != nil {
			t.Error(err)
		}
	}
}
