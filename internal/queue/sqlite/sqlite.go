// Package sqlite is the embedded driver of the outbound queue (queue.Queue) on SQLite,
// through modernc.org/sqlite (pure Go, so CGO_ENABLED=0 builds work).
//
// Layout: one database file and one directory of message bodies.
//
//	items   one row per queued message: envelope, size, first-enqueued time, next attempt,
//	        attempts, delay-warning flag, lease owner and expiry
//	rcpts   one row per recipient: NOTIFY/ORCPT, state, attempts, last reply, DSN pending
//	bodyDir/<id>   the message body, one file per item
//
// Bodies are files, not BLOB columns: a body is written once, read several times (once
// per destination domain and for a DSN) through io.ReaderAt straight from the file
// without ever being held in memory, and removed with one unlink; the database stays
// small, so its WAL checkpoints and fsyncs stay cheap. Order of durability in Enqueue:
// the body is written to a temporary file, fsynced, renamed to its final name and the
// directory fsynced, and only then is the row committed. A crash in between leaves an
// orphan file and no row; Open removes orphans older than an hour (younger ones may
// belong to an Enqueue still running in another process).
//
// Connections: the database is in WAL mode with synchronous=FULL (a commit is on disk when
// it returns), one writer connection whose transactions begin IMMEDIATE (so they never
// fail half-way on a lock upgrade) and a small read pool. busy_timeout lets another
// process (the CLI's `queue retry` while the server runs) wait for the write lock rather
// than fail; its committed changes are seen by the scheduler's next poll.
//
// Leasing is one atomic UPDATE … RETURNING over the due items: SQLite has one writer at
// a time, so two leasers (threads or processes) can never claim the same item.
//
// The schema is versioned with PRAGMA user_version; Open applies missing migrations.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"mailgrid/internal/queue"
)

// orphanAge is how old a body file without a row must be before Open removes it.
const orphanAge = time.Hour

// Queue is the SQLite queue driver. It implements queue.Queue.
type Queue struct {
	w       *sql.DB // one connection: all writes
	r       *sql.DB // read pool
	bodyDir string
}

var _ queue.Queue = (*Queue)(nil)

// Open opens (creating if needed) the queue database at path with bodies in bodyDir.
func Open(ctx context.Context, path, bodyDir string) (*Queue, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("queue: database path %q must not contain ? or #", path)
	}
	if err := os.MkdirAll(bodyDir, 0o750); err != nil {
		return nil, fmt.Errorf("queue: body directory: %w", err)
	}
	base := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	w, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	q := &Queue{w: w, bodyDir: bodyDir}
	if err := migrate(ctx, w); err != nil {
		return nil, errors.Join(fmt.Errorf("queue: %s: %w", path, err), w.Close())
	}
	q.r, err = sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("queue: open %s: %w", path, err), w.Close())
	}
	q.r.SetMaxOpenConns(4)
	if err := q.sweepOrphans(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("queue: sweep orphan bodies: %w", err), q.Close())
	}
	return q, nil
}

// Close closes the database.
func (q *Queue) Close() error {
	return errors.Join(q.r.Close(), q.w.Close())
}

// migrations are applied in order; user_version counts those applied.
var migrations = []string{
	`CREATE TABLE items (
		id            TEXT PRIMARY KEY,
		env_from      TEXT NOT NULL,
		env_id        TEXT NOT NULL,
		ret           TEXT NOT NULL,
		smtputf8      INTEGER NOT NULL,
		sender_domain TEXT NOT NULL,
		sender_id     INTEGER NOT NULL,
		size          INTEGER NOT NULL,
		queued        INTEGER NOT NULL,           -- unix ns
		next_attempt  INTEGER NOT NULL DEFAULT 0, -- unix ns; 0 = due now
		attempts      INTEGER NOT NULL DEFAULT 0,
		last_attempt  INTEGER NOT NULL DEFAULT 0,
		delay_warned  INTEGER NOT NULL DEFAULT 0,
		retry_asked   INTEGER NOT NULL DEFAULT 0, -- Retry while leased
		lease_owner   TEXT NOT NULL DEFAULT '',
		lease_until   INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX items_due ON items(next_attempt);
	CREATE INDEX items_lease ON items(lease_owner) WHERE lease_owner != '';
	CREATE TABLE rcpts (
		item_id      TEXT NOT NULL REFERENCES items(id) ON DELETE CASCADE,
		idx          INTEGER NOT NULL,
		addr         TEXT NOT NULL,
		domain       TEXT NOT NULL,
		notify       TEXT NOT NULL, -- comma-separated NOTIFY keywords
		orcpt        TEXT NOT NULL,
		state        TEXT NOT NULL,
		attempts     INTEGER NOT NULL DEFAULT 0,
		last_attempt INTEGER NOT NULL DEFAULT 0,
		code         INTEGER NOT NULL DEFAULT 0,
		enhanced     TEXT NOT NULL DEFAULT '',
		reply_text   TEXT NOT NULL DEFAULT '',
		remote_mta   TEXT NOT NULL DEFAULT '',
		dsn_pending  INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (item_id, idx)
	);
	CREATE INDEX rcpts_domain ON rcpts(domain);`,
}

// migrate brings the schema to the latest version in one transaction.
func migrate(ctx context.Context, db *sql.DB) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	var v int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}

// sweepOrphans removes body files (and temporary files) older than orphanAge that have
// no item row: leftovers of a crash between writing the body and committing the row, or
// between deleting the row and unlinking the body.
func (q *Queue) sweepOrphans(ctx context.Context) error {
	ents, err := os.ReadDir(q.bodyDir)
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-orphanAge)
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.ModTime().After(cutoff) {
			continue
		}
		id := strings.TrimSuffix(e.Name(), tmpSuffix)
		var one int
		err = q.r.QueryRowContext(ctx, `SELECT 1 FROM items WHERE id = $1`, id).Scan(&one)
		if err == nil && id == e.Name() {
			continue // a live body
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := os.Remove(filepath.Join(q.bodyDir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
