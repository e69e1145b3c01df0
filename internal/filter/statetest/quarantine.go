package statetest

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
)

// QuarantineMessage is the body testQuarantine holds (larger than any one-row chunk a
// driver might use), exported so a driver's own layout test can hold the same.
var QuarantineMessage = "Subject: infected\r\n\r\n" + strings.Repeat("0123456789abcdef", 40000)

// testQuarantine: a message held for two tenants is one body; each tenant sees only its
// copy; the body reads back exactly (also at offsets, through another handle); deleting
// one copy keeps the other's body; expiry removes the rest.
func testQuarantine(t *testing.T, open Opener) {
	d := openState(t, open)
	c := ctx(t)
	if _, err := d.Hold(c, nil, body.Bytes("x")); !errors.Is(err, filter.ErrInvalid) {
		t.Fatalf("holding for nobody: %v", err)
	}
	msg := QuarantineMessage
	held, err := d.Hold(c, []filter.Held{
		{Domain: "one.test", Account: 1, Rcpt: mail.MustParse("a@one.test"), From: mail.MustParse("bad@remote.example"), Reason: "virus Test.Sig", Mailet: "virus"},
		{Domain: "two.test", Account: 7, Rcpt: mail.MustParse("b@two.test"), From: mail.MustParse("bad@remote.example"), Reason: "virus Test.Sig", Mailet: "virus"},
	}, body.Bytes(msg))
	must(t, err)
	if len(held) != 2 || held[0].ID == 0 || held[0].ID == held[1].ID || held[0].BlobID == "" || held[0].BlobID != held[1].BlobID ||
		held[0].Size != int64(len(msg)) || held[0].Created.IsZero() {
		t.Fatalf("held %+v", held)
	}
	list, err := d.List(c, filter.QuarantineQuery{Domain: "one.test"})
	must(t, err)
	if len(list) != 1 || list[0].ID != held[0].ID || list[0].Reason != "virus Test.Sig" || list[0].Mailet != "virus" ||
		list[0].Account != 1 || list[0].Rcpt.String() != "a@one.test" || list[0].From.String() != "bad@remote.example" ||
		list[0].Size != int64(len(msg)) || list[0].BlobID != held[0].BlobID || !list[0].Created.Equal(held[0].Created) {
		t.Fatalf("domain list %+v, held %+v", list, held[0])
	}
	if all, _ := d.List(c, filter.QuarantineQuery{}); len(all) != 2 {
		t.Fatalf("system list has %d", len(all))
	}
	if mine, _ := d.List(c, filter.QuarantineQuery{Domain: "two.test", Account: 7}); len(mine) != 1 || mine[0].ID != held[1].ID {
		t.Fatalf("account list %+v", mine)
	}
	if none, _ := d.List(c, filter.QuarantineQuery{Domain: "two.test", Account: 1}); len(none) != 0 {
		t.Fatalf("another account's list %+v", none)
	}
	if _, err := d.Get(c, "two.test", held[0].ID); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("cross-tenant Get: %v", err)
	}
	if _, err := d.Open(c, "two.test", held[0].ID); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("cross-tenant Open: %v", err)
	}
	if err := d.Delete(c, "two.test", held[0].ID); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("cross-tenant Delete: %v", err)
	}
	if g, err := d.Get(c, "one.test", held[0].ID); err != nil || g.Reason != "virus Test.Sig" {
		t.Fatalf("Get: %+v %v", g, err)
	}
	readHeld(t, d, "one.test", held[0].ID, msg)
	other := openState(t, open) // another node reads the copy this one held
	readHeld(t, other, "two.test", held[1].ID, msg)

	must(t, d.Delete(c, "one.test", held[0].ID))
	if _, err := d.Get(c, "one.test", held[0].ID); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("deleted copy: %v", err)
	}
	if err := d.Delete(c, "one.test", held[0].ID); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	readHeld(t, d, "two.test", held[1].ID, msg) // the other copy keeps the body

	// The same body held again while a copy exists: stored once, both readable.
	again, err := other.Hold(c, []filter.Held{{Domain: "one.test", Account: 2, Rcpt: mail.MustParse("c@one.test"), Reason: "again", Mailet: "rules"}},
		body.Bytes(msg))
	must(t, err)
	if again[0].BlobID != held[1].BlobID || !again[0].From.IsZero() {
		t.Fatalf("held again %+v", again[0])
	}
	if n, err := d.Expire(c, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("expire of nothing old: %d %v", n, err)
	}
	if n, err := d.Expire(c, time.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("expire: %d %v", n, err)
	}
	if all, _ := d.List(c, filter.QuarantineQuery{}); len(all) != 0 {
		t.Fatalf("after expiry: %+v", all)
	}
	// A body whose copies all went can be held anew.
	fresh, err := d.Hold(c, []filter.Held{{Domain: "one.test", Account: 1, Rcpt: mail.MustParse("a@one.test"), Reason: "r", Mailet: "m"}}, body.Bytes(msg))
	must(t, err)
	readHeld(t, other, "one.test", fresh[0].ID, msg)
}

