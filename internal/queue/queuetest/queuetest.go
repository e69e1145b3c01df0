// Package queuetest is the conformance suite every queue.Queue driver must pass: durable
// enqueue across close and reopen, exclusive leasing under concurrency (also between two
// handles on the same storage, as two nodes), lease expiry and recovery, per-recipient
// outcomes that never leave a final state, DSN bookkeeping, release and removal, retry,
// drop, list and get.
//
// A driver's test calls Run with an Opener. The suite uses real time only for enqueue
// stamps and passes explicit times to Lease, so nothing sleeps.
package queuetest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// Opener opens the queue under test. Called again with the same t (after Close, or while
// the first handle is still open) it must return a handle on the same storage; a new t
// gets fresh, empty storage. The suite closes every handle it opens.
type Opener func(t *testing.T) queue.Queue

// Run runs the conformance suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"DurableEnqueue", testDurableEnqueue},
		{"LeaseExclusive", testLeaseExclusive},
		{"LeaseExpiry", testLeaseExpiry},
		{"Recover", testRecover},
		{"RecipientOutcomes", testOutcomes},
		{"DSNBookkeeping", testDSNBookkeeping},
		{"Retry", testRetry},
		{"Drop", testDrop},
		{"ListGet", testListGet},
		{"Errors", testErrors},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// bytesBody is a store.Body over a byte slice.
type bytesBody struct{ *bytes.Reader }

func (b bytesBody) Size() int64 { return b.Reader.Size() }

// Body returns a store.Body holding s.
func Body(s string) store.Body { return bytesBody{bytes.NewReader([]byte(s))} }

func ctx(t *testing.T) context.Context { return t.Context() }

func openQ(t *testing.T, open Opener) queue.Queue {
	t.Helper()
	q := open(t)
	t.Cleanup(func() {
		if err := q.Close(); err != nil && !strings.Contains(err.Error(), "closed") {
			t.Errorf("close: %v", err)
		}
	})
	return q
}

func enqueue(t *testing.T, q queue.Queue, from string, rcpts ...string) string {
	t.Helper()
	rs := make([]queue.Recipient, len(rcpts))
	for i, r := range rcpts {
		rs[i] = queue.Recipient{Addr: r}
	}
	id, err := q.Enqueue(ctx(t), queue.Envelope{From: from}, rs, Body("Subject: test\r\n\r\nbody of "+from+"\r\n"))
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return id
}

func get(t *testing.T, q queue.Queue, id string) queue.Item {
	t.Helper()
	it, err := q.Get(ctx(t), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return it
}

func lease(t *testing.T, q queue.Queue, node string, now time.Time, max int) []queue.Item {
	t.Helper()
	items, err := q.Lease(ctx(t), node, now, max, time.Minute)
	if err != nil {
		t.Fatalf("lease: %v", err)
	}
	return items
}

func ids(items []queue.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func readBody(t *testing.T, q queue.Queue, id string) string {
	t.Helper()
	b, err := q.OpenBody(ctx(t), id)
	if err != nil {
		t.Fatalf("open body %s: %v", id, err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Errorf("close body: %v", err)
		}
	}()
	data, err := io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func testDurableEnqueue(t *testing.T, open Opener) {
	q := open(t)
	env := queue.Envelope{From: "a@example.org", EnvID: "env-1", Ret: "HDRS", SMTPUTF8: true,
		Sender: store.AccountRef{Domain: "example.org", ID: 7}}
	rcpts := []queue.Recipient{
		{Addr: "x@remote.test", Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "rfc822;orig@remote.test"},
		{Addr: "y@other.test", Notify: []string{"NEVER"}},
		{Addr: "x@remote.test"}, // duplicate: stored once
	}
	const msg = "From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
	before := time.Now()
	id, err := q.Enqueue(ctx(t), env, rcpts, Body(msg))
	if err != nil {
		t.Fatal(err)
	}
	if id == "" || strings.ContainsAny(id, "/+=?&# ") || len(id) > 32 {
		t.Errorf("id %q is not short and URL-safe", id)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openQ(t, open)
	it := get(t, q, id)
	if it.Envelope != env {
		t.Errorf("envelope = %+v, want %+v", it.Envelope, env)
	}
	if len(it.Recipients) != 2 {
		t.Fatalf("recipients = %+v, want 2 (duplicate removed)", it.Recipients)
	}
	r := it.Recipients[0]
	if r.Addr != "x@remote.test" || strings.Join(r.Notify, ",") != "SUCCESS,FAILURE" || r.ORcpt != "rfc822;orig@remote.test" || r.State != queue.StateQueued {
		t.Errorf("recipient 0 = %+v", r)
	}
	if it.Recipients[1].Addr != "y@other.test" || strings.Join(it.Recipients[1].Notify, ",") != "NEVER" {
		t.Errorf("recipient 1 = %+v", it.Recipients[1])
	}
	if it.Size != int64(len(msg)) || it.Queued.Before(before.Add(-time.Second)) || !it.NextAttempt.IsZero() || it.Attempts != 0 {
		t.Errorf("item = %+v", it)
	}
	if got := readBody(t, q, id); got != msg {
		t.Errorf("body = %q, want %q", got, msg)
	}
}
