package sqlite

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// TestSoleJobFailureUndone: a job alone in its batch runs without a savepoint, so its
// failure must roll back the whole transaction: nothing it wrote stays, and the next job
// commits normally.
func TestSoleJobFailureUndone(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	ctx := t.Context()
	boom := errors.New("boom")
	_, err := s.c.do(ctx, func(w *wtx) error {
		if _, err := w.exec(`INSERT INTO meta (key, value) VALUES ('sole-job', 1)`); err != nil {
			return err
		}
		return boom
	}, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("failing job: %v, want its own error", err)
	}
	count := func() int {
		var n int
		if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM meta WHERE key = 'sole-job'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("a failed job's row was committed (%d)", n)
	}
	if _, err := s.c.do(ctx, func(w *wtx) error {
		_, err := w.exec(`INSERT INTO meta (key, value) VALUES ('sole-job', 2)`)
		return err
	}, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("the next job's row: %d, want 1", n)
	}
}

// TestBatchFailureUndoesOnlyItsJob: a batch runs without savepoints first; when one job
// fails, the batch runs again with a savepoint per job, so the jobs around the failing
// one commit (with their changes) and nothing of the failing one stays.
func TestBatchFailureUndoesOnlyItsJob(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	ctx := t.Context()
	boom := errors.New("boom")
	runs := map[string]int{}
	insert := func(key string, fail bool) *job {
		return &job{ctx: ctx, done: make(chan struct{}), run: func(w *wtx) error {
			runs[key]++
			if _, err := w.exec(`INSERT INTO meta (key, value) VALUES ($1, 1)`, key); err != nil {
				return err
			}
			w.emit(store.Change{Kind: store.MailboxCreated})
			if fail {
				return boom
			}
			return nil
		}}
	}
	batch := []*job{insert("batch-a", false), insert("batch-b", true), insert("batch-c", false)}
	s.c.runBatch(batch)
	for i, j := range batch {
		<-j.done
		if wantErr := i == 1; (j.err != nil) != wantErr || (wantErr && !errors.Is(j.err, boom)) {
			t.Fatalf("job %d: err %v", i, j.err)
		}
		if want := 1 - i%2; len(j.changes) != want { // the first run's changes are dropped
			t.Fatalf("job %d: %d changes, want %d", i, len(j.changes), want)
		}
	}
	if runs["batch-a"] != 2 || runs["batch-b"] != 2 || runs["batch-c"] != 1 {
		t.Fatalf("runs %v: want a and b twice (first run, then with savepoints), c once", runs)
	}
	var keys []string
	rows, err := s.rdb.QueryContext(ctx, `SELECT key FROM meta WHERE key LIKE 'batch-%' ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"batch-a", "batch-c"}) {
		t.Fatalf("committed %v, want batch-a and batch-c", keys)
	}
}

// recordPub records what the store publishes.
type recordPub struct {
	mu      sync.Mutex
	changes []store.Change
}

func (p *recordPub) Publish(changes ...store.Change) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.changes = append(p.changes, changes...)
}

// mailboxes returns the Mailbox of every change published so far, in order.
func (p *recordPub) mailboxes() []store.MailboxID {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []store.MailboxID
	for _, c := range p.changes {
		ids = append(ids, c.Mailbox)
	}
	return ids
}

// metaJob inserts key into meta and emits a change naming mailbox id; ran is closed (once)
// when it runs.
func metaJob(key string, id store.MailboxID, ran chan struct{}) func(w *wtx) error {
	var once sync.Once
	return func(w *wtx) error {
		if ran != nil {
			once.Do(func() { close(ran) })
		}
		if _, err := w.exec(`INSERT INTO meta (key, value) VALUES ($1, 1)`, key); err != nil {
			return err
		}
		w.emit(store.Change{Kind: store.MailboxCreated, Mailbox: id})
		return nil
	}
}

// doAsync runs a job on the committer in a goroutine; the channel receives its error.
func doAsync(t *testing.T, s *Store, run func(w *wtx) error, blob *blobReq) <-chan error {
	res := make(chan error, 1)
	go func() {
		_, err := s.c.do(t.Context(), run, blob)
		res <- err
	}()
	return res
}

// metaRows counts the meta rows of key that readers see.
func metaRows(t *testing.T, s *Store, key string) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRowContext(t.Context(), `SELECT count(*) FROM meta WHERE key = $1`, key).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// gate blocks a sync until the test opens it. Make it after the store: its cleanup,
// run before the store's Close, opens it, so a failing test does not hang in Close.
type gate struct {
	entered, release chan struct{}
	enterOnce, open  sync.Once
}

func newGate(t *testing.T) *gate {
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(g.opened)
	return g
}

// pass is the sync's side: it reports the entry and blocks until the gate opens.
func (g *gate) pass() {
	g.enterOnce.Do(func() { close(g.entered) })
	<-g.release
}

func (g *gate) opened() { g.open.Do(func() { close(g.release) }) }

// waiting fails the test if res is answered within a short while: a job whose sync is
// blocked must not be (an early answer shows up most of the time).
func waiting(t *testing.T, res <-chan error, what string) {
	t.Helper()
	select {
	case err := <-res:
		t.Fatalf("%s answered before its sync returned: %v", what, err)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestPipelinedSync: while batch N waits for its WAL sync, its caller waits and nothing
// of it is published, but the committer already runs batch N+1; once the sync returns,
// the callers are answered and the changes published in commit order.
func TestPipelinedSync(t *testing.T) {
	pub := &recordPub{}
	s := openAt(t, t.TempDir(), pub, 0)
	g := newGate(t)
	var syncs atomic.Int32
	s.c.syncWAL = func() error {
		if syncs.Add(1) == 1 {
			g.pass()
		}
		return s.c.syncWALFile()
	}
	resA := doAsync(t, s, metaJob("pipe-a", 1, nil), nil)
	<-g.entered
	if metaRows(t, s, "pipe-a") != 1 {
		t.Fatal("batch N is not committed while its sync runs")
	}
	ranB := make(chan struct{})
	resB := doAsync(t, s, metaJob("pipe-b", 2, ranB), nil)
	select {
	case <-ranB:
	case <-time.After(10 * time.Second):
		t.Fatal("batch N+1 did not run while batch N's sync was blocked")
	}
	for metaRows(t, s, "pipe-b") != 1 { // committed: it waits for the syncer next
		time.Sleep(time.Millisecond)
	}
	waiting(t, resA, "batch N")
	waiting(t, resB, "batch N+1")
	if got := pub.mailboxes(); len(got) != 0 {
		t.Fatalf("published before the sync: %v", got)
	}
	g.opened()
	if err := <-resA; err != nil {
		t.Fatal(err)
	}
	if err := <-resB; err != nil {
		t.Fatal(err)
	}
	if got := pub.mailboxes(); !slices.Equal(got, []store.MailboxID{1, 2}) {
		t.Fatalf("published %v, want N's change then N+1's", got)
	}
}

// TestSyncFailureRefusesWrites: a failed WAL sync fails the callers of its batch and of
// the batch committed behind it (their rows are not known to be durable), publishes
// nothing of them, and every later write is refused without running.
func TestSyncFailureRefusesWrites(t *testing.T) {
	pub := &recordPub{}
	s := openAt(t, t.TempDir(), pub, 0)
	g := newGate(t)
	boom := errors.New("EIO")
	var syncs atomic.Int32
	s.c.syncWAL = func() error {
		if syncs.Add(1) == 1 {
			g.pass()
		}
		return boom
	}
	resA := doAsync(t, s, metaJob("fail-a", 1, nil), nil)
	<-g.entered
	resB := doAsync(t, s, metaJob("fail-b", 2, nil), nil)
	for metaRows(t, s, "fail-b") != 1 {
		time.Sleep(time.Millisecond)
	}
	g.opened()
	for name, res := range map[string]<-chan error{"N": resA, "N+1": resB} {
		if err := <-res; !errors.Is(err, ErrSyncFailed) || !errors.Is(err, boom) {
			t.Errorf("batch %s: %v, want ErrSyncFailed with the cause", name, err)
		}
	}
	ran := false
	_, err := s.c.do(t.Context(), func(w *wtx) error { ran = true; return nil }, nil)
	if !errors.Is(err, ErrSyncFailed) || ran {
		t.Errorf("write after the failure: %v (ran %v), want ErrSyncFailed without running", err, ran)
	}
	if n := syncs.Load(); n != 1 {
		t.Errorf("%d syncs after the failure, want none: a later sync cannot vouch for the earlier pages", n-1)
	}
	if got := pub.mailboxes(); len(got) != 0 {
		t.Errorf("published %v for batches whose sync failed", got)
	}
}

// bodyReq is a blob request for body.
func bodyReq(body []byte) *blobReq {
	return &blobReq{sum: sha256.Sum256(body), body: bytes.NewReader(body)}
}

// TestPackSyncOverlapsStatements: the jobs' statements run while the pack's fdatasync
// does, COMMIT waits for it, and a failed pack sync fails its batch only: nothing of it
// is committed, and the next batch stores the same body.
func TestPackSyncOverlapsStatements(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	g := newGate(t)
	var fail atomic.Bool
	s.packs.syncFile = func(f *os.File) error {
		g.pass()
		if fail.Load() {
			return errors.New("EIO")
		}
		return fdatasync(f)
	}
	body := []byte("Subject: pack sync\r\n\r\nbody\r\n")
	ran := make(chan struct{})
	res := doAsync(t, s, metaJob("pack-a", 1, ran), bodyReq(body))
	<-g.entered
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the job's statements waited for the pack sync")
	}
	waiting(t, res, "the job")
	if metaRows(t, s, "pack-a") != 0 {
		t.Fatal("committed before the pack sync returned")
	}
	fail.Store(true)
	g.opened()
	if err := <-res; err == nil {
		t.Fatal("a failed pack sync answered OK")
	}
	if metaRows(t, s, "pack-a") != 0 {
		t.Fatal("a batch whose pack sync failed was committed")
	}
	s.packs.syncFile = fdatasync
	blob := bodyReq(body)
	if _, err := s.c.do(t.Context(), metaJob("pack-b", 2, nil), blob); err != nil {
		t.Fatalf("the batch after a failed pack sync: %v", err)
	}
	var n int
	if err := s.rdb.QueryRowContext(t.Context(), `SELECT count(*) FROM blobs WHERE id = $1 AND sha256 = $2`,
		blob.id, blob.sum[:]).Scan(&n); err != nil || n != 1 || metaRows(t, s, "pack-b") != 1 {
		t.Fatalf("the body stored after a failed pack sync: %d rows (%v)", n, err)
	}
}

// TestCloseWaitsForSync: Close returns only after the queued batches are committed and
// synced, and their callers are answered OK.
func TestCloseWaitsForSync(t *testing.T) {
	s := openAt(t, t.TempDir(), nil, 0)
	g := newGate(t)
	var synced atomic.Bool
	s.c.syncWAL = func() error {
		g.pass()
		err := s.c.syncWALFile()
		synced.Store(err == nil)
		return err
	}
	res := doAsync(t, s, metaJob("close-a", 1, nil), nil)
	<-g.entered
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a batch waited for its sync", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.opened()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if !synced.Load() {
		t.Fatal("Close returned before the sync")
	}
	if err := <-res; err != nil {
		t.Fatalf("the job queued before Close: %v", err)
	}
}
