package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"mailgrid/internal/store"
)

// maxBatch bounds the jobs of one transaction, so one commit never grows without bound
// while callers keep arriving.
const maxBatch = 512

// job is one change waiting for the committer.
type job struct {
	ctx  context.Context
	blob *blobReq           // a body to store, or nil
	run  func(w *wtx) error // the change; runs inside its own savepoint

	err     error
	changes []store.Change // emitted by run; published after the commit
	done    chan struct{}
}

// blobReq asks the committer to make a body available; it sets id.
type blobReq struct {
	sum  [sha256.Size]byte
	body store.Body
	id   int64
}

// committer runs jobs in group commits on the single write connection. The committer
// goroutine (loop) runs batch after batch; each committed batch goes to the syncer
// goroutine (syncLoop, commit_sync.go), which makes the WAL durable and only then
// publishes the batch's changes and answers its callers, while the committer runs the
// next batch.
type committer struct {
	s      *Store
	mu     sync.RWMutex // held shared by senders, exclusively by close
	closed bool
	jobs   chan *job
	exited chan struct{} // closed when both goroutines are done

	// syncWAL makes every COMMIT returned so far durable: fdatasync of store.db-wal by
	// default (commit_sync.go). A field so tests can block it or make it fail; set it
	// before the first job.
	syncWAL func() error
	synced  chan *pending         // committed batches waiting for their sync, in commit order
	wal     *os.File              // the syncer's own descriptor of store.db-wal; syncer only
	failure atomic.Pointer[error] // set by a failed sync: writes refused until restart
}

// syncQueue is the number of committed batches that may wait for the syncer besides the
// one it syncs and the one the committer is handing over. 0: the committer runs batch
// N+1 while N is synced, then waits until the sync is done, so callers' latency and the
// memory of waiting batches stay bounded when the disk is slow, and the jobs arriving
// meanwhile make one larger batch. With 1, the committer ran ahead in smaller batches
// that one sync then covered together: the same number of syncs for 25% more COMMITs
// (STORE+APPEND mix, docs/benchmarks.md "Pipelined commits").
const syncQueue = 0

func newCommitter(s *Store) *committer {
	c := &committer{s: s, jobs: make(chan *job, maxBatch), exited: make(chan struct{}),
		synced: make(chan *pending, syncQueue)}
	c.syncWAL = c.syncWALFile
	// The writer commits without fsync (synchronous=NORMAL): the syncer syncs the WAL
	// after COMMIT instead, off the committer's path (commit_sync.go argues why an
	// acknowledged job is as durable as with FULL). synchronous is a setting of the
	// connection; the pool holds exactly one that lives as long as the Store. Were it ever
	// replaced, the new one would run with the DSN's FULL again: slower, not less safe.
	if _, err := s.wdb.ExecContext(context.Background(), `PRAGMA synchronous = NORMAL`); err != nil {
		s.log.Warn("sqlite store: writer synchronous=NORMAL (commits stay synchronous=FULL)", "err", err)
	}
	syncerDone := make(chan struct{})
	go c.syncLoop(syncerDone)
	go func() {
		c.loop()
		close(c.synced)
		<-syncerDone
		if c.wal != nil {
			if err := c.wal.Close(); err != nil {
				s.log.Warn("sqlite store: close WAL descriptor", "err", err)
			}
		}
		close(c.exited)
	}()
	return c
}

// do queues j and waits until it is committed and durable. Once queued, a job is waited
// for even if ctx ends: it may already be committed, and the caller must not believe
// otherwise.
func (c *committer) do(ctx context.Context, run func(w *wtx) error, blob *blobReq) ([]store.Change, error) {
	if err := c.failed(); err != nil {
		return nil, err
	}
	j := &job{ctx: ctx, run: run, blob: blob, done: make(chan struct{})}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case c.jobs <- j:
	case <-ctx.Done():
		c.mu.RUnlock()
		return nil, ctx.Err()
	}
	c.mu.RUnlock()
	<-j.done
	return j.changes, j.err
}

