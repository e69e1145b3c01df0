package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"mailgrid/internal/store"
)

func testDeliverTargets(t *testing.T, h *harness) {
	a1 := h.account("example.com", 1)
	a2 := h.account("example.com", 2)
	b1 := h.account("example.net", 1) // same ID, other tenant: a different account
	h.pub.take()
	content := h.message()
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	res, err := h.s.Deliver(h.ctx, store.Delivery{Body: body(content), InternalDate: date, Targets: []store.DeliveryTarget{
		{Account: a1, Flags: []string{`\seen`}},
		{Account: a2, Mailbox: "Archive"},
		{Account: b1},
		{Account: acct("example.com", 77)},
		{Account: a1, Mailbox: "Junk", Flags: []string{"$Junk", `\Flagged`}},
	}})
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if len(res) != 5 {
		t.Fatalf("Deliver returned %d results for 5 targets", len(res))
	}
	wantErr(t, "unknown account's result", res[3].Err, store.ErrNotFound)
	want := []struct {
		a     store.AccountRef
		box   string
		flags []string
	}{
		{a1, "INBOX", []string{`\Seen`}}, {a2, "Archive", []string{}}, {b1, "INBOX", []string{}}, {},
		{a1, "Junk", []string{"$Junk", `\Flagged`}},
	}
	var blobID string
	ids := map[int64]bool{}
	for i, w := range want {
		if i == 3 {
			continue
		}
		r := res[i]
		if r.Err != nil || r.UID != 1 || r.Mailbox != h.mailbox(w.a, w.box).ID || ids[r.MessageID] {
			t.Errorf("result %d = %+v, want UID 1 in %v %s", i, r, w.a, w.box)
		}
		ids[r.MessageID] = true
		msgs := h.messages(w.a, r.Mailbox, store.Query{})
		if len(msgs) != 1 {
			t.Fatalf("%v %s holds %d messages", w.a, w.box, len(msgs))
		}
		m := msgs[0]
		if m.ID != r.MessageID || m.UID != r.UID || m.Size != int64(len(content)) ||
			!slices.Equal(m.Flags, w.flags) || m.InternalDate.Unix() != date.Unix() || m.ModSeq == 0 {
			t.Errorf("message %d = %+v", i, m)
		}
		if !json.Valid(m.Meta) {
			t.Errorf("message %d Meta is not the JSON of its parsed structure: %q", i, m.Meta)
		}
		if blobID == "" {
			blobID = m.BlobID
		}
		if m.BlobID != blobID || len(blobID) != 64 {
			t.Errorf("target %d BlobID %q, first %q: one body must be stored once", i, m.BlobID, blobID)
		}
		if got := h.readBlob(w.a, r.MessageID); got != content {
			t.Errorf("body of target %d = %q", i, got)
		}
	}
	ch := h.changes(4)
	var got []store.AccountRef
	for _, c := range ch {
		if c.Kind != store.MessageAdded || c.UID != 1 || c.ModSeq == 0 {
			t.Errorf("change %+v", c)
		}
		got = append(got, c.Account)
	}
	if !slices.Equal(got, []store.AccountRef{a1, a2, b1, a1}) || !slices.Equal(ch[3].Flags, []string{"$Junk", `\Flagged`}) {
		t.Errorf("changes %+v", ch)
	}
	for _, a := range []store.AccountRef{a1, a2, b1} {
		h.consistent(a)
	}
	testDeliverInvalid(t, h, a1)
}

func testDeliverInvalid(t *testing.T, h *harness, a store.AccountRef) {
	before, _ := h.s.Usage(h.ctx, a)
	_, err := h.s.Deliver(h.ctx, store.Delivery{Targets: []store.DeliveryTarget{{Account: a}}})
	if err == nil {
		t.Errorf("Deliver without body succeeded")
	}
	if _, err := h.s.Deliver(h.ctx, store.Delivery{Body: body(h.message())}); err == nil {
		t.Errorf("Deliver without targets succeeded")
	}
	_, err = h.s.Deliver(h.ctx, store.Delivery{Body: body(h.message()), Targets: []store.DeliveryTarget{
		{Account: a}, {Account: a, Flags: []string{"bad(keyword"}}}})
	if !isInvalid(err) {
		t.Errorf("Deliver with a bad keyword: %v, want ErrInvalid", err)
	}
	if after, _ := h.s.Usage(h.ctx, a); after != before {
		t.Errorf("failed deliveries changed usage: %+v -> %+v", before, after)
	}
}

func testDeliverFallback(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	inbox := h.mailbox(a, "INBOX")
	for _, name := range []string{"Nope", "a//b", "archive", "inbox", "INBOX"} {
		if r := h.deliver(a, name, h.message()); r.Mailbox != inbox.ID {
			t.Errorf("delivery to %q went to mailbox %d, want INBOX %d", name, r.Mailbox, inbox.ID)
		}
	}
	sub := h.create(a, "INBOX/Lists")
	if r := h.deliver(a, "inbox/Lists", h.message()); r.Mailbox != sub.ID {
		t.Errorf("delivery to inbox/Lists went to %d, want %d", r.Mailbox, sub.ID)
	}
	h.consistent(a)
}

