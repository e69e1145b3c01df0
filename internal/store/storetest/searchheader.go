package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// headerFixtures are messages whose header fields exercise the header search semantics:
// display names (RFC 2047 encoded, quoted, non-ASCII, upper case), several addresses,
// groups, a Cc and Bcc, a raw and a decoded subject, invalid UTF-8 and a missing field.
var headerFixtures = []string{
	"From: Alice Example <ALICE@Example.org>\r\nTo: bob@example.com, \"Carol C.\" <carol@example.net>\r\nSubject: Quarterly report\r\n\r\nx\r\n",
	"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\r\nTo: Team: dave@example.com, eve@example.com;\r\nCc: Frank <frank@example.org>, grace@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n\r\nx\r\n",
	"From: bob@example.com\r\nBcc: Secret Sharer <hidden@example.org>\r\nSubject: Re: Quarterly REPORT (fwd)\r\n\r\nx\r\n",
	"From: \"Zoë \xff\xfe Odd\" <odd@example.org>\r\nTo: undisclosed-recipients:;\r\n\r\nno subject\r\n",
	"To: nobody@example.com\r\nSubject: no from at all\r\n\r\nx\r\n",
	"From: Alice Example <alice@example.org>\r\nTo: Ünïcode Name <u@example.com>\r\nCc: ALICE@EXAMPLE.ORG\r\nSubject: ΣΊΣΥΦΟΣ and alice\r\n\r\nx\r\n",
}

var headerNeedles = []string{"", "alice", "ALICE@example", "example.org>", "lice e", "<bob@", "bob@example.com",
	"jürgen", "JÜRGEN MÜLLER <jm@", "carol c.", "\"carol", "team", "dave", "frank <frank", "grace@", "secret",
	"hidden@example.org", "report", "re: quarterly", "=?utf-8?q?", "grüße", "köln", "zoë", "\ufffd", "odd <odd",
	"σίσυφος", "σ", "ünïcode", ", ", " ", "<", "nothing matches this", "no from"}

// testSearchHeader compares store.HeaderSearcher with the definition (store package doc,
// headersearch.go) evaluated over each message's Meta, for every field and many needles,
// in a delivered mailbox and in a copy of it; UID ranges, another account's mailbox and
// needles the text cannot answer.
func testSearchHeader(t *testing.T, h *harness) {
	hs, ok := h.s.(store.HeaderSearcher)
	if !ok {
		t.Skip("driver keeps no header text (store.HeaderSearcher is optional)")
	}
	a := h.account("example.com", 1)
	inbox := h.mailbox(a, "INBOX").ID
	for _, m := range headerFixtures {
		h.deliver(a, "INBOX", m)
	}
	copies := h.create(a, "Copies").ID
	all := h.messages(a, inbox, store.Query{})
	uids := make([]store.UID, len(all))
	for i, m := range all {
		uids[i] = m.UID
	}
	if _, err := h.s.Copy(h.ctx, a, inbox, uids, copies, store.Quota{}); err != nil {
		t.Fatal(err)
	}
	for _, mbox := range []store.MailboxID{inbox, copies} {
		h.checkHeaderSearch(hs, a, mbox, 0, 0)
	}
	h.checkHeaderSearch(hs, a, inbox, 2, 4)
	other := h.account("example.com", 2)
	if _, _, err := hs.SearchHeader(h.ctx, other, inbox, store.HeaderQuery{Field: store.HeaderFrom, Needle: "alice"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another account's mailbox: %v, want ErrNotFound", err)
	}
	for _, q := range []store.HeaderQuery{{Field: "date", Needle: "x"}, {Field: store.HeaderFrom, Needle: "a\nb"}, {Field: store.HeaderTo, Needle: "a\x00"}} {
		if _, _, err := hs.SearchHeader(h.ctx, a, inbox, q); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("SearchHeader(%+v): %v, want ErrInvalid", q, err)
		}
	}
}

// checkHeaderSearch compares SearchHeader over lo..hi with headerOracle.
func (h *harness) checkHeaderSearch(hs store.HeaderSearcher, a store.AccountRef, mbox store.MailboxID, lo, hi store.UID) {
	h.t.Helper()
	msgs := h.messages(a, mbox, store.Query{MinUID: lo, MaxUID: hi})
	for _, field := range []string{store.HeaderFrom, store.HeaderTo, store.HeaderCc, store.HeaderBcc, store.HeaderSubject} {
		for _, needle := range headerNeedles {
			var want []store.UID
			for _, m := range msgs {
				if headerOracle(h.t, m.Meta, field, needle) {
					want = append(want, m.UID)
				}
			}
			got, unsure, err := hs.SearchHeader(h.ctx, a, mbox, store.HeaderQuery{Field: field, Needle: needle, MinUID: lo, MaxUID: hi})
			if err != nil {
				h.t.Fatalf("SearchHeader(%s %q): %v", field, needle, err)
			}
			if !slices.Equal(got, want) || len(unsure) > 0 {
				h.t.Errorf("SearchHeader(%s %q, %d:%d) = %v unsure %v, want %v", field, needle, lo, hi, got, unsure, want)
			}
		}
	}
}

