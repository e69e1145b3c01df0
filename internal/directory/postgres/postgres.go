// Package postgres is the cluster directory driver: domains, accounts, aliases and
// placement in one PostgreSQL database that every node shares, plus the registries the
// cluster builds on (store shards and running nodes). It has exactly the semantics of the
// embedded SQLite driver and passes the same conformance suite (directorytest).
//
// Engine: github.com/jackc/pgx/v5 through its pgxpool connection pool, used directly
// rather than through database/sql: native arrays, timestamptz and jsonb, typed error
// codes (pgconn.PgError), statement caching and batches, and no extra adapter layer.
//
// Layout: every table lives in the PostgreSQL schema "directory" (the pool sets
// search_path), so the directory can share a database with a queue or a shard without
// name clashes. Tables (schema.go): domains (name ASCII, COLLATE "C" so order and
// equality are bytewise as in SQLite), accounts (id an identity column, never reused: the
// store keys mail by it; addr_key = mail.Address.Key() unique; shard = placement), both
// with disabled_services (the service switches, a sorted text[], schema v3),
// account_admin_domains, aliases (source in key form or "@domain"), alias_targets
// (ordered; target, its key, base key and domain), shards and nodes (registry.go,
// nodes.go), the web front-end's add-ons (schema v4, directory.WebAuthStore and
// directory.AuditLog): web_sessions and api_tokens keyed by the SHA-256 of their secret,
// account_totp, all deleted with their account by ON DELETE CASCADE (webauth.go,
// totp.go), and audit_log (audit.go), and schema_migrations (one row per applied version).
//
// Concurrency across nodes: mutations run in READ COMMITTED transactions that first lock
// the rows their checks depend on, and check in later statements (each statement takes a
// new snapshot, so it sees every commit made before the lock was granted). No
// process-level lock is involved:
//   - CreateAccount and CreateAlias lock the domain row (FOR NO KEY UPDATE) before they
//     check MaxUsers and that the address is free; creations in one domain are therefore
//     serialised across every node, and each check sees every commit before it.
//   - Automatic placement locks the active shard rows (in name order, after the domain
//     row) before counting their accounts, so concurrent creations never overshoot a
//     shard's capacity either.
//   - DeleteDomain locks the domain row FOR UPDATE, which waits for the foreign-key
//     checks of concurrent inserts referencing it.
//
// Deadlocks and serialization failures (SQLSTATE 40P01, 40001) are retried a few times.
// Reads that take more than one statement (Resolve, Authenticate, listings) run in one
// REPEATABLE READ READ ONLY transaction: a consistent snapshot.
//
// Durability: a method that returned nil has committed, flushed to the WAL (and to a
// synchronous standby when one is configured): the pool's sessions run with
// synchronous_commit=on unless the DSN chooses otherwise, and Open warns when the
// effective setting is off.
//
// Migrations (schema.go) are versioned and applied by Open inside one transaction that
// holds a transaction-level advisory lock (pg_advisory_xact_lock), so several nodes
// starting at once against a new or older database apply each step exactly once, and a
// database written by a newer mailgrid is refused.
//
// Password hashing (argon2id, about 19 MiB and tens of milliseconds) runs outside any
// transaction and is bounded to GOMAXPROCS concurrent hashes, as in the SQLite driver.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/directory"
)

// SchemaName is the PostgreSQL schema that holds the directory's tables.
const SchemaName = "directory"

// txRetries bounds how often a transaction is re-run after a deadlock or serialization
// failure.
const txRetries = 4

// rollbackTimeout bounds a rollback, which must run even when the caller's context is done.
const rollbackTimeout = 5 * time.Second

// Directory is a directory.Directory backed by a PostgreSQL database shared by all nodes.
type Directory struct {
	pool      *pgxpool.Pool
	log       *slog.Logger
	hashSlots chan struct{} // bounds concurrent password hashing
	// dummyHash is verified for unknown logins, so they cost one hash too. It is made at
	// the first Authenticate, not at Open: an administration command (user move, shard
	// list) never authenticates, and one argon2id hash is ~40 ms of CPU and 19 MiB.
	dummyHash func() (string, error)
	now       func() time.Time
	authCache *directory.AuthCache // verified logins (nil: none); see Authenticate
	// verifyPassword is directory.VerifyPassword; a test counts the verifications.
	verifyPassword func(hash, pw string) (ok, rehash bool, err error)
}

