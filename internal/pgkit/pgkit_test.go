package pgkit_test

import (
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/pgkit"
	"mailgrid/internal/pgkit/pgkittest"
	"mailgrid/internal/testkit/pgtest"
)

// connect opens a pool on schema, closed at the end of the test.
func connect(t *testing.T, dsn, schema string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgkit.Connect(t.Context(), dsn, schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Sessions commit durably (synchronous_commit=on) and find the driver's tables first,
// unless the DSN chooses its own synchronous_commit; tune sees the configuration.
func TestConnectSessionSettings(t *testing.T) {
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	v := u.Query()
	v.Set("synchronous_commit", "local")
	u.RawQuery = v.Encode()
	for want, dsn := range map[string]string{"on": dsn, "local": u.String()} {
		pool, err := pgkit.Connect(t.Context(), dsn, "kit", func(c *pgxpool.Config) { c.MaxConns = 2 })
		if err != nil {
			t.Fatal(err)
		}
		var sync, path string
		err = pool.QueryRow(t.Context(), `SELECT current_setting('synchronous_commit'), current_setting('search_path')`).Scan(&sync, &path)
		if max := pool.Config().MaxConns; max != 2 {
			t.Errorf("tune not applied: max conns %d", max)
		}
		pool.Close()
		if err != nil {
			t.Fatal(err)
		}
		if sync != want || path != "kit" {
			t.Errorf("synchronous_commit %q search_path %q; want %q and kit", sync, path, want)
		}
	}
	if _, err := pgkit.Connect(t.Context(), "postgres://[::1", "kit", nil); err == nil {
		t.Error("Connect accepted a malformed DSN")
	}
}

func TestSQLState(t *testing.T) {
	pool := connect(t, pgtest.DSN(t), "public")
	_, err := pool.Exec(t.Context(), `CREATE TABLE u (k int PRIMARY KEY); INSERT INTO u VALUES (1), (1)`)
	if !pgkit.IsUnique(err) || pgkit.Code(err) != pgkit.UniqueViolation || pgkit.Retryable(err) {
		t.Fatalf("duplicate key: %v (code %q)", err, pgkit.Code(err))
	}
	if pgkit.Code(errors.New("not from PostgreSQL")) != "" || pgkit.Code(nil) != "" {
		t.Fatal("Code of a non-PostgreSQL error")
	}
}

// migrations is a two-step schema named schema; every step fails if run twice.
func migrations(schema string, steps ...string) pgkit.Migrations {
	if steps == nil {
		steps = []string{`CREATE TABLE t (k text PRIMARY KEY)`, `ALTER TABLE t ADD COLUMN v integer NOT NULL DEFAULT 0`}
	}
	return pgkit.Migrations{Schema: schema, Lock: 0x6b6974, Version: len(steps), Steps: steps}
}

func versions(t *testing.T, dsn, schema string) string {
	var s string
	pgkittest.QueryRow(t, dsn, `SELECT coalesce(string_agg(version::text, ',' ORDER BY version), '') FROM `+schema+`.schema_migrations`, &s)
	return s
}

// Nodes starting together apply each step once, under one lock or a lock per schema; a
// later Apply has nothing to do; two schemas in one database migrate independently.
func TestMigrationsConcurrentApply(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		schema := []string{"one", "two"}[i%2]
		pool := connect(t, dsn, schema)
		m := migrations(schema)
		if schema == "two" {
			m.SchemaLock = 0x6b6974
		}
		wg.Go(func() { errs[i] = m.Apply(t.Context(), pool) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, schema := range []string{"one", "two"} {
		if got := versions(t, dsn, schema); got != "1,2" {
			t.Errorf("%s: versions %q", schema, got)
		}
		if err := migrations(schema).Apply(t.Context(), connect(t, dsn, schema)); err != nil {
			t.Fatal(err)
		}
	}
	pgkittest.Exec(t, dsn, `INSERT INTO one.t (k, v) VALUES ('a', 1)`)
}

// An added step is applied to a database at the previous version.
func TestMigrationsUpgrade(t *testing.T) {
	dsn := pgtest.DSN(t)
	pool := connect(t, dsn, "kit")
	m := migrations("kit")
	old := m
	old.Steps, old.Version = m.Steps[:1], 1
	if err := old.Apply(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	if got := versions(t, dsn, "kit"); got != "1" {
		t.Fatalf("versions %q", got)
	}
	if err := m.Apply(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	if got := versions(t, dsn, "kit"); got != "1,2" {
		t.Fatalf("versions %q", got)
	}
}

// A database written by a newer program is refused and left as it is.
func TestMigrationsNewerRefused(t *testing.T) {
	dsn := pgtest.DSN(t)
	pool := connect(t, dsn, "kit")
	if err := migrations("kit").Apply(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	pgkittest.Exec(t, dsn, `INSERT INTO kit.schema_migrations (version, applied_at) VALUES (3, now())`)
	err := migrations("kit").Apply(t.Context(), pool)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Apply over version 3: %v", err)
	}
	if got := versions(t, dsn, "kit"); got != "1,2,3" {
		t.Fatalf("versions %q", got)
	}
}

// A failing step leaves nothing behind, not even the schema; a step count that disagrees
// with the version is a programming error caught before any change.
func TestMigrationsFailureChangesNothing(t *testing.T) {
	dsn := pgtest.DSN(t)
	pool := connect(t, dsn, "kit")
	bad := migrations("kit", `CREATE TABLE t (k text)`, `CREATE TABLE t (k text)`)
	if err := bad.Apply(t.Context(), pool); err == nil || !strings.Contains(err.Error(), "migration 2") {
		t.Fatalf("Apply of a failing step: %v", err)
	}
	var exists bool
	pgkittest.QueryRow(t, dsn, `SELECT to_regnamespace('kit') IS NOT NULL`, &exists)
	if exists {
		t.Fatal("a failed migration left the schema behind")
	}
	wrong := migrations("kit")
	wrong.Version = 3
	if err := wrong.Apply(t.Context(), pool); err == nil {
		t.Fatal("Apply with 2 steps for version 3 succeeded")
	}
}

// A database migrated by the drivers' code before pgkit opens unchanged, and a fresh one
// gets the same catalog.
func TestMigrationsLegacyDatabase(t *testing.T) {
	m := migrations("kit")
	legacy, fresh := pgtest.DSN(t), pgtest.DSN(t)
	pgkittest.LegacyMigrate(t, legacy, "kit", m.Steps)
	want := pgkittest.Describe(t, legacy, "kit")
	if err := m.Apply(t.Context(), connect(t, legacy, "kit")); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(t.Context(), connect(t, fresh, "kit")); err != nil {
		t.Fatal(err)
	}
	for name, dsn := range map[string]string{"legacy": legacy, "fresh": fresh} {
		if got := pgkittest.Describe(t, dsn, "kit"); got != want {
			t.Errorf("%s database:\n%s\nwant:\n%s", name, got, want)
		}
	}
	if !strings.Contains(want, "t.v integer") || !strings.Contains(want, "version 2") {
		t.Fatalf("Describe misses facts:\n%s", want)
	}
}
