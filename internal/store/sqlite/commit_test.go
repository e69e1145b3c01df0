package sqlite

import (
	"errors"
	"slices"
	"testing"

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
