// Package storetest is the conformance suite every store.Store driver must pass (the
// SQLite driver now, the PostgreSQL driver later). It checks behaviour through the
// interface only: IMAP semantics (UIDs, UIDVALIDITY, MODSEQ, flags), delivery to many
// targets with one shared body, quota, mailbox hierarchy operations, account isolation,
// durability across Close and reopen, concurrency, and Change events published after
// each commit and in order.
//
// Use it from a driver's tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, pub store.Publisher) store.Store { ... })
//	}
//
// The open function's contract:
//   - Called with a t it has not seen, it returns a store over fresh, empty storage.
//   - Called again with the same t (the suite has closed the previous store first), it
//     returns a store over the SAME storage: that is how the suite tests durability.
//   - It should register t.Cleanup to close the store; Close must tolerate a second call.
//   - pub (never nil) must receive the store's Change events. The suite's publisher reads
//     the store from inside Publish (to prove a change is visible when announced), so a
//     driver must not publish while holding anything a read needs.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// OpenFunc opens a store for a test; see the package doc for its contract.
type OpenFunc func(t *testing.T, pub store.Publisher) store.Store

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, open OpenFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"EnsureAccount", testEnsureAccount},
		{"MailboxNames", testMailboxNames},
		{"CreateMailbox", testCreateMailbox},
		{"RenameMailbox", testRenameMailbox},
		{"DeleteMailbox", testDeleteMailbox},
		{"Subscribe", testSubscribe},
		{"DeliverTargets", testDeliverTargets},
		{"DeliverFallback", testDeliverFallback},
		{"DeliverQuota", testDeliverQuota},
		{"UIDsNeverReused", testUIDsNeverReused},
		{"UIDValidity", testUIDValidity},
		{"ModSeq", testModSeq},
		{"StoreFlags", testStoreFlags},
		{"UnchangedSince", testUnchangedSince},
		{"Expunge", testExpunge},
		{"Query", testQuery},
		{"Copy", testCopy},
		{"CopyQuota", testCopyQuota},
		{"Move", testMove},
		{"Isolation", testIsolation},
		{"DeleteAccount", testDeleteAccount},
		{"ChangesAfterCommit", testChangesAfterCommit},
		{"ConcurrentDeliver", testConcurrentDeliver},
		{"ConcurrentRename", testConcurrentRename},
		{"Reopen", testReopen},
		{"SearchText", testSearchText},
		{"SearchTextOracle", testSearchTextOracle},
		{"SearchHeader", testSearchHeader},
		{"SearchTextConcurrent", testSearchTextConcurrent},
		{"TextUnindexed", testTextUnindexed},
		{"TextIndexBackground", testTextIndexBackground},
		{"TextIndexImportBelow", testTextIndexImportBelow},
		{"InternalDateZone", testInternalDateZone},
		{"ListMessages", testListMessages},
		{"ListChanges", testListChanges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, open)
			tc.fn(t, h)
		})
	}
}

// harness is one subtest's store and what it observed.
type harness struct {
	t    *testing.T
	open OpenFunc
	ctx  context.Context
	pub  *recorder
	s    store.Store
	seq  int // for unique message bodies
}

func newHarness(t *testing.T, open OpenFunc) *harness {
	h := &harness{t: t, open: open, ctx: t.Context(), pub: &recorder{}}
	h.s = open(t, h.pub)
	return h
}

// reopen closes the store and opens the same storage again.
func (h *harness) reopen() {
	h.t.Helper()
	if err := h.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	h.s = h.open(h.t, h.pub)
}

// recorder is a Publisher that keeps every change; hook, if set, runs inside Publish.
type recorder struct {
	mu      sync.Mutex
	changes []store.Change
	hook    func(store.Change)
}

func (r *recorder) Publish(changes ...store.Change) {
	r.mu.Lock()
	hook := r.hook
	r.changes = append(r.changes, changes...)
	r.mu.Unlock()
	if hook != nil {
		for _, c := range changes {
			hook(c)
		}
	}
}

func (r *recorder) setHook(fn func(store.Change)) {
	r.mu.Lock()
	r.hook = fn
	r.mu.Unlock()
}

// take returns the changes recorded since the last take.
func (r *recorder) take() []store.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.changes
	r.changes = nil
	return out
}

// memBody is a store.Body in memory.
type memBody struct{ *bytes.Reader }

func body(s string) store.Body { return memBody{bytes.NewReader([]byte(s))} }

// message returns a new, unique RFC 5322 message.
func (h *harness) message() string {
	h.seq++
	return fmt.Sprintf("From: sender@example.org\r\nTo: rcpt@example.com\r\nSubject: test %d\r\n"+
		"Message-ID: <%d.%s@example.org>\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\n\r\nBody of message %d.\r\n",
		h.seq, h.seq, h.t.Name(), h.seq)
}

func acct(domain string, id int64) store.AccountRef { return store.AccountRef{Domain: domain, ID: id} }

// account ensures an account and returns it.
func (h *harness) account(domain string, id int64) store.AccountRef {
	h.t.Helper()
	a := acct(domain, id)
	if err := h.s.EnsureAccount(h.ctx, a); err != nil {
		h.t.Fatalf("EnsureAccount(%v): %v", a, err)
	}
	return a
}

