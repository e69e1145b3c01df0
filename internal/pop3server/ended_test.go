package pop3server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"mailgrid/internal/bus"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/pop3server"
	"mailgrid/internal/store"
)

// movedDir reports the account on another shard once moved is set (what the directory
// says after a move's switch).
type movedDir struct {
	directory.Directory
	moved atomic.Bool
}

func (d *movedDir) AccountByID(ctx context.Context, domain string, id int64) (directory.Account, error) {
	a, err := d.Directory.AccountByID(ctx, domain, id)
	if err == nil && d.moved.Load() {
		a.Shard = "elsewhere"
	}
	return a, err
}

// TestAccountEnded: a session in the TRANSACTION state whose account moved, was deleted
// or was disabled ends at once, without waiting for a command: its last line (-ERR
// [SYS/TEMP] for a move, -ERR saying why otherwise) and the connection's close, without
// UPDATE (the message it marked deleted stays). Another account's end changes nothing.
func TestAccountEnded(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200), testMessage(2, 200))
	b := bus.New()
	addr := w.start(t, func(o *pop3server.Options) { o.Bus = b })
	ref := deliverytest.Ref(w.user)
	for _, tc := range []struct {
		kind       store.ChangeKind
		prefix, in string
	}{
		{store.AccountMoved, "-ERR [SYS/TEMP] ", "moved"},
		{store.AccountDeleted, "-ERR Account deleted", "deleted"},
		{store.AccountDisabled, "-ERR Account disabled", "disabled"},
	} {
		c := dialGreeted(t, addr)
		c.login(userAddr, userPass)
		c.Send("DELE 1")
		c.ExpectPrefix("+OK")
		b.Publish(store.Change{Kind: tc.kind, Account: store.AccountRef{Domain: ref.Domain, ID: ref.ID + 1000}})
		c.Send("NOOP")
		c.ExpectPrefix("+OK")
		b.Publish(store.Change{Kind: tc.kind, Account: ref})
		if l := c.ExpectPrefix(tc.prefix); !strings.Contains(l, tc.in) {
			t.Errorf("%v: last line %q, want it to say %q", tc.kind, l, tc.in)
		}
		c.Closed()
	}
	if n := len(w.inbox(t)); n != 2 {
		t.Errorf("the inbox holds %d messages, want 2 (no UPDATE after the session's end)", n)
	}
}

// TestAccountEndedAfterOverflow: when the watch overflowed (the change that ends the
// session may be among the dropped ones), the next command asks the directory: the
// account where it was and enabled, the session goes on; on another shard, disabled, its
// domain disabled or deleted, it ends with the matching line.
func TestAccountEndedAfterOverflow(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200))
	b := bus.New()
	d := &movedDir{Directory: w.Dir}
	addr := w.start(t, func(o *pop3server.Options) { o.Bus, o.Directory = b, d })
	ref := deliverytest.Ref(w.user)
	overflow := func() { b.Publish(store.Change{Kind: store.AccountResync, Account: ref}) }
	off, on := false, true
	addrOf := mail.MustParse(userAddr)
	for _, tc := range []struct {
		name, prefix string
		change, undo func()
	}{
		{"moved", "-ERR [SYS/TEMP]", func() { d.moved.Store(true) }, func() { d.moved.Store(false) }},
		{"disabled", "-ERR Account disabled", func() {
			_, err := w.Dir.UpdateAccount(ctx, addrOf, directory.AccountUpdate{Enabled: &off})
			noErr(t, err)
		}, func() {
			_, err := w.Dir.UpdateAccount(ctx, addrOf, directory.AccountUpdate{Enabled: &on})
			noErr(t, err)
		}},
		{"domain disabled", "-ERR Account disabled", func() { setDomainEnabled(t, w.Dir, false) }, func() { setDomainEnabled(t, w.Dir, true) }},
		{"deleted", "-ERR Account deleted", func() { noErr(t, w.Dir.DeleteAccount(ctx, addrOf)) }, func() {}},
	} {
		c := dialGreeted(t, addr)
		c.login(userAddr, userPass)
		overflow()
		c.Send("STAT")
		c.ExpectPrefix("+OK 1 ")
		overflow()
		tc.change()
		c.Send("LIST")
		if l := c.ExpectPrefix(tc.prefix); !strings.Contains(l, strings.Fields(tc.name)[len(strings.Fields(tc.name))-1]) {
			t.Errorf("%s: %q", tc.name, l)
		}
		c.Closed()
		tc.undo()
	}
}

func setDomainEnabled(t *testing.T, dir directory.Directory, on bool) {
	t.Helper()
	dm, err := dir.Domain(t.Context(), "local.test")
	if err != nil {
		t.Fatal(err)
	}
	dm.Enabled = on
	if err := dir.UpdateDomain(t.Context(), dm); err != nil {
		t.Fatal(err)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
