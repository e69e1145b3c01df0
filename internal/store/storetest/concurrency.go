package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"mailgrid/internal/store"
)

// testChangesAfterCommit checks, from inside Publish, that what a change announces is
// already visible to a reader (published after the commit, never before), and that
// changes arrive in the order of the operations.
func testChangesAfterCommit(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	box := h.mailbox(a, "INBOX").ID
	h.pub.take()
	var mu sync.Mutex
	var problems []string
	h.pub.setHook(func(c store.Change) {
		if c.Kind > store.MessageExpunged {
			return
		}
		var found *store.Message
		err := h.s.Messages(h.ctx, a, c.Mailbox, store.Query{MinUID: c.UID, MaxUID: c.UID}, func(m store.Message) error {
			found = &m
			return nil
		})
		var bad string
		switch {
		case err != nil:
			bad = err.Error()
		case c.Kind == store.MessageExpunged && found != nil:
			bad = "expunged message still visible"
		case c.Kind != store.MessageExpunged && (found == nil || found.ModSeq < c.ModSeq || !slices.Equal(found.Flags, c.Flags)):
			bad = fmt.Sprintf("not yet visible: %+v", found)
		}
		if bad != "" {
			mu.Lock()
			problems = append(problems, fmt.Sprintf("%v %d: %s", c.Kind, c.UID, bad))
			mu.Unlock()
		}
	})
	h.deliverN(a, "", 2)
	h.storeFlags(a, box, store.FlagUpdate{UIDs: []store.UID{1}, Op: store.FlagsAdd, Flags: []string{`\Seen`}})
	if _, err := h.s.Expunge(h.ctx, a, box, []store.UID{2}); err != nil {
		t.Fatal(err)
	}
	h.deliverN(a, "", 1)
	ch := h.changes(5)
	h.pub.setHook(nil)
	var got []string
	for _, c := range ch {
		got = append(got, fmt.Sprintf("%v:%d", c.Kind, c.UID))
	}
	want := []string{"message-added:1", "message-added:2", "flags-changed:1", "message-expunged:2", "message-added:3"}
	if !slices.Equal(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("published before commit: %s", p)
	}
}

// testConcurrentDeliver runs 20 concurrent deliverers into one mailbox: every message
// gets a distinct UID, and with nothing failed they are exactly 1..N.
func testConcurrentDeliver(t *testing.T, h *harness) {
	const workers, each = 20, 15
	a := h.account("example.com", 1)
	b := h.account("example.com", 2)
	bodies := make([][]string, workers)
	for w := range bodies {
		for range each {
			bodies[w] = append(bodies[w], h.message())
		}
	}
	uids := make(chan store.UID, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for _, content := range bodies[w] {
				res, err := h.s.Deliver(h.ctx, store.Delivery{Body: body(content),
					Targets: []store.DeliveryTarget{{Account: a}, {Account: b, Mailbox: "Archive"}}})
				if err != nil || res[0].Err != nil || res[1].Err != nil {
					t.Errorf("Deliver: %v %+v", err, res)
					return
				}
				uids <- res[0].UID
			}
		})
	}
	wg.Wait()
	close(uids)
	var got []store.UID
	for u := range uids {
		got = append(got, u)
	}
	slices.Sort(got)
	for i, u := range got {
		if u != store.UID(i+1) {
			t.Fatalf("UIDs not unique and gapless: position %d holds %d", i, u)
		}
	}
	if len(got) != workers*each {
		t.Fatalf("%d deliveries, want %d", len(got), workers*each)
	}
	if m := h.mailbox(a, "INBOX"); m.Messages != workers*each || m.UIDNext != store.UID(workers*each+1) {
		t.Errorf("INBOX after concurrent delivery %+v", m)
	}
	if m := h.mailbox(b, "Archive"); m.Messages != workers*each {
		t.Errorf("second target after concurrent delivery %+v", m)
	}
	h.consistent(a)
	h.consistent(b)
}

