// Package scheduletest is the conformance suite every schedule.Store driver runs: the
// same behaviour from the embedded (sqlite) and the cluster (postgres) driver, including
// the Runner on top of it (several runners over one database send each item once; a
// runner that dies holding a lease leaves the item to another).
package scheduletest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/schedule"
)

// Open returns a store; called several times within one test it must return stores
// over the same data (as two nodes, or a reopen). The suite closes what it opens.
type Open func(t *testing.T) schedule.Store

var (
	ann   = schedule.Owner{Domain: "example.org", Account: 1}
	bob   = schedule.Owner{Domain: "example.org", Account: 2}
	other = schedule.Owner{Domain: "example.net", Account: 1} // same account id, other tenant
	t0    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// Run runs the suite.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"AddListGet", testAddListGet},
		{"Invalid", testInvalid},
		{"Lease", testLease},
		{"RetryFail", testRetryFail},
		{"Cancel", testCancel},
		{"DeleteOwner", testDeleteOwner},
		{"ConcurrentLease", testConcurrentLease},
		{"Reopen", testReopen},
		{"RunnerOnce", testRunnerOnce},
		{"RunnerOutcomes", testRunnerOutcomes},
		{"RunnerNodeDied", testRunnerNodeDied},
		{"RunnerMidSend", testRunnerMidSend},
		{"RunnerLateInBatch", testRunnerLateInBatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

func opened(t *testing.T, open Open) schedule.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func item(o schedule.Owner, due time.Time, subject string) schedule.Item {
	return schedule.Item{Owner: o, Due: due, From: "ann@example.org", Rcpts: []string{"x@example.com", "y@example.net"},
		Subject: subject, To: "X <x@example.com>", Bcc: "y@example.net", Answer: "3/7", Client: "[127.0.0.1]", Proto: "HTTPS",
		Message: []byte("Subject: " + subject + "\r\n\r\nhello\r\n"), Created: t0.Add(-time.Hour)}
}

func add(t *testing.T, s schedule.Store, it schedule.Item) int64 {
	t.Helper()
	id, err := s.Add(t.Context(), it)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func subjects(items []schedule.Item) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.Subject)
	}
	return out
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

func testAddListGet(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	late := add(t, s, item(ann, t0.Add(2*time.Hour), "late"))
	add(t, s, item(ann, t0.Add(time.Hour), "early"))
	add(t, s, item(bob, t0, "bob's"))
	add(t, s, item(other, t0, "other tenant"))
	list, err := s.List(ctx, ann)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "ann's list, soonest first", subjects(list), []string{"early", "late"})
	for _, it := range list {
		if it.Message != nil || it.Token != "" || it.State != schedule.Pending || it.Owner != ann {
			t.Fatalf("list item %+v: want no message, no token, pending, owner ann", it)
		}
	}
	got, err := s.Get(ctx, ann, late)
	if err != nil {
		t.Fatal(err)
	}
	want := item(ann, t0.Add(2*time.Hour), "late")
	want.ID = late
	if !got.Due.Equal(want.Due) || !got.Created.Equal(want.Created) || !bytes.Equal(got.Message, want.Message) {
		t.Fatalf("Get times/message: got %v %v %q, want %v %v %q", got.Due, got.Created, got.Message, want.Due, want.Created, want.Message)
	}
	got.Due, got.Created, want.Due, want.Created = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("Get:\n got %+v\nwant %+v", got, want)
	}
	for _, o := range []schedule.Owner{bob, other} {
		if _, err := s.Get(ctx, o, late); !errors.Is(err, schedule.ErrNotFound) {
			t.Fatalf("Get of ann's item as %v: %v, want ErrNotFound", o, err)
		}
	}
	if list, err := s.List(ctx, other); err != nil || len(list) != 1 {
		t.Fatalf("other tenant's list: %v %v", subjects(list), err)
	}
}

