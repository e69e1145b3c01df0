package queuetest

import (
	"errors"
	"testing"
	"time"

	"mailgrid/internal/queue"
)

func rcptByAddr(t *testing.T, it queue.Item, addr string) queue.RecipientStatus {
	t.Helper()
	for _, r := range it.Recipients {
		if r.Addr == addr {
			return r
		}
	}
	t.Fatalf("item %s has no recipient %s", it.ID, addr)
	return queue.RecipientStatus{}
}

// testOutcomes: per-recipient outcomes are recorded, final states stick, and the item
// stays until every recipient is final.
func testOutcomes(t *testing.T, open Opener) {
	q := openQ(t, open)
	id := enqueue(t, q, "a@example.org", "ok@one.test", "bad@one.test", "later@two.test")
	now := time.Now().Truncate(time.Millisecond)
	lease(t, q, "A", now, 1)
	at := now.Add(time.Second)
	err := q.Report(t.Context(), id, []queue.Outcome{
		{Addr: "ok@one.test", State: queue.StateDelivered, Reply: queue.Reply{Code: 250, Enhanced: "2.0.0", Text: "queued as X"}, RemoteMTA: "mx.one.test", At: at},
		{Addr: "bad@one.test", State: queue.StateFailed, Reply: queue.Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}, RemoteMTA: "mx.one.test", At: at},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = q.Report(t.Context(), id, []queue.Outcome{
		{Addr: "later@two.test", State: queue.StateQueued, Reply: queue.Reply{Code: 451, Enhanced: "4.3.0", Text: "try later"}, RemoteMTA: "mx.two.test", At: at},
		{Addr: "ok@one.test", State: queue.StateFailed, Reply: queue.Reply{Code: 554}, At: at}, // ignored: already final
	})
	if err != nil {
		t.Fatal(err)
	}
	it := get(t, q, id)
	ok, bad, later := rcptByAddr(t, it, "ok@one.test"), rcptByAddr(t, it, "bad@one.test"), rcptByAddr(t, it, "later@two.test")
	if ok.State != queue.StateDelivered || ok.LastReply.Code != 250 || ok.LastReply.Text != "queued as X" || ok.RemoteMTA != "mx.one.test" || ok.Attempts != 1 || !ok.LastAttempt.Equal(at) {
		t.Errorf("delivered recipient = %+v", ok)
	}
	if bad.State != queue.StateFailed || bad.LastReply != (queue.Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}) {
		t.Errorf("failed recipient = %+v", bad)
	}
	if later.State != queue.StateQueued || later.LastReply.Code != 451 || later.Attempts != 1 {
		t.Errorf("deferred recipient = %+v", later)
	}
	if p := it.Pending(); len(p) != 1 || p[0].Addr != "later@two.test" {
		t.Errorf("pending = %+v", p)
	}

	next := now.Add(10 * time.Minute)
	if err := q.Release(t.Context(), id, "A", next); err != nil {
		t.Fatal(err)
	}
	if items := lease(t, q, "A", next.Add(-time.Second), 1); len(items) != 0 {
		t.Fatalf("leased before next attempt: %v", ids(items))
	}
	items := lease(t, q, "A", next, 1)
	if len(items) != 1 || items[0].ID != id || items[0].Attempts != 2 {
		t.Fatalf("leased at next attempt: %+v", items)
	}
	err = q.Report(t.Context(), id, []queue.Outcome{{Addr: "later@two.test", State: queue.StateExpired, Reply: queue.Reply{Code: 451}, At: next}})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Release(t.Context(), id, "A", next.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(t.Context(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("item with every recipient final and no DSN pending: Get = %v, want ErrNotFound", err)
	}
	if _, err := q.OpenBody(t.Context(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("body of a finished item: %v, want ErrNotFound", err)
	}
}

// testDSNBookkeeping: a pending DSN keeps a finished item until Notified; the delay flag
// is recorded.
func testDSNBookkeeping(t *testing.T, open Opener) {
	q := openQ(t, open)
	id := enqueue(t, q, "a@example.org", "bad@one.test", "slow@two.test")
	now := time.Now()
	lease(t, q, "A", now, 1)
	err := q.Report(t.Context(), id, []queue.Outcome{{Addr: "bad@one.test", State: queue.StateFailed, Reply: queue.Reply{Code: 550}, At: now, DSN: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !rcptByAddr(t, get(t, q, id), "bad@one.test").DSNPending {
		t.Error("DSN not pending after a report asking for one")
	}
	if err := q.Notified(t.Context(), id, nil, true); err != nil {
		t.Fatal(err)
	}
	if !get(t, q, id).DelayWarned {
		t.Error("delay warning not recorded")
	}
	err = q.Report(t.Context(), id, []queue.Outcome{{Addr: "slow@two.test", State: queue.StateDelivered, Reply: queue.Reply{Code: 250}, At: now}})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Release(t.Context(), id, "A", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	it := get(t, q, id) // kept: a DSN is still owed
	if len(it.Pending()) != 0 || !rcptByAddr(t, it, "bad@one.test").DSNPending {
		t.Fatalf("item after release = %+v", it)
	}
	items := lease(t, q, "A", now.Add(time.Minute), 1)
	if len(items) != 1 {
		t.Fatalf("item with a pending DSN not leased again: %v", ids(items))
	}
	if err := q.Notified(t.Context(), id, []string{"bad@one.test"}, false); err != nil {
		t.Fatal(err)
	}
	if err := q.Release(t.Context(), id, "A", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Get(t.Context(), id); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("after the DSN was sent: Get = %v, want ErrNotFound", err)
	}
}

// testListGet: List filters and pages in enqueue order.
func testListGet(t *testing.T, open Opener) {
	q := openQ(t, open)
	a := enqueue(t, q, "a@example.org", "x@one.test")
	b := enqueue(t, q, "", "y@two.test", "z@one.test")
	c := enqueue(t, q, "a@example.org", "w@three.test")
	check := func(name string, f queue.Filter, want ...string) {
		t.Helper()
		items, err := q.List(t.Context(), f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := ids(items)
		if len(got) != len(want) {
			t.Errorf("%s: got %v, want %v", name, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: got %v, want %v", name, got, want)
				return
			}
		}
	}
	check("all", queue.Filter{}, a, b, c)
	check("domain", queue.Filter{RcptDomain: "ONE.test"}, a, b)
	check("from", queue.Filter{From: "a@example.org"}, a, c)
	check("null sender", queue.Filter{From: "<>"}, b)
	check("limit", queue.Filter{Limit: 2}, a, b)
	check("offset", queue.Filter{Offset: 1, Limit: 1}, b)
	it := get(t, q, b)
	if it.Envelope.From != "" || len(it.Recipients) != 2 || it.Recipients[1].Addr != "z@one.test" {
		t.Errorf("get = %+v", it)
	}
}

// testErrors: unknown items and recipients are reported as such.
func testErrors(t *testing.T, open Opener) {
	q := openQ(t, open)
	bg := t.Context()
	if _, err := q.Get(bg, "nosuchitem"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Get: %v", err)
	}
	if err := q.Report(bg, "nosuchitem", []queue.Outcome{{Addr: "x@y.test", State: queue.StateDelivered}}); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Report: %v", err)
	}
	if err := q.Release(bg, "nosuchitem", "A", time.Now()); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Release: %v", err)
	}
	if err := q.Retry(bg, "nosuchitem"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Retry: %v", err)
	}
	if _, err := q.Enqueue(bg, queue.Envelope{From: "a@example.org"}, nil, Body("x")); err == nil {
		t.Error("Enqueue without recipients succeeded")
	}
	id := enqueue(t, q, "a@example.org", "r@remote.test")
	if err := q.Report(bg, id, []queue.Outcome{{Addr: "other@remote.test", State: queue.StateDelivered}}); err == nil {
		t.Error("Report for a recipient not in the item succeeded")
	}
}
