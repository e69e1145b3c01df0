// Package sqlite is the embedded directory driver: domains, accounts, aliases and placement
// in one SQLite database file, for the single-node shape (the cluster shape uses postgres).
//
// Engine: modernc.org/sqlite, a pure-Go SQLite (no cgo, so the binary stays static), through
// database/sql with driver name "sqlite". The file is opened twice:
//   - a writer pool of exactly one connection, begun with BEGIN IMMEDIATE (_txlock=immediate),
//     so every mutation takes SQLite's write lock before it reads what it checks: limits
//     (MaxUsers) and uniqueness hold even against another process writing the same file
//     (the CLI runs while the server does; busy_timeout makes it wait instead of failing);
//   - a read pool of query_only connections; each read that needs more than one statement
//     runs in one deferred transaction, a consistent WAL snapshot.
//
// Durability: journal_mode=WAL and synchronous=FULL, so a method that returned nil has its
// commit fsynced. Foreign keys are on. The schema is versioned with PRAGMA user_version;
// Open applies missing migrations (schema.go), each in its own immediate transaction, and
// refuses a file written by a newer mailgrid.
//
// Layout (schema.go): domains(name ASCII), accounts (id never reused: AUTOINCREMENT, because
// the store keys mail by account id; addr_key = mail.Address.Key() unique, local as
// created), both with disabled_services (the service switches, comma-joined, schema v2),
// account_admin_domains, aliases (source in key form or "@domain"),
// alias_targets (ordered by pos; target as parsed, its key, its base key without "+detail",
// and its domain, so deletions can find every alias that points at what they remove);
// schema v3 adds the web front-end's credentials (web_sessions, api_tokens keyed by the
// SHA-256 of their secret; account_totp) and the audit_log (sessions.go, totp.go, audit.go).
//
// Password hashing (argon2id, about 19 MiB and tens of milliseconds each) runs outside any
// transaction and is bounded to GOMAXPROCS concurrent hashes, so a login storm costs
// bounded memory and never holds the write lock.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"mailgrid/internal/directory"

	_ "modernc.org/sqlite" // registers database/sql driver "sqlite"
)

// busyTimeout is how long a statement waits for another connection's (or process's) lock.
const busyTimeout = 10 * time.Second

// readConns is the size of the read pool.
const readConns = 4

// Directory is a directory.Directory backed by one SQLite file.
type Directory struct {
	w, r      *sql.DB
	log       *slog.Logger
	hashSlots chan struct{} // bounds concurrent password hashing
	// dummyHash is verified for unknown logins, so they cost one hash too. It is made at
	// the first Authenticate, not at Open: most CLI commands never authenticate, and one
	// argon2id hash is ~40 ms of CPU and 19 MiB.
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

// Open opens (creating if needed) the directory database at path and brings its schema up
// to date.
func Open(ctx context.Context, path string, opts ...Option) (*Directory, error) {
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
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: %w", err)
	}
	if d.w, err = openPool(ctx, abs, 1, url.Values{
		"_journal_mode": {"WAL"}, "_synchronous": {"FULL"}, "_txlock": {"immediate"},
	}); err != nil {
		return nil, err
	}
	if err := migrate(ctx, d.w); err != nil {
		return nil, errors.Join(err, d.w.Close())
	}
	if d.r, err = openPool(ctx, abs, readConns, url.Values{"_query_only": {"1"}}); err != nil {
		return nil, errors.Join(err, d.w.Close())
	}
	return d, nil
}

// openPool opens a database/sql pool on the file with the shared pragmas plus extra.
func openPool(ctx context.Context, abs string, conns int, extra url.Values) (*sql.DB, error) {
	q := url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeout.Milliseconds())},
		"_foreign_keys": {"1"},
	}
	for k, v := range extra {
		q[k] = v
	}
	dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite directory: open %s: %w", abs, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite directory: open %s: %w", abs, err), db.Close())
	}
	return db, nil
}

// randomHash hashes a random password: the stand-in verified for unknown users.
func randomHash() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("sqlite directory: %w", err)
	}
	return directory.HashPassword(hex.EncodeToString(b))
}

// Close releases both pools.
func (d *Directory) Close() error {
	var errs []error
	if d.r != nil {
		errs = append(errs, d.r.Close())
	}
	if d.w != nil {
		errs = append(errs, d.w.Close())
	}
	return errors.Join(errs...)
}

// querier is what both *sql.Tx and *sql.DB offer; read helpers take it.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// write runs fn in one immediate transaction on the writer and commits it; any error rolls
// everything back, so a mutation is all or nothing.
func (d *Directory) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return d.inTx(ctx, d.w, nil, fn)
}

// read runs fn in one read-only transaction on the read pool (one consistent snapshot).
func (d *Directory) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return d.inTx(ctx, d.r, &sql.TxOptions{ReadOnly: true}, fn)
}

func (d *Directory) inTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("sqlite directory: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			d.log.Error("sqlite directory: rollback", "err", rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite directory: commit: %w", err)
	}
	return nil
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

// micros and fromMicros convert timestamps to the stored form (UTC microseconds since the
// epoch, the precision PostgreSQL keeps too).
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// boolInt stores a bool as SQLite's 0/1.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
