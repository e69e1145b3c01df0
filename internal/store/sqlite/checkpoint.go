package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Background WAL checkpoints. SQLite's automatic checkpoint runs inside the COMMIT that
// takes the WAL past 1,000 pages, on the committer: that commit copies the pages into
// store.db and fsyncs it before its batch is done, and every write queued behind it waits.
// Under the IMAP mix and deliveries the WAL grows by megabytes a second, so that was a
// checkpoint every few hundred milliseconds on the one write path. Here the writer runs
// with wal_autocheckpoint=0 and a goroutine of its own checkpoints through a connection
// of its own, PASSIVE (it takes no lock a writer or reader waits on, and copies only the
// frames no reader still needs; https://www.sqlite.org/c3ref/wal_checkpoint_v2.html),
// whenever commits came in since its last run. With synchronous=FULL on its connection
// the checkpoint syncs the WAL before it copies and store.db after, as the automatic one
// does. Once a checkpoint has copied every frame, the next write transaction starts the
// WAL over from its beginning (journal_size_limit then truncates a grown file).
//
// Under a steady stream of commits a background checkpoint is never quite done when the
// next write begins (frames were committed while it copied), so the WAL would never start
// over and grow without bound. When the checkpointer finds the WAL longer than
// restartFrames, the committer checkpoints once itself between two batches: nothing
// commits meanwhile, the background runs have copied all but the last frames, so it is
// short, and the next write starts the WAL over.
//
// Measured with make bench's IMAP mix, three old/new pairs (docs/benchmarks.md "Checkpoints
// off the write path"): 3,299/4,290/3,700 -> 4,016/4,031/4,826 ops/s logged in once, the
// mix's p99 17.9-22.4 -> 15.1-17.2 ms; the spreads overlap, the p99 fell in every pair.

const (
	// checkpointEvery is how often the checkpointer runs while commits come in.
	checkpointEvery = 100 * time.Millisecond
	// restartFrames is the WAL length (in pages) past which the committer checkpoints
	// once itself so the WAL starts over (16 MiB of 4 KiB pages; SQLite's automatic
	// checkpoint runs at 1,000).
	restartFrames = 4096
)

// checkpointer runs passive checkpoints of store.db's WAL in the background.
type checkpointer struct {
	db      *sql.DB
	commits atomic.Int64 // bumped by the committer after each COMMIT
	stop    chan struct{}
	done    sync.WaitGroup

	long atomic.Bool // the last checkpoint found the WAL longer than restartFrames

	runs, copied, restarts atomic.Int64 // checkpoints run, frames copied, committer's runs: for tests
}

// startCheckpointer turns the writer's automatic checkpoints off and starts the
// background ones. On failure the automatic checkpoints stay: slower, not unsafe.
func (s *Store) startCheckpointer(ctx context.Context) {
	db, err := sql.Open("sqlite", dsn(filepath.Join(s.dir, "store.db"), false))
	if err == nil {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		if err = db.PingContext(ctx); err == nil {
			_, err = s.wdb.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`)
		}
		if err != nil {
			err = errors.Join(err, db.Close())
		}
	}
	if err != nil {
		s.log.Warn("sqlite store: background checkpoints (the writer checkpoints itself)", "err", err)
		return
	}
	cp := &checkpointer{db: db, stop: make(chan struct{})}
	s.ckpt = cp
	cp.done.Add(1)
	go cp.loop(s)
}

func (cp *checkpointer) loop(s *Store) {
	defer cp.done.Done()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var seen int64
	for {
		select {
		case <-cp.stop:
			return
		case <-t.C:
		}
		n := cp.commits.Load()
		if n == seen {
			continue
		}
		seen = n
		if err := cp.run(); err != nil {
			s.log.Warn("sqlite store: checkpoint", "err", err)
		}
	}
}

// passiveCheckpoint checkpoints store.db's WAL through db, PASSIVE, and returns the WAL's
// length and the frames copied, in pages.
func passiveCheckpoint(db *sql.DB) (frames, copied int64, err error) {
	var busy int64
	err = db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	return frames, max(copied, 0), err
}

// run checkpoints once.
func (cp *checkpointer) run() error {
	frames, copied, err := passiveCheckpoint(cp.db)
	if err != nil {
		return err
	}
	cp.runs.Add(1)
	cp.copied.Add(copied)
	if frames > restartFrames {
		cp.long.Store(true)
	}
	return nil
}

// restartIfLong runs on the committer between batches: when the WAL has grown long, it
// checkpoints through the write connection, so no commit lands during the checkpoint and
// the next write transaction starts the WAL over. Nil-safe.
func (cp *checkpointer) restartIfLong(s *Store) {
	if cp == nil || !cp.long.Load() {
		return
	}
	cp.long.Store(false)
	_, copied, err := passiveCheckpoint(s.wdb)
	if err != nil {
		s.log.Warn("sqlite store: checkpoint", "err", err)
		return
	}
	cp.restarts.Add(1)
	cp.copied.Add(copied)
}

// committed tells the checkpointer a COMMIT happened. Nil-safe.
func (cp *checkpointer) committed() {
	if cp != nil {
		cp.commits.Add(1)
	}
}

// close stops the checkpointer and closes its connection (the last connection to close
// checkpoints what is left). Nil-safe.
func (cp *checkpointer) close() error {
	if cp == nil {
		return nil
	}
	close(cp.stop)
	cp.done.Wait()
	return cp.db.Close()
}