var _ directory.Directory = (*Directory)(nil)

// Option configures Open.
type Option func(*Directory)

// WithLogger sets the logger for errors nothing else can report (a failed rollback, a
// failed password rehash). The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(d *Directory) { d.log = l }
}

// WithAuthCache sets the cache of verified logins Authenticate consults (see
// directory.AuthCache); nil turns caching off. The default holds
// directory.DefaultAuthCacheSize logins for directory.DefaultAuthCacheTTL.
func WithAuthCache(c *directory.AuthCache) Option {
	return func(d *Directory) { d.authCache = c }
}

// Open connects to the directory database at dsn (a PostgreSQL URL or key=value string;
// pool settings such as pool_max_conns are honoured) and brings its schema up to date.
func Open(ctx context.Context, dsn string, opts ...Option) (*Directory, error) {
	d := &Directory{
		log:            slog.Default(),
		hashSlots:      make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
		now:            time.Now,
		authCache:      directory.NewAuthCache(directory.DefaultAuthCacheSize, directory.DefaultAuthCacheTTL, nil),
		verifyPassword: directory.VerifyPassword,
		dummyHash:      sync.OnceValues(randomHash),
	}
	for _, o := range opts {
		o(d)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres directory: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = SchemaName
	if _, set := cfg.ConnConfig.RuntimeParams["synchronous_commit"]; !set {
		// Durable on return, whatever the server's default (the DSN may still choose).
		cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	}
	if d.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres directory: connect: %w", err)
	}
	if err := migrate(ctx, d.pool); err != nil {
		d.pool.Close()
		return nil, err
	}
	d.checkSyncCommit(ctx)
	return d, nil
}

// checkSyncCommit warns when commits are not flushed before they are acknowledged.
func (d *Directory) checkSyncCommit(ctx context.Context) {
	var v string
	if err := d.pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&v); err != nil {
		d.log.Warn("postgres directory: cannot read synchronous_commit", "err", err)
		return
	}
	if v == "off" {
		d.log.Warn("postgres directory: synchronous_commit is off: a crash may lose acknowledged changes")
	}
}

// randomHash hashes a random password: the stand-in verified for unknown users.
func randomHash() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("postgres directory: %w", err)
	}
	return directory.HashPassword(hex.EncodeToString(b))
}

// Close releases the connection pool.
func (d *Directory) Close() error {
	d.pool.Close()
	return nil
}

// querier is what both pgx.Tx and *pgxpool.Pool offer; read helpers take it.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// write runs fn in one READ COMMITTED transaction and commits it; any error rolls
// everything back, so a mutation is all or nothing. fn takes its row locks itself.
// A deadlock or serialization failure re-runs fn (it must only assign its results).
func (d *Directory) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	var err error
	for range txRetries {
		if err = d.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn); !retryable(err) {
			return err
		}
	}
	return err
}

// read runs fn in one REPEATABLE READ READ ONLY transaction: one consistent snapshot.
func (d *Directory) read(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return d.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func (d *Directory) inTx(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	tx, err := d.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("postgres directory: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		d.rollback(tx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres directory: commit: %w", err)
	}
	return nil
}

// rollback ends a failed transaction even when the caller's context is already done.
func (d *Directory) rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	if err := tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		d.log.Error("postgres directory: rollback", "err", err)
	}
}

// SQLSTATE codes the driver reacts to (PostgreSQL Appendix A).
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// pgCode returns the SQLSTATE of a PostgreSQL error in err's chain, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func retryable(err error) bool {
	c := pgCode(err)
	return c == codeSerializationFailure || c == codeDeadlockDetected
}

// hash computes a password hash under the concurrency bound.
func (d *Directory) hash(ctx context.Context, pw string) (string, error) {
	if err := d.acquire(ctx); err != nil {
		return "", err
	}
	defer d.release()
	return directory.HashPassword(pw)
}

// verify checks a password under the concurrency bound.
func (d *Directory) verify(ctx context.Context, hash, pw string) (ok, rehash bool, err error) {
	if err := d.acquire(ctx); err != nil {
		return false, false, err
	}
	defer d.release()
	return d.verifyPassword(hash, pw)
}

func (d *Directory) acquire(ctx context.Context) error {
	select {
	case d.hashSlots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Directory) release() { <-d.hashSlots }
