package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"mailgrid/internal/store"
)

// The text index's own database (search.go has the model). search.db beside store.db
// holds search_text and search_meta (the file's id); it has one write connection (swdb)
// and is attached, as schema "sx", to every connection of the read pool, so a search
// joins messages with sx.search_text in one statement. Nothing in store.db's write path
// touches it: index writes never take store.db's write lock.
const (
	searchFile = "search.db"
	// searchVersion is search.db's layout (PRAGMA user_version). A file of another
	// version is emptied and rebuilt: the index is derived data.
	searchVersion = 1
	// searchSchema is the text index: one row per blob (rowid = blobs.id) with its folded
	// header and body text, trigram-tokenized so any substring of three or more characters
	// is found through the index. detail=none keeps it small: GLOB needs no positions.
	searchSchema = `CREATE VIRTUAL TABLE search_text USING fts5(header, body, tokenize = 'trigram case_sensitive 1', detail = none)`
	// drainBatch bounds the freed blobs one drain round handles.
	drainBatch = 1000
	// drainPoll is how often the freer looks for freed blobs it was not told about
	// (another process of the shard, e.g. the CLI, deleted mail).
	drainPoll = time.Minute
)

// searchDSN is the data source name of search.db's write connection: WAL, synchronous
// FULL (rows are durable before the markClean that counts on them), BEGIN IMMEDIATE.
func searchDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "journal_size_limit(67108864)")
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// openSearch opens search.db (creating it if missing) and makes sure it is the index of
// this store.db: store.db's meta 'search_db' holds the id of the search.db its
// search_state describes. A new, re-created or foreign file (a different id) starts
// empty under a new id, and then every mailbox is made unclean in store.db, in that order
// (a crash between the two leaves the ids different: the next Open does it again). A file
// SQLite finds corrupt or not a database is deleted and created anew: the index is
// derived, so it never fails the store's Open. Runs before the committer starts.
func (s *Store) openSearch(ctx context.Context) error {
	var known int64
	err := s.wdb.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'search_db'`).Scan(&known)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite store: search db id: %w", err)
	}
	path := filepath.Join(s.dir, searchFile)
	db, id, err := openSearchFile(ctx, path, known)
	if isCorrupt(err) {
		s.log.Warn("sqlite store: text index unreadable: re-created", "file", path, "err", err)
		if err = removeSearchFiles(path); err == nil {
			db, id, err = openSearchFile(ctx, path, known)
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite store: %s: %w", searchFile, err)
	}
	if id != known {
		if err := s.resetSearchState(ctx, id); err != nil {
			s.closeLogged("search db", db)
			return err
		}
	}
	s.swdb = db
	return nil
}

// resetSearchState makes every mailbox unclean with its mark at 0, empties the queue of
// freed blobs (the index is empty) and records id as the index's, in one transaction.
func (s *Store) resetSearchState(ctx context.Context, id int64) (err error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite store: reset text index state: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("sqlite store: reset text index state: %w", err), rollback(tx))
		}
	}()
	if _, err := tx.ExecContext(ctx, `UPDATE search_state SET gen = gen + 1, epoch = epoch + 1, clean = -1, mark = 0`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM search_free`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('search_db', $1)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, id); err != nil {
		return err
	}
	return tx.Commit()
}

