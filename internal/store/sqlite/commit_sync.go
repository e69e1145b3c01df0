package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"mailgrid/internal/store"
)

// ErrSyncFailed is returned for the jobs of a batch whose sync to disk failed, and for
// every write after it until the store is opened again (see "Pipelined commits" in the
// package documentation).
var ErrSyncFailed = errors.New("sqlite store: sync to disk failed, writes refused until restart")

// pending is a committed batch waiting for the syncer.
type pending struct {
	batch     []*job // every job of the batch, answered in order
	committed bool   // a job of it was committed: the WAL must be synced before answering
}

// syncLoop makes committed batches durable, then publishes their changes and answers
// their callers, in commit order, until the committer closes synced.
//
// Why an answered job is as durable as with synchronous=FULL: a COMMIT under NORMAL has
// written its frames to store.db-wal (the OS holds them) before it returns; the syncer
// receives the batch after that and fdatasyncs the file, so every frame up to the batch's
// commit frame is on disk before its callers hear of it. After a power loss, recovery
// replays the WAL's frames in order while their salts and cumulative checksums match
// (https://www.sqlite.org/fileformat2.html#walformat), so it keeps a prefix of the
// commits: all the synced ones, plus perhaps some after them. One sync therefore covers
// every batch committed before it; the syncer takes all waiting batches at once. A
// checkpoint (run by the committer inside a COMMIT) syncs the WAL before it copies pages
// into store.db, so the database file never holds a commit the WAL could lose either.
func (c *committer) syncLoop(done chan<- struct{}) {
	defer close(done)
	group := make([]*pending, 0, syncQueue+1)
	for p := range c.synced {
		group = append(group[:0], p)
	more:
		for {
			select {
			case q, ok := <-c.synced:
				if !ok {
					break more
				}
				group = append(group, q)
			default:
				break more
			}
		}
		err := c.failed()
		if err == nil && anyCommitted(group) {
			if serr := c.syncWAL(); serr != nil {
				err = c.fail(fmt.Errorf("WAL: %w", serr))
			}
		}
		for _, q := range group {
			c.finish(q, err)
		}
		clear(group)
	}
}

func anyCommitted(group []*pending) bool {
	for _, p := range group {
		if p.committed {
			return true
		}
	}
	return false
}

// finish publishes the changes of p's successful jobs and answers its callers. A sync
// error fails every job that had none of its own: its rows may be committed and even seen
// by readers, but they are not known to be durable, so the caller must not take them for
// done (protocol sessions answer a temporary failure) and nothing of them is published.
func (c *committer) finish(p *pending, syncErr error) {
	var changes []store.Change
	for _, j := range p.batch {
		if j.err != nil {
			continue
		}
		if syncErr != nil {
			j.err, j.changes = syncErr, nil
			continue
		}
		changes = append(changes, j.changes...)
	}
	c.s.publish(changes)
	for _, j := range p.batch {
		close(j.done)
	}
}

// failed returns the sync failure that stopped the store's writes, or nil.
func (c *committer) failed() error {
	if e := c.failure.Load(); e != nil {
		return *e
	}
	return nil
}

// fail records a failed sync: from now on every write fails. After a failed fsync the
// state of the page cache is unknown (Linux marks the pages clean and may drop them:
// a later fsync then succeeds without writing them), so a WAL with a hole in it could
// lose every commit after the hole at the next recovery, however many syncs succeed
// later. Opening the store again runs SQLite's recovery over what is on disk.
func (c *committer) fail(cause error) error {
	err := fmt.Errorf("%w: %w", ErrSyncFailed, cause)
	if c.failure.CompareAndSwap(nil, &err) {
		c.s.log.Error("sqlite store: sync failed; refusing writes until restart", "err", cause)
	}
	return c.failed()
}

// syncWALFile fdatasyncs store.db-wal through the syncer's own descriptor: fsync flushes
// the inode's dirty pages whichever descriptor they were written through. SQLite holds
// no POSIX locks on the WAL file (its locks are on store.db and store.db-shm), so this
// descriptor cannot drop one when it is closed. SQLite deletes the WAL only when the
// last connection to the database closes, which the writer's does not while this store
// is open; should the file have been replaced all the same, the descriptor is opened
// again.
func (c *committer) syncWALFile() error {
	if c.wal != nil {
		var st unix.Stat_t
		if err := unix.Fstat(int(c.wal.Fd()), &st); err != nil {
			return fmt.Errorf("fstat: %w", err)
		}
		if st.Nlink == 0 { // unlinked: commits go to a new file
			err := c.wal.Close()
			c.wal = nil
			if err != nil {
				return fmt.Errorf("close: %w", err)
			}
		}
	}
	if c.wal == nil {
		f, err := os.OpenFile(filepath.Join(c.s.dir, "store.db-wal"), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		c.wal = f
	}
	if err := unix.Fdatasync(int(c.wal.Fd())); err != nil {
		return fmt.Errorf("fdatasync: %w", err)
	}
	return nil
}
