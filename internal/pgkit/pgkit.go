// Package pgkit holds what the PostgreSQL drivers (queue, filter state, directory, store)
// share, so each driver states only its own tables and queries:
//
//   - Connect: a pgxpool whose sessions have the driver's PostgreSQL schema as search_path
//     (drivers share a database, each in its own schema, and write table names
//     unqualified) and synchronous_commit=on unless the DSN chooses otherwise, so a
//     committed change is durable when the method returns.
//   - Migrations: versioned schema steps applied in one transaction under a
//     pg_advisory_xact_lock, so nodes starting together apply each step once; each step
//     is recorded in <schema>.schema_migrations (version, applied_at), and a database
//     written by a newer program (a higher recorded version) is refused.
//   - Chunks and Reader: a body stored as bytea rows of a fixed chunk size (key, seq,
//     data), written one chunk in memory at a time and read back as an io.ReaderAt that
//     fetches one chunk per query and caches the last one.
//   - Rollback (bounded, detached from the caller's context) and SQLSTATE helpers.
//   - Conn and TxConn: a pool or a transaction as internal/sqlkit's engine-neutral DB and
//     Conn, so a store's shared statements (contacts/sqlstore, schedule/sqlstore,
//     fetch/sqlstore, filter/sqlstore) run here as on SQLite through sqlitekit.
//
// Only drivers import pgkit (internal/archtest checks it): front-ends and core packages
// never see SQL.
package pgkit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// RollbackTimeout bounds a rollback, which must run even when the caller's context is done.
const RollbackTimeout = 5 * time.Second

// Connect parses dsn (a PostgreSQL URL or key=value string; pool settings such as
// pool_max_conns are honoured) and opens a pool whose sessions use schema as their
// search_path and synchronous_commit=on unless the DSN sets it. tune, when not nil,
// adjusts the configuration before the pool is created.
func Connect(ctx context.Context, dsn, schema string, tune func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	if _, set := cfg.ConnConfig.RuntimeParams["synchronous_commit"]; !set {
		// Durable on return, whatever the server's default (the DSN may still choose).
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	}
	if tune != nil {
		tune(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return pool, nil
}

// Rollback ends a transaction even when the caller's context is already done, within
// RollbackTimeout. A transaction already committed or rolled back is not an error.
func Rollback(tx pgx.Tx) error {
	ctx, cancel := context.WithTimeout(context.Background(), RollbackTimeout)
	defer cancel()
	if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// SQLSTATE codes the drivers react to (PostgreSQL documentation, Appendix A).
const (
	UniqueViolation      = "23505"
	ForeignKeyViolation  = "23503"
	SerializationFailure = "40001"
	DeadlockDetected     = "40P01"
)

// Code returns the SQLSTATE of the PostgreSQL error in err's chain, or "".
func Code(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// IsUnique reports a unique_violation in err's chain.
func IsUnique(err error) bool { return Code(err) == UniqueViolation }

// Retryable reports a serialization failure or a deadlock: the transaction may succeed
// when run again.
func Retryable(err error) bool {
	c := Code(err)
	return c == SerializationFailure || c == DeadlockDetected
}