// openSearchFile opens search.db's write connection and returns the file's id, after
// emptying it under a new id when its id is not want or its layout is not searchVersion.
func openSearchFile(ctx context.Context, path string, want int64) (*sql.DB, int64, error) {
	db, err := sql.Open("sqlite", searchDSN(path))
	if err != nil {
		return nil, 0, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	id, err := initSearchFile(ctx, db, want)
	if err != nil {
		return nil, 0, errors.Join(err, db.Close())
	}
	return db, id, nil
}

// initSearchFile is openSearchFile's transaction.
func initSearchFile(ctx context.Context, db *sql.DB, want int64) (id int64, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return 0, err
	}
	if version == searchVersion {
		err := tx.QueryRowContext(ctx, `SELECT value FROM search_meta WHERE key = 'id'`).Scan(&id)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
	}
	if version != searchVersion || id != want || id == 0 {
		if id, err = newSearchID(want); err != nil {
			return 0, err
		}
		for _, q := range []string{
			`DROP TABLE IF EXISTS search_text`,
			`DROP TABLE IF EXISTS search_meta`,
			searchSchema,
			`CREATE TABLE search_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`,
			fmt.Sprintf(`PRAGMA user_version = %d`, searchVersion),
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return 0, err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO search_meta (key, value) VALUES ('id', $1)`, id); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return id, nil
}

// newSearchID is a random positive id other than old.
func newSearchID(old int64) (int64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		if id := int64(binary.LittleEndian.Uint64(b[:]) >> 1); id != 0 && id != old {
			return id, nil
		}
	}
}

// isCorrupt reports whether err is SQLite's "not a database" or "corrupt".
func isCorrupt(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	c := e.Code() & 0xff
	return c == sqlite3.SQLITE_NOTADB || c == sqlite3.SQLITE_CORRUPT
}

func removeSearchFiles(path string) error {
	var errs []error
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// attachConnector opens the read pool's connections with search.db attached as "sx".
type attachConnector struct {
	driver.Connector
	search string // search.db's path
}

func (c attachConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := conn.(driver.ExecerContext)
	if !ok {
		return nil, errors.Join(errors.New("sqlite store: driver connection cannot Exec"), conn.Close())
	}
	// The same page cache as store.db's read connections (dsn); query_only covers sx too.
	_, err = ex.ExecContext(ctx, `ATTACH DATABASE $1 AS sx`, []driver.NamedValue{{Ordinal: 1, Value: c.search}})
	if err == nil {
		_, err = ex.ExecContext(ctx, `PRAGMA sx.cache_size = -16384`, nil)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite store: attach %s: %w", searchFile, err), conn.Close())
	}
	return conn, nil
}

// openReadPool opens the read pool: store.db query-only, search.db attached.
func (s *Store) openReadPool(readConns int) (*sql.DB, error) {
	base, err := sqlite.NewConnector(dsn(filepath.Join(s.dir, "store.db"), true))
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open: %w", err)
	}
	rdb := sql.OpenDB(attachConnector{Connector: base, search: filepath.Join(s.dir, searchFile)})
	rdb.SetMaxOpenConns(readConns)
	rdb.SetMaxIdleConns(readConns)
	return rdb, nil
}

// searchTx runs fn in a write transaction of search.db (BEGIN IMMEDIATE: it holds the
// file's write lock from the start) and commits it, durably.
func (s *Store) searchTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.swdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("search index: begin: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("search index: commit: %w", err)
	}
	return nil
}

// jsonIDs is ids as a JSON array, for json_each.
func jsonIDs(ids []int64) string {
	b, err := json.Marshal(ids)
	if err != nil { // cannot happen for []int64
		panic(err)
	}
	return string(b)
}

// drainFreed is one round of the freer: it deletes from search.db the rows of up to
// drainBatch blobs that search_free lists (their last reference went: trigger
// search_free_add), durably, and then, in one committer job, removes those queue
// entries and makes unclean every mailbox holding one of the blobs again (a delivery of
// the same content revived it before its row was deleted: a pass may have found the row
// and marked the mailbox clean). Unclean is gen and epoch raised, the mark lowered to
// the lowest UID holding such a blob: a pass in flight, which read the state before,
// then can neither mark the mailbox clean (its gen is behind) nor raise the mark (the
// epoch moved). It returns how many entries it handled.
//
// The queue is read after search.db's write lock is taken, and indexBlobs reads the
// blobs' refs after taking it too, so a row an index job inserts for a blob freed after
// its check is deleted by a later round: the entry of that free commits after the check
// and is not yet removed.
func (s *Store) drainFreed(ctx context.Context) (int, error) {
	var (
		seqMax int64
		ids    []int64
		n      int
	)
	err := s.searchTx(ctx, func(tx *sql.Tx) error {
		rows, err := s.rquery(ctx, `SELECT seq, blob FROM search_free ORDER BY seq LIMIT $1`, drainBatch)
		if err != nil {
			return fmt.Errorf("search index: freed blobs: %w", err)
		}
		seen := map[int64]bool{}
		for rows.Next() {
			var blob int64
			if err := rows.Scan(&seqMax, &blob); err != nil {
				return errors.Join(fmt.Errorf("search index: freed blobs: %w", err), rows.Close())
			}
			n++
			if !seen[blob] {
				seen[blob] = true
				ids = append(ids, blob)
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("search index: freed blobs: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if err := s.storeDurable(ctx); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM search_text WHERE rowid IN (SELECT value FROM json_each($1))`, jsonIDs(ids))
		if err != nil {
			return fmt.Errorf("search index: delete freed rows: %w", err)
		}
		return nil
	})
	if err != nil || n == 0 {
		return 0, err
	}
	var revived []int64
	_, err = s.c.do(ctx, func(w *wtx) error {
		revived = revived[:0]
		rows, err := w.query(`UPDATE search_state SET gen = gen + 1, epoch = epoch + 1,
			mark = min(mark, (SELECT min(m.uid) FROM messages m
				WHERE m.mailbox = search_state.mailbox AND m.blob IN (SELECT value FROM json_each($1))))
			WHERE mailbox IN (SELECT mailbox FROM messages WHERE blob IN (SELECT value FROM json_each($1)))
			RETURNING mailbox`, jsonIDs(ids))
		if err != nil {
			return fmt.Errorf("search index: revived blobs: %w", err)
		}
		for rows.Next() {
			var mb int64
			if err := rows.Scan(&mb); err != nil {
				return errors.Join(fmt.Errorf("search index: revived blobs: %w", err), rows.Close())
			}
			revived = append(revived, mb)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("search index: revived blobs: %w", err)
		}
		if _, err := w.exec(`DELETE FROM search_free WHERE seq <= $1`, seqMax); err != nil {
			return fmt.Errorf("search index: freed blobs: %w", err)
		}
		return nil
	}, nil)
	if err != nil {
		return 0, err
	}
	for _, mb := range revived {
		s.idx.MarkMailbox(store.MailboxID(mb))
	}
	return n, nil
}