func testDeliverQuota(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	b := h.account("example.com", 2)
	content := h.message()
	size := int64(len(content))
	q := store.Quota{Bytes: 2*size + size/2}
	deliver := func(targets ...store.DeliveryTarget) []store.DeliveryResult {
		t.Helper()
		res, err := h.s.Deliver(h.ctx, store.Delivery{Body: body(content), Targets: targets})
		if err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		return res
	}
	// Two copies for a in one delivery: both fit.
	res := deliver(store.DeliveryTarget{Account: a, Quota: q}, store.DeliveryTarget{Account: a, Quota: q})
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("within quota: %+v", res)
	}
	// A third for a is over quota; b, in the same delivery, still gets its copy.
	res = deliver(store.DeliveryTarget{Account: a, Quota: q}, store.DeliveryTarget{Account: b, Quota: q})
	wantErr(t, "over byte quota", res[0].Err, store.ErrOverQuota)
	if res[1].Err != nil || res[1].UID != 1 {
		t.Errorf("other target of an over-quota delivery: %+v", res[1])
	}
	// Quota is counted inside the commit: of two copies for b with room for one, the
	// second is refused.
	res = deliver(store.DeliveryTarget{Account: b, Quota: store.Quota{Messages: 2}},
		store.DeliveryTarget{Account: b, Quota: store.Quota{Messages: 2}})
	if res[0].Err != nil {
		t.Errorf("first copy within message quota: %v", res[0].Err)
	}
	wantErr(t, "second copy over message quota", res[1].Err, store.ErrOverQuota)
	for _, x := range []struct {
		a    store.AccountRef
		want store.Usage
	}{{a, store.Usage{Bytes: 2 * size, Messages: 2}}, {b, store.Usage{Bytes: 2 * size, Messages: 2}}} {
		if u, err := h.s.Usage(h.ctx, x.a); err != nil || u != x.want {
			t.Errorf("Usage(%v) = %+v, %v; want %+v", x.a, u, err, x.want)
		}
		h.consistent(x.a)
	}
}

func testUIDsNeverReused(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	uids := h.deliverN(a, "", 5)
	if !slices.Equal(uids, []store.UID{1, 2, 3, 4, 5}) {
		t.Fatalf("first UIDs %v", uids)
	}
	inbox := h.mailbox(a, "INBOX")
	if _, err := h.s.Expunge(h.ctx, a, inbox.ID, []store.UID{4, 5}); err != nil {
		t.Fatal(err)
	}
	if r := h.deliver(a, "", h.message()); r.UID != 6 {
		t.Errorf("UID after expunging the highest: %d, want 6", r.UID)
	}
	if _, err := h.s.Expunge(h.ctx, a, inbox.ID, []store.UID{1, 2, 3, 6}); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	if m := h.mailbox(a, "INBOX"); m.UIDNext != 7 || m.Messages != 0 {
		t.Errorf("empty INBOX after reopen: %+v, want UIDNext 7", m)
	}
	if r := h.deliver(a, "", h.message()); r.UID != 7 {
		t.Errorf("UID after reopen: %d, want 7", r.UID)
	}
	h.consistent(a)
}

func testUIDValidity(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	x := h.create(a, "X")
	inbox := h.mailbox(a, "INBOX")
	if x.UIDValidity == 0 || x.UIDValidity == inbox.UIDValidity {
		t.Errorf("UIDVALIDITY of X %d, INBOX %d", x.UIDValidity, inbox.UIDValidity)
	}
	h.reopen()
	if got := h.mailbox(a, "X").UIDValidity; got != x.UIDValidity {
		t.Errorf("UIDVALIDITY changed across reopen: %d -> %d", x.UIDValidity, got)
	}
	if err := h.s.RenameMailbox(h.ctx, a, "X", "Y"); err != nil {
		t.Fatal(err)
	}
	if got := h.mailbox(a, "Y").UIDValidity; got != x.UIDValidity {
		t.Errorf("UIDVALIDITY changed by rename: %d -> %d", x.UIDValidity, got)
	}
	seen := map[uint32]bool{x.UIDValidity: true, inbox.UIDValidity: true}
	for range 3 {
		if err := h.s.DeleteMailbox(h.ctx, a, "Y"); err != nil {
			t.Fatal(err)
		}
		h.reopen()
		y := h.create(a, "Y")
		if seen[y.UIDValidity] {
			t.Errorf("re-created mailbox reuses UIDVALIDITY %d", y.UIDValidity)
		}
		seen[y.UIDValidity] = true
	}
}
