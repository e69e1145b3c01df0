package queuetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/queue"
)

// testLeaseExclusive: four leasers on two handles of the same storage claim every item
// exactly once.
func testLeaseExclusive(t *testing.T, open Opener) {
	q1 := openQ(t, open)
	q2 := openQ(t, open)
	const n = 40
	want := make([]string, n)
	for i := range n {
		want[i] = enqueue(t, q1, fmt.Sprintf("s%d@example.org", i), "r@remote.test")
	}
	now := time.Now()
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for w := range 4 {
		q := []queue.Queue{q1, q2}[w%2]
		node := fmt.Sprintf("node%d", w)
		wg.Go(func() {
			for range n { // bounded: each round claims at least one item or stops
				items, err := q.Lease(t.Context(), node, now, 3, time.Minute)
				if err != nil {
					t.Errorf("%s: lease: %v", node, err)
					return
				}
				if len(items) == 0 {
					return
				}
				mu.Lock()
				for _, it := range items {
					if it.LeaseOwner != node || it.Attempts != 1 {
						t.Errorf("%s leased %s with owner %q attempts %d", node, it.ID, it.LeaseOwner, it.Attempts)
					}
					got = append(got, it.ID)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("leased %d items (%v), want each of %d exactly once", len(got), got, n)
	}
	if items := lease(t, q2, "late", now, 10); len(items) != 0 {
		t.Errorf("leased again while leases hold: %v", ids(items))
	}
}

// testLeaseExpiry: an expired lease hands the item to another node; the first node can
// then no longer release it.
func testLeaseExpiry(t *testing.T, open Opener) {
	q := openQ(t, open)
	id := enqueue(t, q, "a@example.org", "r@remote.test")
	now := time.Now()
	items := lease(t, q, "A", now, 10)
	if len(items) != 1 || items[0].ID != id {
		t.Fatalf("A leased %v, want [%s]", ids(items), id)
	}
	if !items[0].LeaseUntil.Equal(now.Add(time.Minute)) || !items[0].LastAttempt.Equal(now) {
		t.Errorf("lease until %v last attempt %v, want %v and %v", items[0].LeaseUntil, items[0].LastAttempt, now.Add(time.Minute), now)
	}
	if items := lease(t, q, "B", now.Add(30*time.Second), 10); len(items) != 0 {
		t.Fatalf("B leased %v while A's lease holds", ids(items))
	}
	items = lease(t, q, "B", now.Add(2*time.Minute), 10)
	if len(items) != 1 || items[0].ID != id || items[0].LeaseOwner != "B" || items[0].Attempts != 2 {
		t.Fatalf("B after expiry leased %+v", items)
	}
	if err := q.Release(t.Context(), id, "A", now.Add(time.Hour)); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("A release after losing the lease: %v, want ErrLeaseLost", err)
	}
	if err := q.Release(t.Context(), id, "B", now.Add(time.Hour)); err != nil {
		t.Fatalf("B release: %v", err)
	}
	it := get(t, q, id)
	if it.LeaseOwner != "" || !it.NextAttempt.Equal(now.Add(time.Hour)) {
		t.Errorf("after release: owner %q next %v", it.LeaseOwner, it.NextAttempt)
	}
}

// testRecover: a restarted node drops its own leases at once; others' stay.
func testRecover(t *testing.T, open Opener) {
	q := openQ(t, open)
	a := enqueue(t, q, "a@example.org", "r@remote.test")
	now := time.Now()
	if items := lease(t, q, "A", now, 1); len(items) != 1 || items[0].ID != a {
		t.Fatalf("A leased %v", ids(items))
	}
	b := enqueue(t, q, "b@example.org", "r@remote.test")
	if items := lease(t, q, "B", now, 1); len(items) != 1 || items[0].ID != b {
		t.Fatalf("B leased %v", ids(items))
	}
	if err := q.Recover(t.Context(), "A"); err != nil {
		t.Fatal(err)
	}
	items := lease(t, q, "C", now, 10)
	if len(items) != 1 || items[0].ID != a {
		t.Fatalf("after Recover(A), C leased %v, want only [%s]", ids(items), a)
	}
}

// testRetry: Retry makes a scheduled item due now, and an item retried while leased due
// as soon as it is released.
func testRetry(t *testing.T, open Opener) {
	q := openQ(t, open)
	id := enqueue(t, q, "a@example.org", "r@remote.test")
	now := time.Now()
	lease(t, q, "A", now, 1)
	if err := q.Release(t.Context(), id, "A", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if items := lease(t, q, "A", now, 1); len(items) != 0 {
		t.Fatalf("leased before due: %v", ids(items))
	}
	if err := q.Retry(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if items := lease(t, q, "A", now, 1); len(items) != 1 {
		t.Fatalf("after Retry: leased %v, want the item", ids(items))
	}
	if err := q.Retry(t.Context(), id); err != nil { // while leased
		t.Fatal(err)
	}
	if items := lease(t, q, "B", now, 1); len(items) != 0 {
		t.Fatalf("Retry broke the lease: B leased %v", ids(items))
	}
	if err := q.Release(t.Context(), id, "A", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if items := lease(t, q, "B", now, 1); len(items) != 1 {
		t.Fatalf("retried while leased, then released: leased %v, want the item", ids(items))
	}
}

// testDrop: a dropped item is gone with its body.
func testDrop(t *testing.T, open Opener) {
	q := openQ(t, open)
	id := enqueue(t, q, "a@example.org", "r@remote.test")
	keep := enqueue(t, q, "b@example.org", "r@remote.test")
	if err := q.Drop(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(t.Context(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("get dropped: %v, want ErrNotFound", err)
	}
	if _, err := q.OpenBody(t.Context(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("open body of dropped: %v, want ErrNotFound", err)
	}
	if items := lease(t, q, "A", time.Now(), 10); len(items) != 1 || items[0].ID != keep {
		t.Errorf("leased %v, want only [%s]", ids(items), keep)
	}
	if err := q.Drop(t.Context(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("drop twice: %v, want ErrNotFound", err)
	}
}
