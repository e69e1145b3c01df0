package storetest

import (
	"slices"
	"testing"

	"mailgrid/internal/store"
)

func testCopy(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	h.deliver(a, "", h.message(), `\Seen`, "$Important")
	h.deliverN(a, "", 2)
	src := h.mailbox(a, "INBOX").ID
	dst := h.create(a, "Dst").ID
	h.pub.take()
	pairs, err := h.s.Copy(h.ctx, a, src, []store.UID{3, 1, 7}, dst, store.Quota{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pairs, []store.UIDPair{{Src: 1, Dst: 1}, {Src: 3, Dst: 2}}) {
		t.Errorf("COPYUID pairs %v", pairs)
	}
	orig := h.messages(a, src, store.Query{})
	copies := h.messages(a, dst, store.Query{})
	if len(orig) != 3 || len(copies) != 2 {
		t.Fatalf("after copy: %d originals, %d copies", len(orig), len(copies))
	}
	for i, c := range copies {
		o := orig[[]int{0, 2}[i]]
		if c.ID == o.ID || c.MailboxID != dst || c.BlobID != o.BlobID || c.Size != o.Size ||
			!slices.Equal(c.Flags, o.Flags) || !c.InternalDate.Equal(o.InternalDate) {
			t.Errorf("copy %+v of %+v", c, o)
		}
		if h.readBlob(a, c.ID) != h.readBlob(a, o.ID) {
			t.Errorf("copy %d body differs", c.UID)
		}
	}
	ch := h.changes(2)
	if len(ch) != 2 || ch[0].Kind != store.MessageAdded || ch[0].Mailbox != dst ||
		!slices.Equal(ch[0].Flags, []string{"$Important", `\Seen`}) || ch[1].UID != 2 {
		t.Errorf("copy changes %+v", ch)
	}
	h.consistent(a)
	// Copy into the same mailbox is allowed (RFC 9051 6.4.7 does not forbid it).
	if pairs, err := h.s.Copy(h.ctx, a, src, []store.UID{2}, src, store.Quota{}); err != nil ||
		!slices.Equal(pairs, []store.UIDPair{{Src: 2, Dst: 4}}) {
		t.Errorf("copy to itself: %v %v", pairs, err)
	}
	if _, err := h.s.Copy(h.ctx, a, src, []store.UID{1}, 999999, store.Quota{}); !isNotFound(err) {
		t.Errorf("copy to a missing mailbox: %v, want ErrNotFound", err)
	}
	h.consistent(a)
}

func testCopyQuota(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	h.deliverN(a, "", 2)
	src := h.mailbox(a, "INBOX").ID
	dst := h.create(a, "Dst").ID
	before, err := h.s.Usage(h.ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	per := before.Bytes / 2
	q := store.Quota{Bytes: before.Bytes + per + per/2} // room for one more copy, not two
	if _, err := h.s.Copy(h.ctx, a, src, []store.UID{1, 2}, dst, q); !isOverQuota(err) {
		t.Errorf("copy over quota: %v, want ErrOverQuota", err)
	}
	if m := h.mailbox(a, "Dst"); m.Messages != 0 || m.UIDNext != 1 {
		t.Errorf("failed copy left %+v", m)
	}
	if u, _ := h.s.Usage(h.ctx, a); u != before {
		t.Errorf("failed copy changed usage %+v -> %+v", before, u)
	}
	if _, err := h.s.Copy(h.ctx, a, src, []store.UID{1}, dst, q); err != nil {
		t.Errorf("copy within quota: %v", err)
	}
	h.consistent(a)
	if _, err := h.s.Copy(h.ctx, a, src, []store.UID{1}, dst, store.Quota{Messages: 3}); !isOverQuota(err) {
		t.Errorf("copy over message quota: %v, want ErrOverQuota", err)
	}
	h.consistent(a)
}

func testMove(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	h.deliver(a, "", h.message(), `\Answered`)
	h.deliverN(a, "", 2)
	src := h.mailbox(a, "INBOX").ID
	dst := h.create(a, "Dst").ID
	before, _ := h.s.Usage(h.ctx, a)
	blobs := map[store.UID]string{}
	for _, m := range h.messages(a, src, store.Query{}) {
		blobs[m.UID] = m.BlobID
	}
	h.pub.take()
	pairs, err := h.s.Move(h.ctx, a, src, []store.UID{2, 1, 9}, dst)
	if err != nil || !slices.Equal(pairs, []store.UIDPair{{Src: 1, Dst: 1}, {Src: 2, Dst: 2}}) {
		t.Fatalf("Move = %v, %v", pairs, err)
	}
	if got := uidsOf(h.messages(a, src, store.Query{})); !slices.Equal(got, []store.UID{3}) {
		t.Errorf("source after move %v, want [3]", got)
	}
	moved := h.messages(a, dst, store.Query{})
	if len(moved) != 2 || moved[0].BlobID != blobs[1] || moved[1].BlobID != blobs[2] ||
		!slices.Equal(moved[0].Flags, []string{`\Answered`}) {
		t.Errorf("moved %+v", moved)
	}
	if u, _ := h.s.Usage(h.ctx, a); u != before {
		t.Errorf("move changed usage %+v -> %+v", before, u)
	}
	h.consistent(a)
	var kinds []store.ChangeKind
	for _, c := range h.changes(4) {
		kinds = append(kinds, c.Kind)
	}
	if !slices.Equal(kinds, []store.ChangeKind{store.MessageAdded, store.MessageAdded, store.MessageExpunged, store.MessageExpunged}) {
		t.Errorf("move changes %v", kinds)
	}
	if _, err := h.s.Move(h.ctx, a, src, []store.UID{3}, src); !isInvalid(err) {
		t.Errorf("move to itself: %v, want ErrInvalid", err)
	}
	h.consistent(a)
	testMoveAtomic(t, h, a, src, dst)
}

// testMoveAtomic moves messages back and forth while a reader checks, from one snapshot
// (Mailboxes), that every message is in exactly one of the two mailboxes.
func testMoveAtomic(t *testing.T, h *harness, a store.AccountRef, x, y store.MailboxID) {
	count := func() int {
		boxes, err := h.s.Mailboxes(h.ctx, a)
		if err != nil {
			t.Errorf("Mailboxes: %v", err)
			return -1
		}
		n := 0
		for _, m := range boxes {
			if m.ID == x || m.ID == y {
				n += m.Messages
			}
		}
		return n
	}
	want := count()
	done := make(chan struct{})
	go func() {
		defer close(done)
		from, to := x, y
		for range 20 {
			var all []store.UID
			err := h.s.Messages(h.ctx, a, from, store.Query{}, func(m store.Message) error {
				all = append(all, m.UID)
				return nil
			})
			if err != nil {
				t.Errorf("Messages: %v", err)
				return
			}
			if _, err := h.s.Move(h.ctx, a, from, all, to); err != nil {
				t.Errorf("Move: %v", err)
				return
			}
			from, to = to, from
		}
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		if n := count(); n != want {
			t.Fatalf("a reader saw %d messages in the two mailboxes, want %d: move is not atomic", n, want)
		}
	}
	h.consistent(a)
}

func testIsolation(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	b := h.account("example.com", 2)
	c := h.account("example.org", 1) // same ID, other tenant
	r := h.deliver(a, "", h.message())
	box := r.Mailbox
	for _, other := range []store.AccountRef{b, c} {
		otherBox := h.mailbox(other, "INBOX").ID
		if otherBox == box {
			t.Fatalf("two accounts share mailbox ID %d", box)
		}
		err := h.s.Messages(h.ctx, other, box, store.Query{}, func(m store.Message) error {
			t.Errorf("%v sees %v's message %+v", other, a, m)
			return nil
		})
		wantErr(t, "Messages of another account's mailbox", err, store.ErrNotFound)
		_, err = h.s.OpenBlob(h.ctx, other, r.MessageID)
		wantErr(t, "OpenBlob of another account's message", err, store.ErrNotFound)
		_, err = h.s.StoreFlags(h.ctx, other, box, store.FlagUpdate{UIDs: []store.UID{1}, Flags: []string{`\Deleted`}})
		wantErr(t, "StoreFlags in another account", err, store.ErrNotFound)
		_, err = h.s.Expunge(h.ctx, other, box, []store.UID{1})
		wantErr(t, "Expunge in another account", err, store.ErrNotFound)
		_, err = h.s.Copy(h.ctx, other, box, []store.UID{1}, otherBox, store.Quota{})
		wantErr(t, "Copy from another account", err, store.ErrNotFound)
		_, err = h.s.Copy(h.ctx, other, otherBox, []store.UID{1}, box, store.Quota{})
		wantErr(t, "Copy into another account", err, store.ErrNotFound)
		_, err = h.s.Move(h.ctx, other, box, []store.UID{1}, otherBox)
		wantErr(t, "Move from another account", err, store.ErrNotFound)
		_, err = h.s.Copy(h.ctx, a, box, []store.UID{1}, otherBox, store.Quota{})
		wantErr(t, "Copy by the owner into another account", err, store.ErrNotFound)
		if u, err := h.s.Usage(h.ctx, other); err != nil || u != (store.Usage{}) {
			t.Errorf("Usage(%v) = %+v, %v", other, u, err)
		}
	}
	msgs := h.messages(a, box, store.Query{})
	if len(msgs) != 1 || len(msgs[0].Flags) != 0 {
		t.Errorf("owner's mailbox after foreign attempts: %+v", msgs)
	}
	h.consistent(a)
}

func testDeleteAccount(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	b := h.account("example.com", 2)
	content := h.message()
	res, err := h.s.Deliver(h.ctx, store.Delivery{Body: body(content), Targets: []store.DeliveryTarget{{Account: a}, {Account: b}}})
	if err != nil {
		t.Fatal(err)
	}
	h.create(a, "Sub/Deeper")
	oldInbox := h.mailbox(a, "INBOX")
	h.pub.take()
	if err := h.s.DeleteAccount(h.ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Usage(h.ctx, a); !isNotFound(err) {
		t.Errorf("Usage after DeleteAccount: %v, want ErrNotFound", err)
	}
	if _, err := h.s.OpenBlob(h.ctx, a, res[0].MessageID); !isNotFound(err) {
		t.Errorf("OpenBlob after DeleteAccount: %v, want ErrNotFound", err)
	}
	if got := h.readBlob(b, res[1].MessageID); got != content {
		t.Errorf("shared body of the other account after DeleteAccount: %q", got)
	}
	deleted := 0
	for _, c := range h.changes(len(store.DefaultMailboxes) + 2) {
		if c.Kind == store.MailboxDeleted && c.Account == a {
			deleted++
		}
	}
	if deleted != len(store.DefaultMailboxes)+2 {
		t.Errorf("DeleteAccount published %d MailboxDeleted, want %d", deleted, len(store.DefaultMailboxes)+2)
	}
	if err := h.s.DeleteAccount(h.ctx, a); err != nil {
		t.Errorf("DeleteAccount again: %v", err)
	}
	h.account("example.com", 1)
	if m := h.mailbox(a, "INBOX"); m.Messages != 0 || m.UIDValidity == oldInbox.UIDValidity {
		t.Errorf("INBOX of a re-created account %+v, old UIDVALIDITY %d", m, oldInbox.UIDValidity)
	}
	h.consistent(a)
	h.consistent(b)
}