// close refuses new jobs and waits until the queued ones are committed and synced.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.jobs)
	}
	c.mu.Unlock()
	<-c.exited
}

func (c *committer) loop() {
	buf := make([]*job, 0, maxBatch)
	for j := range c.jobs {
		buf = append(buf[:0], j)
	drain:
		for len(buf) < maxBatch {
			select {
			case j, ok := <-c.jobs:
				if !ok {
					break drain
				}
				buf = append(buf, j)
			default:
				break drain
			}
		}
		c.runBatch(slices.Clone(buf)) // the batch lives on in the syncer
		clear(buf)
		// The write connection is free now: prepare what this batch ran unprepared.
		if err := c.s.wstmts.prepareMissed(context.Background()); err != nil {
			c.s.log.Warn("sqlite store: prepare statements", "err", err)
		}
		c.s.ckpt.restartIfLong(c.s)
	}
}

// runBatch commits a batch and hands it to the syncer, which publishes its changes and
// answers its callers once the commit is durable. It blocks until the syncer takes the
// batch (syncQueue).
func (c *committer) runBatch(batch []*job) {
	live := batch[:0:0]
	failure := c.failed()
	for _, j := range batch {
		if failure != nil {
			j.err = failure
			continue
		}
		if err := j.ctx.Err(); err != nil {
			j.err = err
			continue
		}
		live = append(live, j)
	}
	if len(live) > 0 {
		if err := c.commit(live); err != nil {
			c.s.log.Error("sqlite store: commit failed", "jobs", len(live), "err", err)
			for _, j := range live {
				if j.err == nil {
					j.err = err
				}
			}
		}
	}
	p := &pending{batch: batch}
	for _, j := range live {
		if j.err != nil {
			j.changes = nil
			continue
		}
		p.committed = true
	}
	c.synced <- p
}

// commit runs the jobs in one transaction. A job's own failure is in j.err; the returned
// error means the whole transaction failed and nothing was committed.
//
// The jobs run first without savepoints: under a SAVEPOINT, SQLite copies every page a
// job changes to a sub-journal (a temporary file past 64 KiB), and SAVEPOINT and RELEASE
// are two statements more per job; with the write syscalls that was about a third of a
// small commit's writing. Jobs fail rarely (a target's own outcome, such as over quota,
// is a result, not a failure), so when one does, the transaction is rolled back and the
// batch runs again with a savepoint per job, so the failure undoes only its own job. A
// job alone in its batch needs no second run: the transaction was its savepoint. Jobs
// are written to be run again: they set what they return from scratch.
func (c *committer) commit(batch []*job) error {
	failed, err := c.commitOnce(batch, false)
	if err != nil || failed == nil || !othersRan(batch, failed) {
		return err
	}
	for _, j := range batch {
		j.err, j.changes = nil, nil // the second run stores the bodies again
	}
	_, err = c.commitOnce(batch, true)
	return err
}

// commitOnce runs the jobs in one transaction, each in its own savepoint when savepoints
// is set. Without, the first failing job ends the run and is returned: the transaction
// is rolled back, the job keeps its error.
func (c *committer) commitOnce(batch []*job, savepoints bool) (failed *job, err error) {
	ctx := context.Background()
	tx, err := c.s.wdb.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(tx))
		}
	}()
	w := &wtx{tx: tx, ctx: ctx, cache: c.s.wstmts, stmts: map[string]*sql.Stmt{}}
	// The pack's fdatasync runs while the jobs' statements do; COMMIT waits for it. Every
	// way out waits for it too: the next run may append to or rotate the same file.
	packSynced, err := c.storeBlobs(w, batch)
	defer func() {
		if packSynced == nil {
			return
		}
		if serr := packSynced(); serr != nil {
			// Nothing is committed (the run failed before COMMIT): no row points at the
			// bytes, and a run again appends and syncs them anew.
			c.s.log.Warn("sqlite store: pack sync of a failed run", "err", serr)
		}
	}()
	if err != nil {
		return nil, err
	}
	for _, j := range batch {
		if savepoints {
			if err := c.runJob(w, j); err != nil {
				return nil, err
			}
			continue
		}
		if j.err != nil { // its body could not be stored
			continue
		}
		w.j = j
		j.err = j.run(w)
		w.j = nil
		if j.err != nil {
			j.changes = nil
			return j, rollback(tx) // nothing of the batch is committed (its blob rows go too)
		}
	}
	if packSynced != nil {
		// The bytes are durable before any committed row can point at them.
		err := packSynced()
		packSynced = nil
		if err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	c.s.ckpt.committed()
	return nil, nil
}

