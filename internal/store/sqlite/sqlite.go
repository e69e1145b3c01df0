package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"mailgrid/internal/store"
)

// DefaultPackSize is the size past which the blob store starts a new pack file.
const DefaultPackSize = 64 << 20

// busyTimeoutMS bounds how long a connection waits for a lock another process holds.
const busyTimeoutMS = 10000

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("sqlite store: closed")

// Options configure Open.
type Options struct {
	// Dir is the shard directory: it holds store.db and the packs/ directory. Created if
	// missing.
	Dir string
	// Publisher receives the store.Change events of every commit. May be nil.
	Publisher store.Publisher
	// Logger receives errors that cannot be returned (e.g. a failed Close of a pack).
	// nil discards.
	Logger *slog.Logger
	// PackSize is the rotation size of pack files; 0 means DefaultPackSize.
	PackSize int64
	// ReadConns bounds the read pool; 0 means 4.
	ReadConns int
	// AnnouncePoll is how often the announcements of other processes that opened the
	// shard (announce.go: the CLI deleting or disabling an account) are looked for and
	// published; 0: never (a process without sessions).
	AnnouncePoll time.Duration
}

// Store is the SQLite store driver. It implements store.Store.
type Store struct {
	dir   string
	pub   store.Publisher
	log   *slog.Logger
	wdb   *sql.DB // one connection: the committer's
	rdb   *sql.DB // query-only pool, search.db attached as sx (searchdb.go)
	swdb  *sql.DB // one connection: search.db's writer (searchdb.go)
	free  *freer  // drains the freed blobs' index rows (searchdb.go)
	packs *packs
	c     *committer
	idx   *store.IndexQueue // background text indexing (search_bg.go)
	ann   *announcer        // announce.go
	ckpt  *checkpointer     // background WAL checkpoints (checkpoint.go); nil: SQLite's own

	wstmts, rstmts *stmtCache

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the shard in opt.Dir, applies schema migrations and
// starts the committer.
func Open(ctx context.Context, opt Options) (*Store, error) {
	if opt.Dir == "" {
		return nil, fmt.Errorf("sqlite store: Options.Dir is empty: %w", store.ErrInvalid)
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.PackSize <= 0 {
		opt.PackSize = DefaultPackSize
	}
	if opt.ReadConns <= 0 {
		opt.ReadConns = 4
	}
	if err := os.MkdirAll(filepath.Join(opt.Dir, packDir), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}
	s := &Store{dir: opt.Dir, log: opt.Logger, free: newFreer()}
	s.pub = freeWatch{next: opt.Publisher, f: s.free}
	if err := s.openDBs(ctx, opt.ReadConns); err != nil {
		return nil, err
	}
	s.wstmts, s.rstmts = newStmtCache(s.wdb), newStmtCache(s.rdb)
	s.packs = newPacks(filepath.Join(opt.Dir, packDir), opt.PackSize, opt.Logger)
	s.c = newCommitter(s)
	s.startCheckpointer(ctx)
	s.idx = store.StartIndexQueue(opt.Logger, s.indexSome, s.behindMailboxes)
	s.startFreer()
	if err := s.startAnnouncer(opt.AnnouncePoll); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *Store) openDBs(ctx context.Context, readConns int) error {
	path := filepath.Join(s.dir, "store.db")
	wdb, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return fmt.Errorf("sqlite store: open: %w", err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wdb); err != nil {
		s.closeLogged("write db", wdb)
		return err
	}
	s.wdb = wdb
	if err := s.openSearch(ctx); err != nil {
		s.closeLogged("write db", wdb)
		return err
	}
	rdb, err := s.openReadPool(readConns)
	if err != nil {
		s.closeLogged("write db", wdb)
		s.closeLogged("search db", s.swdb)
		return err
	}
	s.rdb = rdb
	return nil
}

// dsn builds the modernc.org/sqlite data source name.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_size_limit(67108864)") // truncate the WAL back to 64 MiB after a burst
	q.Set("_txlock", "immediate")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// A 16 MiB page cache per read connection (SQLite's default is 2 MiB): a SELECT of
		// 2,000 messages went from 7.4-8.1 to 6.8-6.9 ms (imapserver BenchmarkSelect). It
		// grows only with the pages read. mmap_size was tried and left out: in WAL mode the
		// mixed IMAP workload ran ~7% slower with 6% more CPU (BenchmarkMixedWorkload).
		// All connections' caches together stay within the process's SQLite soft heap
		// limit (internal/sqliteheap, node.sqlite_heap_limit_bytes), and under writes WAL
		// empties a reader's cache at its next transaction anyway.
		q.Add("_pragma", "cache_size(-16384)")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Close stops accepting changes, waits for the committer to finish what it was given,
// and closes the databases and pack files. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeAnnouncer()
		s.idx.Close()
		s.free.close()
		s.c.close()
		errs := []error{s.ckpt.close(), s.packs.close(), s.rstmts.close(), s.wstmts.close(), s.rdb.Close(), s.swdb.Close(), s.wdb.Close()}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

type closer interface{ Close() error }

// closeLogged closes c and logs a failure: for paths where the error has nowhere to go.
func (s *Store) closeLogged(what string, c closer) {
	if err := c.Close(); err != nil {
		s.log.Error("sqlite store: close", "what", what, "err", err)
	}
}

// publish hands committed changes to the Publisher.
func (s *Store) publish(changes []store.Change) {
	if s.pub != nil && len(changes) > 0 {
		s.pub.Publish(changes...)
	}
}

// rrow runs a single-row query on the read pool with a cached prepared statement.
func (s *Store) rrow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.rstmts.get(ctx, q)
	if err != nil {
		return s.rdb.QueryRowContext(ctx, q, args...) // unprepared: reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

// rquery runs a query on the read pool with a cached prepared statement.
func (s *Store) rquery(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.rstmts.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}