func testInvalid(t *testing.T, open Open) {
	s := opened(t, open)
	bad := []func(*schedule.Item){
		func(it *schedule.Item) { it.Rcpts = nil },
		func(it *schedule.Item) { it.Subject = "a\r\nBcc: evil@example.com" },
		func(it *schedule.Item) { it.Owner.Domain = "" },
		func(it *schedule.Item) { it.Due = time.Time{} },
		func(it *schedule.Item) { it.Message = nil },
		func(it *schedule.Item) { it.From = "" },
	}
	for i, f := range bad {
		it := item(ann, t0, "bad")
		f(&it)
		if _, err := s.Add(t.Context(), it); err == nil {
			t.Fatalf("bad item %d accepted", i)
		}
	}
	if list, err := s.List(t.Context(), ann); err != nil || len(list) != 0 {
		t.Fatalf("after refusals: %v %v, want nothing stored", subjects(list), err)
	}
}

func lease(t *testing.T, s schedule.Store, now time.Time, n int) []schedule.Item {
	t.Helper()
	items, err := s.Lease(t.Context(), now, time.Minute, n)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func testLease(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	add(t, s, item(ann, t0.Add(time.Second), "b"))
	add(t, s, item(bob, t0, "a"))
	add(t, s, item(ann, t0.Add(time.Hour), "not yet"))
	if got := lease(t, s, t0.Add(-time.Second), 10); len(got) != 0 {
		t.Fatalf("nothing due yet, leased %q", subjects(got))
	}
	got := lease(t, s, t0.Add(time.Minute), 10)
	same(t, "due items, soonest first", subjects(got), []string{"a", "b"})
	for _, it := range got {
		if it.Token == "" || it.Attempts != 1 || len(it.Message) == 0 || len(it.Rcpts) != 2 {
			t.Fatalf("leased item %+v: want a token, attempt 1, the message and recipients", it)
		}
	}
	if again := lease(t, s, t0.Add(90*time.Second), 10); len(again) != 0 {
		t.Fatalf("leased twice while the lease holds: %q", subjects(again))
	}
	// The lease runs out (a node died): another leaser gets the item with a new token.
	again := lease(t, s, t0.Add(3*time.Minute), 1)
	same(t, "after expiry", subjects(again), []string{"a"})
	if again[0].Token == got[0].Token || again[0].Attempts != 2 {
		t.Fatalf("re-lease: token %q (old %q), attempts %d, want a new token and attempt 2", again[0].Token, got[0].Token, again[0].Attempts)
	}
	if err := s.Done(ctx, got[0].ID, got[0].Token); !errors.Is(err, schedule.ErrLeaseLost) {
		t.Fatalf("Done with the expired token: %v, want ErrLeaseLost", err)
	}
	if err := s.Done(ctx, again[0].ID, again[0].Token); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, bob, again[0].ID); !errors.Is(err, schedule.ErrNotFound) {
		t.Fatalf("after Done: %v, want ErrNotFound", err)
	}
	if err := s.Done(ctx, got[1].ID, ""); !errors.Is(err, schedule.ErrLeaseLost) {
		t.Fatalf("Done with an empty token: %v, want ErrLeaseLost", err)
	}
}

