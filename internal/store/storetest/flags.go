package storetest

import (
	"errors"
	"slices"
	"testing"

	"mailgrid/internal/store"
)

func (h *harness) storeFlags(a store.AccountRef, mbox store.MailboxID, u store.FlagUpdate) store.FlagResult {
	h.t.Helper()
	r, err := h.s.StoreFlags(h.ctx, a, mbox, u)
	if err != nil {
		h.t.Fatalf("StoreFlags(%+v): %v", u, err)
	}
	return r
}

// flagsOf returns each message's flags by UID.
func (h *harness) flagsOf(a store.AccountRef, mbox store.MailboxID) map[store.UID][]string {
	out := map[store.UID][]string{}
	for _, m := range h.messages(a, mbox, store.Query{}) {
		out[m.UID] = m.Flags
	}
	return out
}

func testStoreFlags(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	h.deliverN(a, "", 3)
	box := h.mailbox(a, "INBOX").ID
	h.pub.take()

	r := h.storeFlags(a, box, store.FlagUpdate{UIDs: []store.UID{1, 2, 99}, Op: store.FlagsAdd, Flags: []string{`\Seen`}})
	if len(r.Changed) != 2 || r.Changed[0].UID != 1 || r.Changed[1].UID != 2 || len(r.Modified) != 0 {
		t.Errorf("add \\Seen: %+v", r)
	}
	if m := h.mailbox(a, "INBOX"); m.Unseen != 1 {
		t.Errorf("Unseen after seeing 2 of 3: %d", m.Unseen)
	}
	h.consistent(a)
	// Flags are case-insensitive: adding \seen again changes nothing.
	if r := h.storeFlags(a, box, store.FlagUpdate{UIDs: []store.UID{1}, Op: store.FlagsAdd, Flags: []string{`\SEEN`}}); len(r.Changed) != 0 {
		t.Errorf("re-adding a present flag changed %+v", r.Changed)
	}
	r = h.storeFlags(a, box, store.FlagUpdate{UIDs: []store.UID{1}, Op: store.FlagsSet,
		Flags: []string{"$Label1", `\flagged`, `\Recent`, "$label1"}})
	if len(r.Changed) != 1 || !slices.Equal(r.Changed[0].Flags, []string{"$Label1", `\Flagged`}) {
		t.Errorf("set: %+v", r)
	}
	h.storeFlags(a, box, store.FlagUpdate{UIDs: []store.UID{1, 2}, Op: store.FlagsAdd, Flags: []string{"Work", `\Answered`}})
	h.storeFlags(a, box, store.FlagUpdate{UIDs: []store.UID{1, 2, 3}, Op: store.FlagsRemove, Flags: []string{"$LABEL1", "work"}})
	want := map[store.UID][]string{
		1: {`\Answered`, `\Flagged`},
		2: {`\Answered`, `\Seen`},
		3: {},
	}
	got := h.flagsOf(a, box)
	for uid, w := range want {
		if !slices.Equal(got[uid], w) {
			t.Errorf("flags of %d = %q, want %q", uid, got[uid], w)
		}
	}
	if m := h.mailbox(a, "INBOX"); m.Unseen != 2 {
		t.Errorf("Unseen after set without \\Seen on 1: %d, want 2", m.Unseen)
	}
	for _, bad := range [][]string{{`\Bogus`}, {"two words"}, {"paren("}, {""}} {
		_, err := h.s.StoreFlags(h.ctx, a, box, store.FlagUpdate{UIDs: []store.UID{1}, Op: store.FlagsAdd, Flags: bad})
		if !isInvalid(err) {
			t.Errorf("StoreFlags(%q): %v, want ErrInvalid", bad, err)
		}
	}
	ch := h.changes(7)
	final := map[store.UID][]string{}
	for _, c := range ch {
		if c.Kind != store.FlagsChanged || c.Mailbox != box {
			t.Errorf("change %+v", c)
		}
		final[c.UID] = c.Flags
	}
	if len(ch) != 7 || !slices.Equal(final[1], want[1]) || !slices.Equal(final[2], want[2]) || final[3] != nil {
		t.Errorf("%d changes, last flags %v; want 7 FlagsChanged ending with %v", len(ch), final, want)
	}
	h.consistent(a)
}

