package managesieve_test

import (
	"strings"
	"testing"

	"mailgrid/internal/bus"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/managesieve"
	"mailgrid/internal/store"
)

// TestAccountEnded: a logged-in session whose account is deleted or disabled ends at
// once, without waiting for a command: BYE saying why (RFC 5804 1.3), then the close.
// Another account's end, and a move of the account, change nothing.
func TestAccountEnded(t *testing.T) {
	w := newWorld(t)
	b := bus.New()
	addr := w.start(t, func(o *managesieve.Options) { o.Bus = b })
	ref := deliverytest.Ref(w.user)
	for _, tc := range []struct {
		kind store.ChangeKind
		want string
	}{
		{store.AccountDeleted, `BYE "Account deleted`},
		{store.AccountDisabled, `BYE "Account disabled`},
	} {
		c := dialGreeted(t, addr)
		c.login(userAddr, userPass)
		b.Publish(store.Change{Kind: tc.kind, Account: store.AccountRef{Domain: ref.Domain, ID: ref.ID + 1000}},
			store.Change{Kind: store.AccountMoved, Account: ref})
		if got := c.cmd("NOOP"); !strings.HasPrefix(got, "OK") {
			t.Fatalf("NOOP after another account's end and a move: %q", got)
		}
		b.Publish(store.Change{Kind: tc.kind, Account: ref})
		c.ExpectPrefix(tc.want)
		c.Closed()
	}
}

// TestAccountEndedAfterOverflow: after the watch overflowed, the next command asks the
// directory: the account disabled ends the session with BYE.
func TestAccountEndedAfterOverflow(t *testing.T) {
	w := newWorld(t)
	b := bus.New()
	addr := w.start(t, func(o *managesieve.Options) { o.Bus = b })
	ref := deliverytest.Ref(w.user)
	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	b.Publish(store.Change{Kind: store.AccountResync, Account: ref})
	if got := c.cmd("NOOP"); !strings.HasPrefix(got, "OK") {
		t.Fatalf("NOOP after an overflow, account enabled: %q", got)
	}
	b.Publish(store.Change{Kind: store.AccountResync, Account: ref})
	off := false
	if _, err := w.Dir.UpdateAccount(t.Context(), w.user.Address, directory.AccountUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	c.Send("NOOP")
	c.ExpectPrefix(`BYE "Account disabled`)
	c.Closed()
}
