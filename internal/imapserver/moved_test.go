package imapserver_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/imapserver"
	"mailgrid/internal/store"
)

// expectClosed reads the BYE of a moved account and then the end of the connection.
func (c *client) expectMovedBye() {
	c.t.Helper()
	if l := c.expectPrefix("* BYE [UNAVAILABLE]"); !strings.Contains(l, "moved") {
		c.t.Errorf("BYE %q does not say the account moved", l)
	}
	if err := c.conn.SetReadDeadline(time.Now().Add(deadline)); err != nil {
		c.t.Fatal(err)
	}
	if l, err := c.r.ReadString('\n'); !errors.Is(err, io.EOF) {
		c.t.Errorf("after BYE: %q %v, want the connection closed", l, err)
	}
}

// TestMovedWithNothingSelected: a session with no mailbox selected hears of its account's
// move at its next command (NOOP, LIST: BYE [UNAVAILABLE], no tagged reply, connection
// closed) or at once while idling in the authenticated state. Another account's move
// ends nothing.
func TestMovedWithNothingSelected(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, nil)
	moved := store.Change{Kind: store.AccountMoved, Account: ref(w.user)}
	for _, cmd := range []string{"NOOP", "LIST \"\" *"} {
		c := login(t, addr)
		c.ok("NOOP")
		w.bus.Publish(store.Change{Kind: store.AccountMoved, Account: store.AccountRef{Domain: "local.test", ID: w.user.ID + 1000}})
		c.ok("NOOP")
		w.bus.Publish(moved)
		c.send("m1 " + cmd + "\r\n")
		c.expectMovedBye()
	}
	c := login(t, addr)
	c.send("i1 IDLE\r\n")
	c.expectPrefix("+ ")
	w.deliver(t, w.user, "INBOX", "Subject: x\n\nnot news with nothing selected\n")
	w.bus.Publish(moved)
	c.expectMovedBye()
}

// placementDir reports the account on another shard once moved is set (what the
// directory says after a move's switch).
type placementDir struct {
	directory.Directory
	moved atomic.Bool
}

func (d *placementDir) AccountByID(ctx context.Context, domain string, id int64) (directory.Account, error) {
	a, err := d.Directory.AccountByID(ctx, domain, id)
	if err == nil && d.moved.Load() {
		a.Shard = "elsewhere"
	}
	return a, err
}

// TestMovedAfterOverflow: when the watch of a session with nothing selected overflowed
// (the AccountMoved change may be among the dropped ones), the next command asks the
// directory: same shard, the session goes on; another shard, BYE [UNAVAILABLE].
func TestMovedAfterOverflow(t *testing.T) {
	w := newWorld(t)
	d := &placementDir{Directory: w.dir}
	_, addr := w.server(t, func(o *imapserver.Options) { o.Directory = d })
	c := login(t, addr)
	overflow := func() {
		for range 40 { // more than any watch buffer holds
			w.bus.Publish(store.Change{Kind: store.MessageAdded, Account: ref(w.user), Mailbox: 1})
		}
	}
	overflow()
	if u := c.ok(`LIST "" INBOX`); !contains(u, "INBOX") {
		t.Errorf("LIST after an overflow, not moved: %q", u)
	}
	overflow()
	d.moved.Store(true)
	c.send("n1 NOOP\r\n")
	c.expectMovedBye()
}
