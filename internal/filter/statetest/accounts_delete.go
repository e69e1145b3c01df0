package statetest

import (
	"errors"
	"testing"
	"time"

	"mailgrid/internal/filter"
	"mailgrid/internal/filter/bayes"
	"mailgrid/internal/mail"
	"mailgrid/internal/message/body"
	"mailgrid/internal/store"
)

// testDeleteAccount: DeleteAccount removes one account's spam level, Bayes counts and
// training log, scripts, vacation memory, documents and quarantined copies; the domain's
// default level, block list and rules, another account of the domain and the same ID in
// another domain keep theirs, and a body held for both stays readable by the other copy.
func testDeleteAccount(t *testing.T, open Opener) {
	d := openState(t, open)
	c := ctx(t)
	gone := alice
	mate := store.AccountRef{Domain: alice.Domain, ID: 2}
	high, low := bayes.LevelHigh, bayes.LevelLow
	must(t, d.SetDomainSpamLevel(c, alice.Domain, &low))
	v, err := filter.NormalizeBlock(filter.BlockSender, "spam@bad.example")
	must(t, err)
	must(t, d.AddBlock(c, filter.BlockEntry{Domain: alice.Domain, Kind: filter.BlockSender, Value: v}))
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, a := range []store.AccountRef{gone, mate, bob} {
		must(t, d.SetSpamLevel(c, a, &high))
		must(t, d.Tokens(a).Add(c, []string{"viagra", "cheap"}, 1, 0))
		must(t, d.SetTrained(c, a, "blob-1", bayes.Spam))
		must(t, d.PutScript(c, a, "main", "keep;"))
		must(t, d.SetActive(c, a, "main"))
		if due, err := d.MarkReplied(c, a, "x@remote.example", "h", now, 7*24*time.Hour); err != nil || !due {
			t.Fatalf("first vacation reply of %+v: %v %v", a, due, err)
		}
		must(t, d.PutDoc(c, a, "prefs", []byte(`{"x":1}`)))
	}
	held, err := d.Hold(c, []filter.Held{
		{Domain: gone.Domain, Account: gone.ID, Rcpt: mail.MustParse("a@one.test"), Reason: "virus", Mailet: "virus"},
		{Domain: mate.Domain, Account: mate.ID, Rcpt: mail.MustParse("m@one.test"), Reason: "virus", Mailet: "virus"},
	}, body.Bytes(QuarantineMessage))
	must(t, err)

	must(t, d.DeleteAccount(c, gone))
	must(t, d.DeleteAccount(c, gone)) // nothing left: no error
	for _, bad := range []store.AccountRef{{Domain: alice.Domain}, {ID: 1}} {
		if err := d.DeleteAccount(c, bad); !errors.Is(err, filter.ErrInvalid) {
			t.Errorf("DeleteAccount(%+v): %v, want ErrInvalid", bad, err)
		}
	}

	for _, a := range []store.AccountRef{gone, mate, bob} {
		kept := a != gone
		lvl, err := d.SpamLevel(c, a)
		must(t, err)
		if want := map[bool]bayes.Level{true: high, false: low}[kept]; lvl != want {
			t.Errorf("%+v spam level %v, want %v", a, lvl, want)
		}
		tot, err := d.Tokens(a).Totals(c)
		must(t, err)
		counts, err := d.Tokens(a).Get(c, []string{"viagra"})
		must(t, err)
		if (tot.Spam == 1 && counts[0].Spam == 1) != kept || !kept && (tot != bayes.Counts{} || counts[0] != bayes.Counts{}) {
			t.Errorf("%+v Bayes totals %+v, token %+v (kept %v)", a, tot, counts[0], kept)
		}
		if _, ok, err := d.TrainedAs(c, a, "blob-1"); err != nil || ok != kept {
			t.Errorf("%+v training log: %v %v (kept %v)", a, ok, err, kept)
		}
		if s, err := d.Scripts(c, a); err != nil || (len(s) == 1) != kept || !kept && len(s) != 0 {
			t.Errorf("%+v scripts: %+v %v (kept %v)", a, s, err, kept)
		}
		if _, _, err := d.ActiveScript(c, a); kept && err != nil || !kept && !errors.Is(err, filter.ErrNotFound) {
			t.Errorf("%+v active script: %v (kept %v)", a, err, kept)
		}
		// The vacation memory is gone: the same sender gets a reply again at once.
		if due, err := d.MarkReplied(c, a, "x@remote.example", "h", now.Add(time.Hour), 7*24*time.Hour); err != nil || due == kept {
			t.Errorf("%+v vacation reply due %v, %v (kept %v)", a, due, err, kept)
		}
		if _, err := d.Doc(c, a, "prefs"); kept && err != nil || !kept && !errors.Is(err, filter.ErrNotFound) {
			t.Errorf("%+v document: %v (kept %v)", a, err, kept)
		}
	}
	if bl, err := d.Blocks(c, alice.Domain); err != nil || len(bl) != 1 {
		t.Errorf("the domain's block list: %+v %v", bl, err)
	}
	if q, err := d.List(c, filter.QuarantineQuery{Domain: alice.Domain}); err != nil || len(q) != 1 || q[0].Account != mate.ID {
		t.Errorf("quarantine of %s: %+v %v; want the other account's copy", alice.Domain, q, err)
	}
	if _, err := d.Get(c, gone.Domain, held[0].ID); !errors.Is(err, filter.ErrNotFound) {
		t.Errorf("the deleted account's held copy: %v", err)
	}
	readHeld(t, d, mate.Domain, held[1].ID, QuarantineMessage)
}