// testConcurrentRename delivers into a mailbox while it is renamed, deleted and
// re-created: no delivery may fail or be lost (it falls back to INBOX).
func testConcurrentRename(t *testing.T, h *harness) {
	const workers, each = 8, 10
	a := h.account("example.com", 1)
	h.create(a, "Work")
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				res, err := h.s.Deliver(h.ctx, store.Delivery{Body: body("Subject: x\r\n\r\nsame body\r\n"),
					Targets: []store.DeliveryTarget{{Account: a, Mailbox: "Work"}}})
				if err != nil || res[0].Err != nil {
					t.Errorf("Deliver during rename: %v %+v", err, res)
					return
				}
			}
		})
	}
	for i := range 10 {
		from, to := "Work", fmt.Sprintf("Old/%d", i)
		if err := h.s.RenameMailbox(h.ctx, a, from, to); err != nil {
			t.Errorf("RenameMailbox: %v", err)
		}
		if i%2 == 0 {
			if err := h.s.DeleteMailbox(h.ctx, a, to); err != nil {
				t.Errorf("DeleteMailbox: %v", err)
			}
		}
		if _, err := h.s.CreateMailbox(h.ctx, a, "Work", ""); err != nil {
			t.Errorf("CreateMailbox: %v", err)
		}
	}
	wg.Wait()
	h.consistent(a)
}

// testReopen checks that everything survives Close and reopening the same storage.
func testReopen(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	h.create(a, "Keep/Me")
	h.deliver(a, "Keep/Me", h.message(), `\Flagged`, "kw")
	h.deliverN(a, "", 3)
	inbox := h.mailbox(a, "INBOX").ID
	if _, err := h.s.Expunge(h.ctx, a, inbox, []store.UID{2}); err != nil {
		t.Fatal(err)
	}
	if err := h.s.SetSubscribed(h.ctx, a, "Keep/Me", true); err != nil {
		t.Fatal(err)
	}
	type snap struct {
		boxes  []store.Mailbox
		msgs   map[store.MailboxID][]store.Message
		bodies map[int64]string
		usage  store.Usage
	}
	take := func() snap {
		var s snap
		var err error
		if s.boxes, err = h.s.Mailboxes(h.ctx, a); err != nil {
			t.Fatal(err)
		}
		s.msgs, s.bodies = map[store.MailboxID][]store.Message{}, map[int64]string{}
		for _, m := range s.boxes {
			s.msgs[m.ID] = h.messages(a, m.ID, store.Query{})
			for _, msg := range s.msgs[m.ID] {
				s.bodies[msg.ID] = h.readBlob(a, msg.ID)
			}
		}
		if s.usage, err = h.s.Usage(h.ctx, a); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := take()
	h.reopen()
	after := take()
	if !slices.Equal(before.boxes, after.boxes) || before.usage != after.usage {
		t.Errorf("mailboxes or usage changed across reopen:\n%+v %+v\n%+v %+v", before.boxes, before.usage, after.boxes, after.usage)
	}
	for id, msgs := range before.msgs {
		if !slices.EqualFunc(msgs, after.msgs[id], sameMessage) {
			t.Errorf("messages of %d changed across reopen:\n%+v\n%+v", id, msgs, after.msgs[id])
		}
	}
	for id, b := range before.bodies {
		if after.bodies[id] != b {
			t.Errorf("body of %d changed across reopen", id)
		}
	}
	if r := h.deliver(a, "", h.message()); r.UID != 4 {
		t.Errorf("UID after reopen %d, want 4", r.UID)
	}
	h.consistent(a)
}

func sameMessage(x, y store.Message) bool {
	return x.ID == y.ID && x.MailboxID == y.MailboxID && x.UID == y.UID && x.ModSeq == y.ModSeq &&
		slices.Equal(x.Flags, y.Flags) && x.InternalDate.Equal(y.InternalDate) && x.Size == y.Size &&
		x.BlobID == y.BlobID && string(x.Meta) == string(y.Meta)
}