func testRetryFail(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	add(t, s, item(ann, t0, "retry"))
	add(t, s, item(ann, t0, "fail"))
	got := lease(t, s, t0, 10)
	if len(got) != 2 {
		t.Fatalf("leased %q", subjects(got))
	}
	r, f := got[0], got[1]
	if r.Subject != "retry" {
		r, f = f, r
	}
	if err := s.Retry(ctx, r.ID, r.Token, t0.Add(5*time.Minute), "451 try later"); err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(ctx, f.ID, f.Token, "550 no such user"); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(ctx, r.ID, r.Token, t0, "again"); !errors.Is(err, schedule.ErrLeaseLost) {
		t.Fatalf("Retry after the lease ended: %v, want ErrLeaseLost", err)
	}
	if none := lease(t, s, t0.Add(4*time.Minute), 10); len(none) != 0 {
		t.Fatalf("leased before the retry time or a failed item: %q", subjects(none))
	}
	list, err := s.List(ctx, ann)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range list {
		switch it.Subject {
		case "retry":
			if it.State != schedule.Pending || !it.Due.Equal(t0.Add(5*time.Minute)) || it.LastError != "451 try later" || it.Attempts != 1 {
				t.Fatalf("retried item %+v", it)
			}
		case "fail":
			if it.State != schedule.Failed || it.LastError != "550 no such user" {
				t.Fatalf("failed item %+v", it)
			}
		}
	}
	again := lease(t, s, t0.Add(5*time.Minute), 10)
	same(t, "at the retry time", subjects(again), []string{"retry"})
	if again[0].Attempts != 2 {
		t.Fatalf("attempts %d, want 2", again[0].Attempts)
	}
	if _, err := s.Cancel(ctx, ann, f.ID, t0); err != nil {
		t.Fatalf("cancel a failed item: %v", err)
	}
}

func testCancel(t *testing.T, open Open) {
	s := opened(t, open)
	ctx := t.Context()
	id := add(t, s, item(ann, t0.Add(time.Hour), "cancel me"))
	if _, err := s.Cancel(ctx, other, id, t0); !errors.Is(err, schedule.ErrNotFound) {
		t.Fatalf("cancel by another tenant: %v, want ErrNotFound", err)
	}
	got, err := s.Cancel(ctx, ann, id, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "cancel me" || string(got.Message) != string(item(ann, t0, "cancel me").Message) || got.Bcc != "y@example.net" {
		t.Fatalf("cancelled item %+v: want it with its message", got)
	}
	if _, err := s.Cancel(ctx, ann, id, t0); !errors.Is(err, schedule.ErrNotFound) {
		t.Fatalf("cancel twice: %v, want ErrNotFound", err)
	}
	if none := lease(t, s, t0.Add(2*time.Hour), 10); len(none) != 0 {
		t.Fatalf("a cancelled item was leased: %q", subjects(none))
	}
	// Leased (being sent): busy until the lease runs out.
	id = add(t, s, item(ann, t0, "sending"))
	l := lease(t, s, t0, 1)
	if _, err := s.Cancel(ctx, ann, id, t0.Add(time.Second)); !errors.Is(err, schedule.ErrBusy) {
		t.Fatalf("cancel while leased: %v, want ErrBusy", err)
	}
	if _, err := s.Cancel(ctx, ann, id, t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("cancel after the lease ran out: %v", err)
	}
	if err := s.Done(ctx, id, l[0].Token); !errors.Is(err, schedule.ErrLeaseLost) {
		t.Fatalf("Done after cancel: %v, want ErrLeaseLost", err)
	}
}

func testConcurrentLease(t *testing.T, open Open) {
	stores := []schedule.Store{opened(t, open), opened(t, open), opened(t, open)}
	const n = 60
	for i := range n {
		add(t, stores[0], item(ann, t0, fmt.Sprint(i)))
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	errc := make(chan error, len(stores)*2)
	for _, s := range stores {
		for range 2 {
			wg.Go(func() {
				for range n { // bounded: each round leases at least one until none are left
					items, err := s.Lease(context.Background(), t0, time.Minute, 3)
					if err != nil {
						errc <- err
						return
					}
					if len(items) == 0 {
						return
					}
					mu.Lock()
					for _, it := range items {
						seen[it.ID]++
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if len(seen) != n {
		t.Fatalf("%d items leased, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("item %d leased %d times", id, c)
		}
	}
}

func testReopen(t *testing.T, open Open) {
	s := open(t)
	id := add(t, s, item(ann, t0, "durable"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = opened(t, open)
	got, err := s.Get(t.Context(), ann, id)
	if err != nil || got.Subject != "durable" {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
}
