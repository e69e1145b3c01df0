package delivery_test

import (
	"context"
	"testing"

	"mailgrid/internal/delivery"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
	"mailgrid/internal/store"
)

// TestSpecialUseFiling: a filing into `\Junk` lands in the account's Junk mailbox by
// role after the user renamed it, and once when a name and the role meet.
func TestSpecialUseFiling(t *testing.T) {
	ctx := context.Background()
	e := deliverytest.New(t, deliverytest.Options{Chains: chains(t, func(c *filter.Chains) {
		addRule(t, c, filter.StageLocal, "", filter.Rule{Mailet: mailet("junk", func(_ *filter.Mail, r *filter.Recipient) {
			r.KeepIn(store.Junk)
			r.FileInto("Spam", nil, true) // the same mailbox by name
		})})
	})})
	e.Domain(t, "local.test", 0, 0)
	a := e.Account(t, "user@local.test", "pw-user-1234", 0)
	ref := store.AccountRef{Domain: "local.test", ID: a.ID}
	if err := e.Store.EnsureAccount(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := e.Store.RenameMailbox(ctx, ref, "Junk", "Spam"); err != nil {
		t.Fatal(err)
	}
	env := &delivery.Envelope{From: mail.MustParse("x@remote.example"), Recipients: []delivery.Recipient{{Addr: a.Address}}}
	res, err := e.Pipeline.Deliver(ctx, env, delivery.Bytes("Subject: cheap\r\n\r\nbuy\r\n"))
	if reply, _ := delivery.Outcome(res, err); reply != nil {
		t.Fatal(reply)
	}
	if n := len(e.Messages(t, a, "Spam")); n != 1 {
		t.Errorf("Spam (renamed Junk) holds %d, want 1", n)
	}
	if n := len(e.Messages(t, a, store.Inbox)); n != 0 {
		t.Errorf("INBOX holds %d", n)
	}
}