// othersRan reports whether a job other than failed ran or was to run (its body stored).
func othersRan(batch []*job, failed *job) bool {
	for _, j := range batch {
		if j != failed && j.err == nil {
			return true
		}
	}
	return false
}

// runJob runs one job inside a savepoint, so its failure undoes only its own work.
func (c *committer) runJob(w *wtx, j *job) error {
	if j.err != nil {
		return nil
	}
	if _, err := w.exec(`SAVEPOINT job`); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	w.j = j
	j.err = j.run(w)
	w.j = nil
	if j.err != nil {
		j.changes = nil
		if _, err := w.exec(`ROLLBACK TO job`); err != nil {
			return fmt.Errorf("rollback to savepoint: %w", err)
		}
	}
	if _, err := w.exec(`RELEASE job`); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// storeBlobs gives every blob request of the batch a blobs row: an existing one for known
// content, else a new one for its bytes appended to the pack. When it appended, it
// returns the wait for the pack's sync, started in the background: the caller must wait
// for it (and see it succeed) before COMMIT, and before returning in any case.
func (c *committer) storeBlobs(w *wtx, batch []*job) (synced func() error, err error) {
	var (
		app     *appender
		startAt int64
		known   = map[[sha256.Size]byte]int64{}
		fresh   = map[[sha256.Size]byte][]*blobReq{}
		locs    = map[[sha256.Size]byte]blobLoc{}
		order   [][sha256.Size]byte
	)
	for _, j := range batch {
		b := j.blob
		if b == nil {
			continue
		}
		if id, ok := known[b.sum]; ok {
			b.id = id
			continue
		}
		if reqs, ok := fresh[b.sum]; ok {
			fresh[b.sum] = append(reqs, b)
			continue
		}
		err := w.row(`SELECT id FROM blobs WHERE sha256 = $1`, b.sum[:]).Scan(&b.id)
		if err == nil {
			known[b.sum] = b.id
			continue
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("blob lookup: %w", err)
		}
		if app == nil {
			if err := w.row(`SELECT value FROM meta WHERE key = 'pack'`).Scan(&startAt); err != nil {
				return nil, fmt.Errorf("current pack: %w", err)
			}
			if app, err = c.s.packs.appender(startAt); err != nil {
				return nil, err
			}
		}
		loc, err := app.append(b.body)
		if err != nil {
			j.err = err // this body could not be read or written; the others go on
			continue
		}
		fresh[b.sum], locs[b.sum] = []*blobReq{b}, loc
		order = append(order, b.sum)
	}
	if app == nil {
		return nil, nil
	}
	wait := app.startSync()
	defer func() {
		if err != nil { // the caller waits only for the sync it is given
			err = errors.Join(err, wait())
		}
	}()
	if app.num != startAt {
		if _, err := w.exec(`UPDATE meta SET value = $1 WHERE key = 'pack'`, app.num); err != nil {
			return nil, fmt.Errorf("set current pack: %w", err)
		}
	}
	for _, sum := range order {
		loc := locs[sum]
		var id int64
		err := w.row(
			`INSERT INTO blobs (sha256, pack, off, len, refs) VALUES ($1, $2, $3, $4, 0) RETURNING id`,
			sum[:], loc.pack, loc.off, loc.len).Scan(&id)
		if err != nil {
			return nil, fmt.Errorf("insert blob: %w", err)
		}
		for _, b := range fresh[sum] {
			b.id = id
		}
	}
	return wait, nil
}