func testUnchangedSince(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	h.deliverN(a, "", 2)
	box := h.mailbox(a, "INBOX").ID
	msgs := h.messages(a, box, store.Query{})
	since := msgs[0].ModSeq // message 2 was added later: its modseq is higher
	r := h.storeFlags(a, box, store.FlagUpdate{UIDs: []store.UID{1, 2}, Op: store.FlagsAdd,
		Flags: []string{`\Flagged`}, UnchangedSince: since})
	if len(r.Changed) != 1 || r.Changed[0].UID != 1 || !slices.Equal(r.Modified, []store.UID{2}) {
		t.Errorf("UNCHANGEDSINCE %d: %+v", since, r)
	}
	if r.Changed[0].ModSeq <= msgs[1].ModSeq {
		t.Errorf("new modseq %d not above %d", r.Changed[0].ModSeq, msgs[1].ModSeq)
	}
	// Message 1 changed since: now it fails too (RFC 7162 3.1.3).
	r = h.storeFlags(a, box, store.FlagUpdate{UIDs: []store.UID{1}, Op: store.FlagsAdd,
		Flags: []string{`\Seen`}, UnchangedSince: since})
	if len(r.Changed) != 0 || !slices.Equal(r.Modified, []store.UID{1}) {
		t.Errorf("second UNCHANGEDSINCE %d: %+v", since, r)
	}
	if f := h.flagsOf(a, box); !slices.Equal(f[1], []string{`\Flagged`}) || len(f[2]) != 0 {
		t.Errorf("flags after conditional stores: %v", f)
	}
}

