package pop3server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"mailgrid/internal/bus"
	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/directory"
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

// TestAccountMoved: a session whose account moved answers its next command, QUIT or
// another, with -ERR [SYS/TEMP] and closes without UPDATE (the message it marked deleted
// stays); another account's move changes nothing; after a bus overflow the directory's
// placement decides.
func TestAccountMoved(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200), testMessage(2, 200))
	b := bus.New()
	d := &movedDir{Directory: w.Dir}
	addr := w.start(t, func(o *pop3server.Options) { o.Bus, o.Directory = b, d })
	ref := deliverytest.Ref(w.user)
	for _, next := range []string{"QUIT", "STAT"} {
		c := dialGreeted(t, addr)
		c.login(userAddr, userPass)
		c.Send("DELE 1")
		c.ExpectPrefix("+OK")
		b.Publish(store.Change{Kind: store.AccountMoved, Account: store.AccountRef{Domain: ref.Domain, ID: ref.ID + 1000}})
		c.Send("NOOP")
		c.ExpectPrefix("+OK")
		b.Publish(store.Change{Kind: store.AccountMoved, Account: ref})
		c.Send(next)
		if l := c.ExpectPrefix("-ERR [SYS/TEMP]"); !strings.Contains(l, "moved") {
			t.Errorf("%s after the move: %q", next, l)
		}
		c.Closed()
	}
	if n := len(w.inbox(t)); n != 2 {
		t.Errorf("the inbox holds %d messages, want 2 (no UPDATE after the move)", n)
	}

	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	overflow := func() {
		for range 40 { // more than a watch's buffer
			b.Publish(store.Change{Kind: store.MessageAdded, Account: ref, Mailbox: 1})
		}
	}
	overflow()
	c.Send("STAT")
	c.ExpectPrefix("+OK 2 ")
	overflow()
	d.moved.Store(true)
	c.Send("LIST")
	c.ExpectPrefix("-ERR [SYS/TEMP]")
	c.Closed()
}