// readHeld opens a held copy and compares its body with want, read whole and at an
// offset that crosses any chunking a driver uses.
func readHeld(t *testing.T, d State, domain string, id int64, want string) {
	t.Helper()
	b, err := d.Open(ctx(t), domain, id)
	must(t, err)
	defer func() { must(t, b.Close()) }()
	if b.Size() != int64(len(want)) {
		t.Fatalf("held body size %d, want %d", b.Size(), len(want))
	}
	got, err := io.ReadAll(body.Reader(b))
	must(t, err)
	if string(got) != want {
		t.Fatalf("held body differs: %d octets, want %d", len(got), len(want))
	}
	off := int64(len(want)) / 3
	p := make([]byte, len(want)/2)
	if n, err := b.ReadAt(p, off); n != len(p) || (err != nil && err != io.EOF) || string(p) != want[off:off+int64(len(p))] {
		t.Fatalf("ReadAt %d: %d octets, %v", off, n, err)
	}
	if n, err := b.ReadAt(p, int64(len(want))-10); n != 10 || err != io.EOF {
		t.Fatalf("ReadAt past the end: %d, %v", n, err)
	}
}

// testQuarantineList: newest first, Limit honoured.
func testQuarantineList(t *testing.T, open Opener) {
	d := openState(t, open)
	c := ctx(t)
	var ids []int64
	for i := range 5 {
		h, err := d.Hold(c, []filter.Held{{Domain: "one.test", Account: 1, Rcpt: mail.MustParse("a@one.test"),
			Reason: "spam", Mailet: "rules"}}, body.Bytes("Subject: "+strings.Repeat("x", i)+"\r\n\r\nbody\r\n"))
		must(t, err)
		ids = append(ids, h[0].ID)
	}
	list, err := d.List(c, filter.QuarantineQuery{Domain: "one.test", Limit: 3})
	must(t, err)
	if len(list) != 3 || list[0].ID != ids[4] || list[1].ID != ids[3] || list[2].ID != ids[2] {
		t.Fatalf("newest three: %+v (ids %v)", list, ids)
	}
}

// testBlockLists: add, duplicate, list by kind then value, remove, per domain.
func testBlockLists(t *testing.T, open Opener) {
	d := openState(t, open)
	c := ctx(t)
	add := func(domain string, kind filter.BlockKind, value, note string) error {
		v, err := filter.NormalizeBlock(kind, value)
		must(t, err)
		return d.AddBlock(c, filter.BlockEntry{Domain: domain, Kind: kind, Value: v, Note: note})
	}
	must(t, add("", filter.BlockIP, "192.0.2.0/24", "botnet"))
	must(t, add("", filter.BlockSender, "spam@bad.example", ""))
	must(t, add("", filter.BlockSenderDomain, "bad.example", ""))
	must(t, add("one.test", filter.BlockSender, "ex@partner.example", "ex-partner"))
	if err := add("", filter.BlockIP, "192.0.2.0/24", "again"); !errors.Is(err, filter.ErrExists) {
		t.Fatalf("duplicate: %v", err)
	}
	sys, err := d.Blocks(c, "")
	must(t, err)
	if len(sys) != 3 || sys[0].Kind != filter.BlockSender || sys[1].Kind != filter.BlockSenderDomain || sys[2].Kind != filter.BlockIP ||
		sys[2].Value != "192.0.2.0/24" || sys[2].Note != "botnet" || sys[2].Created.IsZero() || sys[0].Domain != "" {
		t.Fatalf("system list %+v", sys)
	}
	one, err := d.Blocks(c, "one.test")
	must(t, err)
	if len(one) != 1 || one[0].Domain != "one.test" || one[0].Note != "ex-partner" {
		t.Fatalf("domain list %+v", one)
	}
	if two, _ := d.Blocks(c, "two.test"); len(two) != 0 {
		t.Fatalf("another domain's list %+v", two)
	}
	must(t, d.RemoveBlock(c, "", filter.BlockIP, "192.0.2.0/24"))
	if err := d.RemoveBlock(c, "", filter.BlockIP, "192.0.2.0/24"); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
	if err := d.RemoveBlock(c, "two.test", filter.BlockSender, one[0].Value); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("remove another domain's entry: %v", err)
	}
	if sys, _ := d.Blocks(c, ""); len(sys) != 2 {
		t.Fatalf("after remove %+v", sys)
	}
}

