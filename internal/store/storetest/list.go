package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"mailgrid/internal/store"
)

// listFixture is one message of the list tests: what it is built from.
type listFixture struct {
	from, subject string
	date          int // minutes after the base date; equal values test the UID tie-break
	pad           int // body padding, so sizes differ
	flags         []string
}

var listFixtures = []listFixture{
	{`"Zoe" <zoe@example.org>`, "Meeting notes", 5, 10, nil},
	{"alice@example.org", "Re: Meeting notes", 7, 300, []string{store.FlagSeen}},
	{`"bob" <b@example.org>`, "[list] Budget", 5, 20, []string{store.FlagFlagged}},
	{`"Bob" <bob@example.org>`, "Fwd: budget (fwd)", 1, 40, []string{store.FlagSeen, store.FlagFlagged}},
	{"carol@example.net", "RE: [x] re: Zebra", 9, 5, nil},
	{`=?utf-8?q?=C3=89mile?= <e@example.org>`, "=?utf-8?q?=C3=A9t=C3=A9?=", 3, 60, []string{store.FlagSeen}},
	{"dave@example.org", "", 3, 1, []string{store.FlagFlagged}},
	{`"  Ann  " <ann@example.org>`, "[Fwd: apples]", 8, 80, nil},
	{"eve@example.org", "apples", 8, 15, []string{store.FlagSeen}},
	{"Frank <f@example.org>", "zebra", 2, 33, nil},
	{"alice@example.org", "Meeting   notes", 6, 7, []string{store.FlagFlagged}},
	{"gina@example.org", "Re: Re: apples", 4, 90, []string{store.FlagSeen}},
}

// deliverListFixtures delivers the fixtures (repeated times times) to mailbox of a.
func (h *harness) deliverListFixtures(a store.AccountRef, mailbox string, times int) {
	h.t.Helper()
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for r := range times {
		for i, f := range listFixtures {
			raw := fmt.Sprintf("From: %s\r\nTo: rcpt@example.com\r\nSubject: %s\r\nMessage-ID: <%d.%d.%s@example.org>\r\n\r\n%s\r\n",
				f.from, f.subject, r, i, h.t.Name(), fmt.Sprintf("%0*d", f.pad+r, i))
			res, err := h.s.Deliver(h.ctx, store.Delivery{Body: body(raw),
				InternalDate: base.Add(time.Duration(f.date+r*10) * time.Minute),
				Targets:      []store.DeliveryTarget{{Account: a, Mailbox: mailbox, Flags: f.flags}}})
			if err != nil || res[0].Err != nil {
				h.t.Fatalf("Deliver: %v %+v", err, res)
			}
		}
	}
}

// listOracle computes what ListMessages must return, from Messages and SortKeys.
func (h *harness) listOracle(a store.AccountRef, mbox store.MailboxID, q store.ListQuery) ([]store.UID, int) {
	h.t.Helper()
	type row struct {
		m             store.Message
		from, subject string
	}
	var all []row
	err := h.s.Messages(h.ctx, a, mbox, store.Query{}, func(m store.Message) error {
		switch {
		case q.Filter == store.FilterUnseen && slices.Contains(m.Flags, store.FlagSeen),
			q.Filter == store.FilterFlagged && !slices.Contains(m.Flags, store.FlagFlagged):
			return nil
		}
		f, s := store.SortKeys(m.Meta)
		all = append(all, row{m, f, s})
		return nil
	})
	if err != nil {
		h.t.Fatalf("Messages: %v", err)
	}
	slices.SortFunc(all, func(x, y row) int {
		var o int
		switch q.Sort {
		case store.SortSize:
			o = cmp.Compare(x.m.Size, y.m.Size)
		case store.SortFrom:
			o = cmp.Compare(x.from, y.from)
		case store.SortSubject:
			o = cmp.Compare(x.subject, y.subject)
		default:
			o = x.m.InternalDate.Compare(y.m.InternalDate)
		}
		if o == 0 {
			o = cmp.Compare(x.m.UID, y.m.UID)
		}
		if q.Desc {
			o = -o
		}
		return o
	})
	var uids []store.UID
	for i := q.Offset; i < len(all) && i < q.Offset+q.Limit; i++ {
		uids = append(uids, all[i].m.UID)
	}
	return uids, len(all)
}

func (h *harness) lister() store.Lister {
	h.t.Helper()
	l, ok := h.s.(store.Lister)
	if !ok {
		h.t.Skip("driver has no store.Lister")
	}
	return l
}

// checkList compares one ListMessages answer with the oracle.
func (h *harness) checkList(a store.AccountRef, mbox store.MailboxID, q store.ListQuery) {
	h.t.Helper()
	page, err := h.lister().ListMessages(h.ctx, a, mbox, q)
	if err != nil {
		h.t.Fatalf("ListMessages(%+v): %v", q, err)
	}
	want, total := h.listOracle(a, mbox, q)
	var got []store.UID
	for _, m := range page.Messages {
		got = append(got, m.UID)
		if len(m.Meta) == 0 || m.BlobID == "" {
			h.t.Errorf("ListMessages(%+v): UID %d without Meta or BlobID", q, m.UID)
		}
	}
	if !slices.Equal(got, want) || page.Total != total {
		h.t.Errorf("ListMessages(%+v) = %v total %d, want %v total %d", q, got, page.Total, want, total)
	}
}