// storeDurable returns once every store.db commit that a read before the call could see
// is durable. Readers see a commit before the syncer has synced the WAL past it
// (commit_sync.go); a committer job is answered only after its own commit is synced, and
// in commit order, so an empty job is the barrier. The index acts only on what a crash
// cannot take back: drainFreed deletes no row of a blob whose free may be lost (its
// mailbox may be clean, counting on the row), indexBlobs writes none for a blob whose
// insert or revival may be lost.
func (s *Store) storeDurable(ctx context.Context) error {
	_, err := s.c.do(ctx, func(*wtx) error { return nil }, nil)
	if err != nil {
		return fmt.Errorf("search index: store.db durable: %w", err)
	}
	return nil
}

// freer is the goroutine that drains search_free: at start-up, after every commit that
// may free blobs (an expunge, a mailbox or account deleted: freeWatch wakes it, and it
// waits store.IndexGather so a burst shares a round), and every drainPoll for what other
// processes of the shard freed.
type freer struct {
	wake   chan struct{} // capacity 1
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func newFreer() *freer {
	f := &freer{wake: make(chan struct{}, 1), done: make(chan struct{})}
	f.wake <- struct{}{} // the start-up round
	return f
}

func (f *freer) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (s *Store) startFreer() {
	ctx, cancel := context.WithCancel(context.Background())
	s.free.cancel = cancel
	go s.runFreer(ctx)
}

func (s *Store) runFreer(ctx context.Context) {
	defer close(s.free.done)
	poll := time.NewTicker(drainPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.free.wake:
			if store.SleepContext(ctx, store.IndexGather) != nil {
				return
			}
		case <-poll.C:
		}
		for {
			n, err := s.drainFreed(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("sqlite store: text index: drop the rows of deleted mail", "err", err)
				}
				break
			}
			if n < drainBatch {
				break
			}
		}
	}
}

// close stops the freer and waits for it; safe on a freer never started.
func (f *freer) close() {
	f.once.Do(func() {
		if f.cancel != nil {
			f.cancel()
			<-f.done
		}
	})
}

// freeWatch is the store's Publisher: it wakes the freer for the changes that can drop a
// blob's last reference, then hands every change on.
type freeWatch struct {
	next store.Publisher // may be nil
	f    *freer
}

func (p freeWatch) Publish(changes ...store.Change) {
	for _, c := range changes {
		if c.Kind == store.MessageExpunged || c.Kind == store.MailboxDeleted || c.Kind == store.AccountDeleted {
			p.f.poke()
			break
		}
	}
	if p.next != nil {
		p.next.Publish(changes...)
	}
}