// testDomainRules: create, replace, order by position then ID, conditions round-trip,
// delete, per domain.
func testDomainRules(t *testing.T, open Opener) {
	d := openState(t, open)
	c := ctx(t)
	r1, err := d.PutDomainRule(c, filter.DomainRule{Domain: "one.test", Name: "big", Position: 2, Enabled: true,
		Conditions: []filter.Condition{{Field: filter.FieldSize, Op: filter.OpOver, Value: "1000000"}},
		Action:     filter.ActionQuarantine, Arg: "too big"})
	must(t, err)
	r2, err := d.PutDomainRule(c, filter.DomainRule{Domain: "one.test", Name: "lists", Position: 1, MatchAny: true,
		Conditions: []filter.Condition{
			{Field: filter.FieldHeader, Header: "List-Id", Op: filter.OpExists},
			{Field: filter.FieldSubject, Op: filter.OpContains, Value: "[list]", Not: true},
		},
		Action: filter.ActionFileInto, Arg: "Lists"})
	must(t, err)
	r3, err := d.PutDomainRule(c, filter.DomainRule{Domain: "", Name: "system", Position: 2, Enabled: true,
		Conditions: []filter.Condition{{Field: filter.FieldFrom, Op: filter.OpIs, Value: "x@y.example"}}, Action: filter.ActionReject})
	must(t, err)
	if r1.ID == 0 || r2.ID == 0 || r1.ID == r2.ID || r3.ID == 0 {
		t.Fatalf("IDs %d %d %d", r1.ID, r2.ID, r3.ID)
	}
	rules, err := d.DomainRules(c, "one.test")
	must(t, err)
	if len(rules) != 2 || rules[0].ID != r2.ID || rules[1].ID != r1.ID {
		t.Fatalf("order %+v", rules)
	}
	g := rules[0]
	if g.Domain != "one.test" || g.Name != "lists" || g.Enabled || !g.MatchAny || g.Action != filter.ActionFileInto || g.Arg != "Lists" ||
		len(g.Conditions) != 2 || g.Conditions[0] != r2.Conditions[0] || g.Conditions[1] != r2.Conditions[1] {
		t.Fatalf("round trip %+v", g)
	}
	// Equal positions: by ID.
	r1.Position = 1
	r1.Name = "big mail"
	_, err = d.PutDomainRule(c, r1)
	must(t, err)
	rules, _ = d.DomainRules(c, "one.test")
	if len(rules) != 2 || rules[0].ID != min(r1.ID, r2.ID) || rules[0].Position != 1 || rules[1].Position != 1 {
		t.Fatalf("after replace %+v", rules)
	}
	for _, r := range rules {
		if r.ID == r1.ID && r.Name != "big mail" {
			t.Fatalf("replaced name %q", r.Name)
		}
	}
	if _, err := d.PutDomainRule(c, filter.DomainRule{ID: r1.ID, Domain: "two.test", Name: "steal", Action: filter.ActionDrop,
		Conditions: r1.Conditions}); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("replace another domain's rule: %v", err)
	}
	if sys, _ := d.DomainRules(c, ""); len(sys) != 1 || sys[0].ID != r3.ID || sys[0].Action != filter.ActionReject {
		t.Fatalf("system rules %+v", sys)
	}
	if err := d.DeleteDomainRule(c, "two.test", r1.ID); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("delete another domain's rule: %v", err)
	}
	must(t, d.DeleteDomainRule(c, "one.test", r1.ID))
	if err := d.DeleteDomainRule(c, "one.test", r1.ID); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if rules, _ := d.DomainRules(c, "one.test"); len(rules) != 1 || rules[0].ID != r2.ID {
		t.Fatalf("after delete %+v", rules)
	}
}
