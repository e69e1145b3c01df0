// Package pgkittest holds the test helpers the PostgreSQL drivers share, on top of
// package pgtest's fresh databases: one-off statements, a database per conformance test,
// the schema migration the drivers ran before package pgkit (to prove that a database it
// wrote still opens) and a catalog description of a schema (to prove two migrations
// produce the same tables).
package pgkittest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"mailgrid/internal/testkit/pgtest"
)

// timeout bounds every helper's work.
const timeout = 30 * time.Second

// connect opens one connection to dsn, closed at the end of fn.
func connect(t testing.TB, dsn string, fn func(ctx context.Context, c *pgx.Conn) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	if err := fn(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// Exec runs sql on its own connection to dsn.
func Exec(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	connect(t, dsn, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, sql, args...)
		return err
	})
}

// QueryRow runs sql on its own connection to dsn and scans its one row into dest.
func QueryRow(t testing.TB, dsn, sql string, dest ...any) {
	t.Helper()
	connect(t, dsn, func(ctx context.Context, c *pgx.Conn) error {
		return c.QueryRow(ctx, sql).Scan(dest...)
	})
}

// PerTest gives each test of a conformance suite one database, so the suite's reopen of
// a driver finds the data the test wrote. The zero value is ready to use.
type PerTest struct {
	mu sync.Mutex
	m  map[*testing.T]string
}

// DSN returns t's database, creating it on first use.
func (p *PerTest) DSN(t *testing.T) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[*testing.T]string)
	}
	dsn, ok := p.m[t]
	if !ok {
		dsn = pgtest.DSN(t)
		p.m[t] = dsn
	}
	return dsn
}

// LegacyMigrate brings schema to len(steps) the way the queue and filter drivers did
// before package pgkit (kept here verbatim as the reference): the schema and its
// schema_migrations table, then every step and its version row, in one transaction on a
// session whose search_path is schema.
func LegacyMigrate(t testing.TB, dsn, schema string, steps []string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	err = pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema+`;
			CREATE TABLE `+schema+`.schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
			return err
		}
		for i, step := range steps {
			if _, err := tx.Exec(ctx, step); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, i+1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("legacy migration of %s: %v", schema, err)
	}
}

// Describe returns, one fact per line in a fixed order, what schema's catalog holds:
// columns (type, nullability, default, collation, identity), constraints, indexes and
// the recorded schema versions.
func Describe(t testing.TB, dsn, schema string) string {
	t.Helper()
	queries := []string{
		`SELECT table_name || '.' || column_name || ' ' || data_type || ' null=' || is_nullable ||
			' default=' || coalesce(column_default, '-') || ' collate=' || coalesce(collation_name, '-') ||
			' identity=' || is_identity
		FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
		`SELECT c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
		FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 ORDER BY 1`,
		`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname`,
		`SELECT 'version ' || version FROM ` + pgx.Identifier{schema, "schema_migrations"}.Sanitize() +
			` WHERE $1 <> '' ORDER BY version`,
	}
	var b strings.Builder
	connect(t, dsn, func(ctx context.Context, c *pgx.Conn) error {
		for _, q := range queries {
			rows, err := c.Query(ctx, q, schema)
			if err != nil {
				return err
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			for _, l := range lines {
				b.WriteString(l + "\n")
			}
		}
		return nil
	})
	return b.String()
}
