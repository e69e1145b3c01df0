package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// TestCheckpointsInBackground: the writer never checkpoints (wal_autocheckpoint=0), the
// background checkpointer copies the WAL into store.db while writes go on, and the WAL
// file stays bounded: SQLite starts it over once a checkpoint has copied every frame.
// Without the committer's restart the WAL would hold every page of every commit (about
// 150 MiB for these deliveries); the test fails then.
func TestCheckpointsInBackground(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir, nil, 0)
	if s.ckpt == nil {
		t.Fatal("no background checkpointer")
	}
	var auto int
	if err := s.wdb.QueryRowContext(t.Context(), `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil {
		t.Fatal(err)
	}
	if auto != 0 {
		t.Fatalf("writer wal_autocheckpoint = %d, want 0 (checkpoints off the write path)", auto)
	}
	const callers, each = 10, 400
	var accts []store.AccountRef
	for i := range callers {
		a := acctA
		a.ID = int64(100 + i)
		ensure(t, s, a)
		accts = append(accts, a)
	}
	var wg sync.WaitGroup
	maxWAL := int64(0)
	var mu sync.Mutex
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range each {
				deliver(t, s, fmt.Appendf(nil, "Subject: %d-%d\r\n\r\nbody %d %d\r\n", i, n, i, n), accts[i])
				if fi, err := os.Stat(filepath.Join(dir, "store.db-wal")); err == nil {
					mu.Lock()
					maxWAL = max(maxWAL, fi.Size())
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for range 100 { // the checkpointer runs every checkpointEvery while commits come in
		if s.ckpt.runs.Load() > 0 && s.ckpt.copied.Load() > 0 {
			break
		}
		time.Sleep(checkpointEvery)
	}
	if s.ckpt.runs.Load() == 0 || s.ckpt.copied.Load() == 0 {
		t.Fatalf("checkpointer ran %d times, copied %d frames", s.ckpt.runs.Load(), s.ckpt.copied.Load())
	}
	t.Logf("%d deliveries: %d checkpoints, %d by the committer, %d frames copied, WAL at most %d KiB",
		callers*each, s.ckpt.runs.Load(), s.ckpt.restarts.Load(), s.ckpt.copied.Load(), maxWAL>>10)
	if maxWAL > 40<<20 {
		t.Errorf("WAL grew to %d KiB: not checkpointed while writes went on", maxWAL>>10)
	}
}
