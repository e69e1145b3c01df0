package postgres

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"mailgrid/internal/store"
)

type collect struct {
	mu  sync.Mutex
	got []store.UID
}

func (c *collect) Publish(changes ...store.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range changes {
		c.got = append(c.got, ch.UID)
	}
}

// TestSequencerOrder finishes tickets out of order: changes are published in ticket
// order, a failed transaction's ticket (nil) does not hold the others back, and nothing
// is published before every lower ticket is done.
func TestSequencerOrder(t *testing.T) {
	pub := &collect{}
	q := newSequencer(pub)
	t0, t1, t2, t3 := q.take(), q.take(), q.take(), q.take()
	ch := func(uid store.UID) []store.Change { return []store.Change{{Kind: store.MessageAdded, UID: uid}} }
	q.done(t2, ch(3))
	q.done(t1, nil) // failed
	if len(pub.got) != 0 {
		t.Fatalf("published %v before ticket 0 was done", pub.got)
	}
	q.done(t0, ch(1))
	if !slices.Equal(pub.got, []store.UID{1, 3}) {
		t.Fatalf("published %v, want [1 3]", pub.got)
	}
	q.done(t3, ch(4))
	if !slices.Equal(pub.got, []store.UID{1, 3, 4}) {
		t.Fatalf("published %v, want [1 3 4]", pub.got)
	}
}

// TestSequencerConcurrent hands tickets to many goroutines finishing in any order.
func TestSequencerConcurrent(t *testing.T) {
	pub := &collect{}
	q := newSequencer(pub)
	var mu sync.Mutex // makes take+publish-order pairs like a row lock would
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 20 {
				mu.Lock()
				tk := q.take()
				mu.Unlock()
				q.done(tk, []store.Change{{UID: store.UID(tk + 1)}})
			}
		})
	}
	wg.Wait()
	if len(pub.got) != 1000 {
		t.Fatalf("%d published", len(pub.got))
	}
	for i, u := range pub.got {
		if u != store.UID(i+1) {
			t.Fatalf("position %d holds %d", i, u)
		}
	}
}

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40P01"}, true},
		{fmt.Errorf("x: %w", &pgconn.PgError{Code: "40001"}), true},
		{errRetry, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{store.ErrNotFound, false},
		{errors.New("connection reset"), false},
		{nil, false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v", c.err, got)
		}
	}
}
