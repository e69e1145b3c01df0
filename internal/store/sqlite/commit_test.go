package sqlite

import (
	"errors"
	"testing"
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