// deliver stores content for one target and fails the test on any error.
func (h *harness) deliver(a store.AccountRef, mailbox, content string, flags ...string) store.DeliveryResult {
	h.t.Helper()
	res, err := h.s.Deliver(h.ctx, store.Delivery{Body: body(content), Targets: []store.DeliveryTarget{
		{Account: a, Mailbox: mailbox, Flags: flags}}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		h.t.Fatalf("Deliver to %v %q: %v %+v", a, mailbox, err, res)
	}
	return res[0]
}

// deliverN delivers n new messages to a mailbox and returns their UIDs.
func (h *harness) deliverN(a store.AccountRef, mailbox string, n int) []store.UID {
	h.t.Helper()
	var uids []store.UID
	for range n {
		uids = append(uids, h.deliver(a, mailbox, h.message()).UID)
	}
	return uids
}

func (h *harness) mailbox(a store.AccountRef, name string) store.Mailbox {
	h.t.Helper()
	m, err := h.s.Mailbox(h.ctx, a, name)
	if err != nil {
		h.t.Fatalf("Mailbox(%v, %q): %v", a, name, err)
	}
	return m
}

func (h *harness) create(a store.AccountRef, name string) store.Mailbox {
	h.t.Helper()
	m, err := h.s.CreateMailbox(h.ctx, a, name, "")
	if err != nil {
		h.t.Fatalf("CreateMailbox(%v, %q): %v", a, name, err)
	}
	return m
}

// messages lists a mailbox's messages.
func (h *harness) messages(a store.AccountRef, mbox store.MailboxID, q store.Query) []store.Message {
	h.t.Helper()
	var out []store.Message
	if err := h.s.Messages(h.ctx, a, mbox, q, func(m store.Message) error {
		out = append(out, m)
		return nil
	}); err != nil {
		h.t.Fatalf("Messages(%v, %d): %v", a, mbox, err)
	}
	return out
}

func uidsOf(msgs []store.Message) []store.UID {
	out := make([]store.UID, len(msgs))
	for i, m := range msgs {
		out[i] = m.UID
	}
	return out
}

// readBlob returns the body of a message.
func (h *harness) readBlob(a store.AccountRef, id int64) string {
	h.t.Helper()
	b, err := h.s.OpenBlob(h.ctx, a, id)
	if err != nil {
		h.t.Fatalf("OpenBlob(%v, %d): %v", a, id, err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			h.t.Errorf("Blob.Close: %v", err)
		}
	}()
	data, err := io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
	if err != nil {
		h.t.Fatalf("read blob: %v", err)
	}
	return string(data)
}

// consistent checks that every mailbox's counters and the account's usage match what
// the mailboxes hold: the invariant "accounting never drifts from content".
func (h *harness) consistent(a store.AccountRef) {
	h.t.Helper()
	boxes, err := h.s.Mailboxes(h.ctx, a)
	if err != nil {
		h.t.Fatalf("Mailboxes(%v): %v", a, err)
	}
	var total store.Usage
	for _, mb := range boxes {
		var n, unseen int
		var size int64
		for _, m := range h.messages(a, mb.ID, store.Query{}) {
			n++
			size += m.Size
			if !slices.Contains(m.Flags, store.FlagSeen) {
				unseen++
			}
			if m.UID >= mb.UIDNext || m.ModSeq > mb.HighestModSeq {
				h.t.Errorf("%s: message UID %d modseq %d beyond UIDNEXT %d / HIGHESTMODSEQ %d",
					mb.Name, m.UID, m.ModSeq, mb.UIDNext, mb.HighestModSeq)
			}
		}
		if n != mb.Messages || unseen != mb.Unseen || size != mb.Size {
			h.t.Errorf("%s counters: messages %d unseen %d size %d; content has %d, %d, %d",
				mb.Name, mb.Messages, mb.Unseen, mb.Size, n, unseen, size)
		}
		total.Bytes += size
		total.Messages += int64(n)
	}
	u, err := h.s.Usage(h.ctx, a)
	if err != nil {
		h.t.Fatalf("Usage(%v): %v", a, err)
	}
	if u != total {
		h.t.Errorf("Usage(%v) = %+v, content holds %+v", a, u, total)
	}
}

// wantErr fails unless err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

// eventually polls cond for a bounded time; for the few checks that watch another
// goroutine (never used to assert on wall time, only to bound a wait).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// changes waits until at least n changes were published since the last call, and returns
// all of them. Drivers may publish asynchronously after the commit, so the wait is bounded
// rather than immediate.
func (h *harness) changes(n int) []store.Change {
	h.t.Helper()
	var got []store.Change
	eventually(h.t, fmt.Sprintf("%d published changes", n), func() bool {
		got = append(got, h.pub.take()...)
		return len(got) >= n
	})
	return got
}

func isNotFound(err error) bool  { return errors.Is(err, store.ErrNotFound) }
func isInvalid(err error) bool   { return errors.Is(err, store.ErrInvalid) }
func isExists(err error) bool    { return errors.Is(err, store.ErrExists) }
func isOverQuota(err error) bool { return errors.Is(err, store.ErrOverQuota) }