func testModSeq(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	other := h.create(a, "Other")
	last := map[store.MailboxID]uint64{}
	step := func(what string, boxes ...string) {
		t.Helper()
		for _, name := range boxes {
			m := h.mailbox(a, name)
			if m.HighestModSeq <= last[m.ID] {
				t.Errorf("%s: HIGHESTMODSEQ of %s %d, was %d: must increase", what, name, m.HighestModSeq, last[m.ID])
			}
			last[m.ID] = m.HighestModSeq
		}
	}
	box := h.mailbox(a, "INBOX").ID
	h.deliverN(a, "", 3)
	step("deliver", "INBOX")
	h.storeFlags(a, box, store.FlagUpdate{UIDs: []store.UID{2}, Op: store.FlagsAdd, Flags: []string{"k"}})
	step("store", "INBOX")
	if _, err := h.s.Copy(h.ctx, a, box, []store.UID{1}, other.ID, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	step("copy", "Other")
	if _, err := h.s.Move(h.ctx, a, box, []store.UID{3}, other.ID); err != nil {
		t.Fatal(err)
	}
	step("move", "INBOX", "Other")
	if _, err := h.s.Expunge(h.ctx, a, box, []store.UID{1}); err != nil {
		t.Fatal(err)
	}
	step("expunge", "INBOX")
	// A STORE that changes nothing takes no modseq.
	h.storeFlags(a, box, store.FlagUpdate{UIDs: []store.UID{2}, Op: store.FlagsAdd, Flags: []string{"k"}})
	if m := h.mailbox(a, "INBOX"); m.HighestModSeq != last[box] {
		t.Errorf("no-op STORE moved HIGHESTMODSEQ %d -> %d", last[box], m.HighestModSeq)
	}
	// Every change took its own modseq: published modseqs strictly increase per mailbox.
	per := map[store.MailboxID]uint64{}
	for _, c := range h.changes(1) {
		if c.Kind > store.MessageExpunged {
			continue
		}
		if c.ModSeq <= per[c.Mailbox] {
			t.Errorf("change %+v: modseq not above %d", c, per[c.Mailbox])
		}
		per[c.Mailbox] = c.ModSeq
	}
	if per[box] != last[box] || per[other.ID] != last[other.ID] {
		t.Errorf("last published modseqs %v, HIGHESTMODSEQ %v", per, last)
	}
	// CHANGEDSINCE (RFC 7162 3.1.4) returns what changed after a modseq.
	msgs := h.messages(a, box, store.Query{})
	base := msgs[0].ModSeq
	h.storeFlags(a, box, store.FlagUpdate{UIDs: []store.UID{2}, Op: store.FlagsAdd, Flags: []string{`\Seen`}})
	if got := uidsOf(h.messages(a, box, store.Query{ChangedSince: base})); !slices.Equal(got, []store.UID{2}) {
		t.Errorf("ChangedSince %d: %v, want [2]", base, got)
	}
	h.consistent(a)
}

func testExpunge(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	h.deliverN(a, "", 5)
	box := h.mailbox(a, "INBOX").ID
	h.pub.take()
	gone, err := h.s.Expunge(h.ctx, a, box, []store.UID{4, 2, 9, 4, 0})
	if err != nil || !slices.Equal(gone, []store.UID{2, 4}) {
		t.Errorf("Expunge = %v, %v; want [2 4]", gone, err)
	}
	h.consistent(a)
	gone, err = h.s.Expunge(h.ctx, a, box, []store.UID{2, 3})
	if err != nil || !slices.Equal(gone, []store.UID{3}) {
		t.Errorf("Expunge again = %v, %v; want [3]", gone, err)
	}
	if gone, err := h.s.Expunge(h.ctx, a, box, nil); err != nil || len(gone) != 0 {
		t.Errorf("Expunge(nil) = %v, %v", gone, err)
	}
	if got := uidsOf(h.messages(a, box, store.Query{})); !slices.Equal(got, []store.UID{1, 5}) {
		t.Errorf("left %v, want [1 5]", got)
	}
	var exp []store.UID
	for _, c := range h.changes(3) {
		if c.Kind != store.MessageExpunged || c.Mailbox != box || c.ModSeq == 0 {
			t.Errorf("change %+v", c)
		}
		exp = append(exp, c.UID)
	}
	if !slices.Equal(exp, []store.UID{2, 4, 3}) {
		t.Errorf("expunge changes %v", exp)
	}
	h.consistent(a)
}

func testQuery(t *testing.T, h *harness) {
	a := h.account("example.com", 1)
	// One delivery with 600 targets: more than any sensible page, in one commit.
	targets := make([]store.DeliveryTarget, 600)
	for i := range targets {
		targets[i] = store.DeliveryTarget{Account: a}
	}
	if _, err := h.s.Deliver(h.ctx, store.Delivery{Body: body(h.message()), Targets: targets}); err != nil {
		t.Fatal(err)
	}
	box := h.mailbox(a, "INBOX").ID
	all := uidsOf(h.messages(a, box, store.Query{}))
	if len(all) != 600 || !slices.IsSorted(all) || all[0] != 1 || all[599] != 600 {
		t.Errorf("all messages: %d, first %v", len(all), all[:min(3, len(all))])
	}
	cases := []struct {
		q    store.Query
		want []store.UID
	}{
		{store.Query{MinUID: 3, MaxUID: 7}, []store.UID{3, 4, 5, 6, 7}},
		{store.Query{Limit: 2}, []store.UID{1, 2}},
		{store.Query{MinUID: 598, Limit: 5}, []store.UID{598, 599, 600}},
		{store.Query{MinUID: 601}, nil},
	}
	for _, c := range cases {
		if got := uidsOf(h.messages(a, box, c.q)); !slices.Equal(got, c.want) {
			t.Errorf("Messages(%+v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := h.messages(a, box, store.Query{MinUID: 250, Limit: 300}); len(got) != 300 || got[299].UID != 549 {
		t.Errorf("limit across pages: %d messages", len(got))
	}
	stop := errors.New("stop")
	n := 0
	err := h.s.Messages(h.ctx, a, box, store.Query{}, func(store.Message) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("fn error: Messages returned %v after %d calls", err, n)
	}
	h.consistent(a)
}
