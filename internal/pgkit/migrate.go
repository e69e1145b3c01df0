package pgkit

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Migrations describe a driver's versioned schema. Step i brings version i to i+1; never
// edit a released step, append one (and raise the driver's version).
type Migrations struct {
	// Schema is the PostgreSQL schema holding the tables and schema_migrations, a plain
	// lower-case identifier (it is written into DDL unquoted). The pool's search_path
	// must be this schema: the steps name tables unqualified.
	Schema string
	// Lock is the pg_advisory_xact_lock key serialising this driver's migrations across
	// nodes; each driver has its own.
	Lock int64
	// SchemaLock, when not zero, replaces Lock by the two-key lock (SchemaLock,
	// hashtext(Schema)): a driver with one schema per instance (store shards sharing a
	// database) then migrates each schema under its own lock.
	SchemaLock int32
	// Version is the schema version the program writes; it must equal len(Steps).
	Version int
	Steps   []string
}

// Apply brings the database up to Version in one transaction holding the lock: a node
// that waits for the lock then sees what the first one committed, so each step runs once
// however many nodes start together, and a failed step (PostgreSQL DDL is transactional)
// leaves the database as it was. The schema and its schema_migrations table are created
// when missing (checked first, so a role without CREATE works on a migrated database).
// A recorded version above Version is refused.
func (m Migrations) Apply(ctx context.Context, pool *pgxpool.Pool) (err error) {
	if len(m.Steps) != m.Version {
		return fmt.Errorf("%d migrations for schema version %d", len(m.Steps), m.Version)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, Rollback(tx))
		}
	}()
	lock, args := `SELECT pg_advisory_xact_lock($1)`, []any{m.Lock}
	if m.SchemaLock != 0 {
		lock, args = `SELECT pg_advisory_xact_lock($1, hashtext($2))`, []any{m.SchemaLock, m.Schema}
	}
	if _, err := tx.Exec(ctx, lock, args...); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, m.Schema+".schema_migrations").Scan(&exists); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if !exists {
		// DDL takes no bound parameters; Schema is the driver's constant identifier.
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+m.Schema+`;
			CREATE TABLE `+m.Schema+`.schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+m.Schema+`.schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if v > m.Version {
		return fmt.Errorf("schema version %d is newer than this program's %d", v, m.Version)
	}
	for i := v; i < m.Version; i++ {
		if _, err := tx.Exec(ctx, m.Steps[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+m.Schema+`.schema_migrations (version, applied_at) VALUES ($1, now())`, i+1); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// Open connects to dsn with m.Schema as the search_path (Connect, with tune) and applies
// m; on a failure the pool is closed. It is how a driver with one schema opens.
func (m Migrations) Open(ctx context.Context, dsn string, tune func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	pool, err := Connect(ctx, dsn, m.Schema, tune)
	if err != nil {
		return nil, err
	}
	if err := m.Apply(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}
