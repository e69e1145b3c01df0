package statetest

import (
	"errors"
	"testing"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
	"mailgrid/internal/store"
)

// testDeleteDomain: DeleteDomain removes one domain's block list, rules, switches,
// quarantined copies, scripts and documents; the other domain and the system-wide
// entries stay, and a body held for both stays readable by the other.
func testDeleteDomain(t *testing.T, open Opener) {
	d := openState(t, open)
	c := ctx(t)
	gone, kept := "one.test", "two.test"
	for _, dom := range []string{gone, kept, ""} {
		v, err := filter.NormalizeBlock(filter.BlockSender, "spam@bad.example")
		must(t, err)
		must(t, d.AddBlock(c, filter.BlockEntry{Domain: dom, Kind: filter.BlockSender, Value: v}))
		_, err = d.PutDomainRule(c, filter.DomainRule{Domain: dom, Name: "big", Position: 1, Enabled: true,
			Conditions: []filter.Condition{{Field: filter.FieldSize, Op: filter.OpOver, Value: "1000"}},
			Action:     filter.ActionQuarantine, Arg: "too big"})
		must(t, err)
		if dom == "" {
			continue
		}
		must(t, d.SetDomainSwitches(c, dom, filter.Switches{NoAntispam: true}))
		acct := store.AccountRef{Domain: dom, ID: 3}
		must(t, d.PutScript(c, acct, "main", "keep;"))
		must(t, d.PutDoc(c, acct, "contacts", []byte(`{}`)))
	}
	held, err := d.Hold(c, []filter.Held{
		{Domain: gone, Account: 3, Rcpt: mail.MustParse("a@one.test"), Reason: "virus", Mailet: "virus"},
		{Domain: kept, Account: 3, Rcpt: mail.MustParse("b@two.test"), Reason: "virus", Mailet: "virus"},
	}, body.Bytes(QuarantineMessage))
	must(t, err)

	must(t, d.DeleteDomain(c, gone))
	must(t, d.DeleteDomain(c, gone)) // nothing left: no error
	if err := d.DeleteDomain(c, ""); !errors.Is(err, filter.ErrInvalid) {
		t.Fatalf("deleting the system-wide state: %v", err)
	}

	for _, dom := range []string{gone, kept, ""} {
		want := 1
		if dom == gone {
			want = 0
		}
		if bl, err := d.Blocks(c, dom); err != nil || len(bl) != want {
			t.Errorf("blocks of %q: %+v %v", dom, bl, err)
		}
		if rs, err := d.DomainRules(c, dom); err != nil || len(rs) != want {
			t.Errorf("rules of %q: %+v %v", dom, rs, err)
		}
		if q, err := d.List(c, filter.QuarantineQuery{Domain: dom}); dom != "" && (err != nil || len(q) != want) {
			t.Errorf("quarantine of %q: %+v %v", dom, q, err)
		}
		if dom == "" {
			continue
		}
		sw, err := d.DomainSwitches(c, dom)
		if err != nil || sw.NoAntispam != (want == 1) {
			t.Errorf("switches of %q: %+v %v", dom, sw, err)
		}
		acct := store.AccountRef{Domain: dom, ID: 3}
		if s, err := d.Scripts(c, acct); err != nil || len(s) != want {
			t.Errorf("scripts of %q: %+v %v", dom, s, err)
		}
		if doc, err := d.Doc(c, acct, "contacts"); want == 1 && err != nil || want == 0 && !errors.Is(err, filter.ErrNotFound) {
			t.Errorf("doc of %q: %q %v", dom, doc, err)
		}
	}
	readHeld(t, d, kept, held[1].ID, QuarantineMessage)
	if _, err := d.Get(c, gone, held[0].ID); !errors.Is(err, filter.ErrNotFound) {
		t.Fatalf("the deleted domain's held copy: %v", err)
	}
}