// RunList runs only the list cases: a driver whose page query has several paths (by the
// size of the filtered set) runs them again with each path forced.
func RunList(t *testing.T, open OpenFunc) {
	for name, fn := range map[string]func(*testing.T, *harness){"ListMessages": testListMessages, "ListChanges": testListChanges} {
		t.Run(name, func(t *testing.T) { fn(t, newHarness(t, open)) })
	}
}

// testListMessages: every sort key, both orders, every filter, pages at the start, the
// middle, past the middle (read from the other end) and past the end agree with an
// oracle sorting in memory; base subjects (RFC 5256 2.1) and display names group as they
// should; ties break by UID.
func testListMessages(t *testing.T, h *harness) {
	a := h.account("list.example", 1)
	h.deliverListFixtures(a, "INBOX", 3)
	in := h.mailbox(a, "INBOX")
	n := 3 * len(listFixtures)
	for _, sort := range []string{store.SortDate, store.SortSize, store.SortFrom, store.SortSubject} {
		for _, desc := range []bool{false, true} {
			for _, filter := range []string{store.FilterNone, store.FilterUnseen, store.FilterFlagged} {
				for _, pg := range [][2]int{{0, 5}, {5, 5}, {n / 2, 7}, {n - 3, 5}, {n - 1, 1}, {n + 4, 5}, {0, store.MaxListLimit}} {
					h.checkList(a, in.ID, store.ListQuery{Sort: sort, Desc: desc, Filter: filter, Offset: pg[0], Limit: pg[1]})
				}
			}
		}
	}
	// The keys themselves: "Re: Re: apples", "[Fwd: apples]" and "apples" share a base
	// subject; "  Ann  " sorts as "ann"; the RFC 2047 subject is decoded.
	page, err := h.lister().ListMessages(h.ctx, a, in.ID, store.ListQuery{Sort: store.SortSubject, Limit: 9})
	if err != nil {
		t.Fatal(err)
	}
	var subj []string
	for _, m := range page.Messages {
		_, s := store.SortKeys(m.Meta)
		subj = append(subj, s)
	}
	if want := []string{"", "", "", "apples", "apples", "apples", "apples", "apples", "apples"}; !slices.Equal(subj, want) {
		t.Errorf("subject keys of the first page: %q, want %q", subj, want)
	}
	for subject, want := range map[string]string{"Re: [list] Fwd: Hello (fwd)": "hello", "[Fwd: Re: Été]": "été",
		"Re:": "", "[only blob]": "[only blob]", "  Meeting \t notes ": "meeting notes"} {
		if got := store.BaseSubject(subject); got != want {
			t.Errorf("BaseSubject(%q) = %q, want %q", subject, got, want)
		}
	}
}

// testListChanges: the list follows deliveries (keys of new rows filled before a page
// sorted by them), flag changes (filters), expunges, moves and copies; another account's
// mailbox is not found; a bad query is ErrInvalid.
func testListChanges(t *testing.T, h *harness) {
	a := h.account("list.example", 1)
	h.deliverListFixtures(a, "INBOX", 1)
	in := h.mailbox(a, "INBOX")
	arch := h.mailbox(a, "Archive")
	all := store.ListQuery{Sort: store.SortSubject, Limit: 100}
	h.checkList(a, in.ID, all)
	h.deliverListFixtures(a, "INBOX", 1) // new rows after the keys were filled
	h.checkList(a, in.ID, all)
	h.checkList(a, in.ID, store.ListQuery{Sort: store.SortFrom, Desc: true, Limit: 100})
	uids := h.deliverN(a, "INBOX", 3)
	h.storeFlags(a, in.ID, store.FlagUpdate{UIDs: uids[:2], Op: store.FlagsAdd, Flags: []string{store.FlagFlagged}})
	h.storeFlags(a, in.ID, store.FlagUpdate{UIDs: []store.UID{1, 2, 3}, Op: store.FlagsSet, Flags: []string{store.FlagSeen}})
	for _, f := range []string{store.FilterUnseen, store.FilterFlagged} {
		h.checkList(a, in.ID, store.ListQuery{Sort: store.SortSubject, Filter: f, Limit: 100})
		h.checkList(a, in.ID, store.ListQuery{Sort: store.SortDate, Desc: true, Filter: f, Limit: 3})
	}
	if _, err := h.s.Expunge(h.ctx, a, in.ID, []store.UID{4, 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Move(h.ctx, a, in.ID, []store.UID{6, 7, 8}, arch.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Copy(h.ctx, a, in.ID, []store.UID{9, 10}, arch.ID, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	for _, mb := range []store.MailboxID{in.ID, arch.ID} {
		h.checkList(a, mb, all)
		h.checkList(a, mb, store.ListQuery{Sort: store.SortFrom, Filter: store.FilterFlagged, Limit: 100})
		h.checkList(a, mb, store.ListQuery{Sort: store.SortSize, Filter: store.FilterUnseen, Desc: true, Limit: 2, Offset: 1})
	}
	other := h.account("other.example", 1)
	if _, err := h.lister().ListMessages(h.ctx, other, in.ID, all); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another account's mailbox: %v, want ErrNotFound", err)
	}
	for _, q := range []store.ListQuery{{Sort: "uid", Limit: 1}, {Filter: "seen", Limit: 1}, {Limit: 0},
		{Limit: store.MaxListLimit + 1}, {Offset: -1, Limit: 1}} {
		if _, err := h.lister().ListMessages(h.ctx, a, in.ID, q); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ListMessages(%+v): %v, want ErrInvalid", q, err)
		}
	}
}