// headerOracle is the definition of a header search key (RFC 9051 6.4.4 as the IMAP
// front-end evaluates it over Meta): a case-insensitive substring of the decoded display
// list or of one envelope address "Name <mailbox@host>" (FROM, TO), of one envelope
// address (CC, BCC), of the decoded or the raw subject (SUBJECT).
func headerOracle(t *testing.T, meta []byte, field, needle string) bool {
	var info message.Info
	if err := json.Unmarshal(meta, &info); err != nil {
		t.Fatalf("meta: %v", err)
	}
	in := func(s string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(needle)) }
	addrs := func(l []message.Address) bool {
		return slices.ContainsFunc(l, func(ad message.Address) bool {
			return in(fmt.Sprintf("%s <%s@%s>", ad.Name, ad.Mailbox, ad.Host))
		})
	}
	switch field {
	case store.HeaderFrom:
		return in(info.From) || addrs(info.Envelope.From)
	case store.HeaderTo:
		return in(info.To) || addrs(info.Envelope.To)
	case store.HeaderCc:
		return addrs(info.Envelope.Cc)
	case store.HeaderBcc:
		return addrs(info.Envelope.Bcc)
	case store.HeaderSubject:
		return in(info.Subject) || in(info.Envelope.Subject)
	}
	t.Fatalf("unknown field %q", field)
	return false
}

// testImportHeaderSearch: messages imported by a migration carry their header text (the
// import path writes it, as delivery does), so a header search on the target answers
// as the definition says, the header fixtures included.
func testImportHeaderSearch(t *testing.T, p *pair) {
	hs, ok := p.dst.(store.HeaderSearcher)
	if !ok {
		t.Skip("target keeps no header text (store.HeaderSearcher is optional)")
	}
	a := acct("example.com", 7)
	p.seedAccount(t, a)
	for _, m := range headerFixtures {
		p.h.deliver(a, "INBOX", m)
	}
	p.copyAll(t, a)
	dst := &harness{t: t, ctx: t.Context(), pub: p.pub, s: p.dst}
	inbox := dst.mailbox(a, "INBOX").ID
	dst.checkHeaderSearch(hs, a, inbox, 0, 0)
}

// BenchSearchHeader measures store.HeaderSearcher's SEARCH FROM over an INBOX of 250
// messages (make bench's IMAP mix: every message from one sender), the needle matching
// all of them or one in seven; "all-commit" has a commit (a flag change) before each
// search, outside the timing: SQLite's readers then read the pages again (WAL mode).
func BenchSearchHeader(b *testing.B, s store.Store) {
	hs, ok := s.(store.HeaderSearcher)
	if !ok {
		b.Skip("driver keeps no header text")
	}
	ctx := b.Context()
	a := acct("example.com", 1)
	if err := s.EnsureAccount(ctx, a); err != nil {
		b.Fatal(err)
	}
	var inbox store.MailboxID
	for i := range 250 {
		m := fmt.Sprintf("From: Sender %d <sender%d@client.bench>\r\nTo: user@bench.test\r\nSubject: bench %d\r\n\r\nbody\r\n", i%7, i%7, i)
		res, err := s.Deliver(ctx, store.Delivery{Body: body(m), Targets: []store.DeliveryTarget{{Account: a}}})
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res)
		}
		inbox = res[0].Mailbox
	}
	for _, bc := range []struct {
		name, needle string
		want         int
		commit       bool
	}{{"all", "client.bench", 250, false}, {"seventh", "sender3@", 36, false}, {"all-commit", "client.bench", 250, true}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if bc.commit {
					b.StopTimer()
					op := []store.FlagOp{store.FlagsAdd, store.FlagsRemove}[i%2]
					if _, err := s.StoreFlags(ctx, a, inbox, store.FlagUpdate{UIDs: []store.UID{store.UID(1 + i/2%250)},
						Op: op, Flags: []string{`\Flagged`}}); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				m, u, err := hs.SearchHeader(ctx, a, inbox, store.HeaderQuery{Field: store.HeaderFrom, Needle: bc.needle})
				if err != nil || len(m) != bc.want || len(u) > 0 {
					b.Fatalf("SearchHeader(%q): %d matches, %d unsure, %v; want %d", bc.needle, len(m), len(u), err, bc.want)
				}
			}
		})
	}
}
