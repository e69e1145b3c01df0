package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"mailgrid/internal/bus/pgnotify"
	"mailgrid/internal/store"
)

// DefaultMaxConns bounds the connection pool when Options.MaxConns is 0.
const DefaultMaxConns = 16

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("postgres store: closed")

// Options configure Open.
type Options struct {
	// DSN is the shard database, as pgx parses it ("postgres://user@host:5432/db" or
	// "host=... dbname=..."). Required.
	DSN string
	// Publisher receives the store.Change events of every commit on this node. May be nil.
	Publisher store.Publisher
	// Logger receives what cannot be returned. nil discards.
	Logger *slog.Logger
	// MaxConns bounds the pool; 0 means DefaultMaxConns.
	MaxConns int32
	// Origin names this node in the notifications it sends (pgnotify). Give the
	// Origin() of the node's pgnotify.Listener on the same database, so the Listener does
	// not publish this store's changes a second time. "" picks a random origin (right
	// when no Listener of this node feeds the same Publisher).
	Origin string
	// Schema is the PostgreSQL schema of the shard's tables; "" means DefaultSchema.
	// Lower-case letters, digits and _. Several shards may share a database, one schema
	// each.
	Schema string
	// NoTextIndexer runs no background text indexer (search_bg.go): for short-lived
	// administration processes (a `user move` would otherwise start scanning the shard
	// for mailboxes to index and leave the work half done when it exits). Searches still
	// index what they need; the serving nodes' indexers do the rest.
	NoTextIndexer bool
}

// Store is the PostgreSQL store driver. It implements store.Store.
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	origin string
	seq    *sequencer
	locks  locker            // cross-node advisory locks (lock.go)
	idx    *store.IndexQueue // background text indexing (search_bg.go)

	closed    atomic.Bool
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the shard database, applies schema migrations (safe when several
// nodes open the same database at once) and returns the store.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if opt.DSN == "" {
		return nil, fmt.Errorf("postgres store: Options.DSN is empty: %w", store.ErrInvalid)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = DefaultMaxConns
	}
	if opt.Origin == "" {
		opt.Origin = pgnotify.NewOrigin()
	}
	if opt.Schema == "" {
		opt.Schema = DefaultSchema
	}
	if err := validSchema(opt.Schema); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(opt.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	cfg.MaxConns = opt.MaxConns
	cfg.ConnConfig.RuntimeParams["search_path"] = opt.Schema
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "mailgrid-store"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	if err := migrate(ctx, pool, opt.Schema); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool, log: opt.Logger, origin: opt.Origin, seq: newSequencer(opt.Publisher)}
	if !opt.NoTextIndexer {
		s.idx = store.StartIndexQueue(opt.Logger, s.backgroundIndexer(), s.behindMailboxes)
	}
	return s, nil
}

// Origin is the origin id this store puts in its notifications.
func (s *Store) Origin() string { return s.origin }

// Close refuses new calls, waits for the connections in use to be returned and closes
// the pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.idx.Close()
		s.closed.Store(true)
		s.closeLocks()
		s.pool.Close()
	})
	return nil
}

// live reports ErrClosed after Close.
func (s *Store) live() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

func validAccount(acct store.AccountRef) error {
	if acct.Domain == "" || acct.ID <= 0 {
		return fmt.Errorf("account %q/%d: %w", acct.Domain, acct.ID, store.ErrInvalid)
	}
	return nil
}

func notFound(what string, args ...any) error {
	return fmt.Errorf(what+": %w", append(args, store.ErrNotFound)...)
}
