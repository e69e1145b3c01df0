package imapserver_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// oneShard is the store.Shards of a world: its one store under every name.
type oneShard struct{ st store.Store }

func (o oneShard) Shard(string) (store.Store, error) { return o.st, nil }

// expectBye reads an untagged BYE saying why and then the end of the connection.
func (c *client) expectBye(why string) {
	c.t.Helper()
	if l := c.expectPrefix("* BYE "); !strings.Contains(l, why) {
		c.t.Errorf("BYE %q does not say %q", l, why)
	}
	if err := c.conn.SetReadDeadline(time.Now().Add(deadline)); err != nil {
		c.t.Fatal(err)
	}
	if l, err := c.r.ReadString('\n'); !errors.Is(err, io.EOF) {
		c.t.Errorf("after BYE: %q %v, want the connection closed", l, err)
	}
}

// TestAccountEndedByAdmin: the admin service deleting or disabling an account, or
// disabling or deleting its domain, ends every IMAP session of the account at once
// (RFC 9051 7.1.5 BYE, saying why): one idling with INBOX selected, one idling with
// nothing selected; one with nothing selected and not idling says BYE at its next
// command. A session of another account of the domain goes on unless the domain ended.
// A new login is refused.
func TestAccountEndedByAdmin(t *testing.T) {
	off := false
	for _, tc := range []struct {
		name, why  string
		domainWide bool
		op         func(t *testing.T, sc *admin.Scoped, a directory.Account) error
	}{
		{"delete", "Account deleted", false, func(t *testing.T, sc *admin.Scoped, a directory.Account) error {
			return sc.DeleteAccount(t.Context(), a.Address.Domain, a.ID)
		}},
		{"disable", "Account disabled", false, func(t *testing.T, sc *admin.Scoped, a directory.Account) error {
			_, err := sc.UpdateAccount(t.Context(), a.Address.Domain, a.ID, directory.AccountUpdate{Enabled: &off}, "")
			return err
		}},
		{"domain disable", "Account disabled", true, func(t *testing.T, sc *admin.Scoped, a directory.Account) error {
			_, err := sc.UpdateDomain(t.Context(), a.Address.Domain, admin.DomainUpdate{Enabled: &off})
			return err
		}},
		{"domain delete", "Account deleted", true, func(t *testing.T, sc *admin.Scoped, a directory.Account) error {
			return sc.DeleteDomain(t.Context(), a.Address.Domain, true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.account(t, "other@local.test", "other-password", 0)
			w.deliver(t, w.user, "INBOX", "Subject: x\n\nbefore\n")
			_, addr := w.server(t, nil)
			sc := (&admin.Service{Dir: w.dir, Shards: oneShard{w.st}}).As(admin.SystemActor("test"))

			selected := login(t, addr)
			selected.ok("SELECT INBOX")
			selected.send("i1 IDLE\r\n")
			selected.expectPrefix("+ ")
			idle := login(t, addr)
			idle.send("i2 IDLE\r\n")
			idle.expectPrefix("+ ")
			quiet := login(t, addr)
			bystander := dial(t, addr)
			bystander.startTLS()
			bystander.ok("LOGIN other@local.test other-password")

			if err := tc.op(t, sc, w.user); err != nil {
				t.Fatal(err)
			}
			selected.expectBye(tc.why)
			idle.expectBye(tc.why)
			quiet.send("q1 NOOP\r\n")
			quiet.expectBye(tc.why)
			if tc.domainWide {
				bystander.send("b1 NOOP\r\n")
				bystander.expectBye(tc.why)
			} else {
				bystander.ok("NOOP")
			}
			again := dial(t, addr)
			again.startTLS()
			if _, st := again.cmd("LOGIN user@local.test user-password"); !strings.HasPrefix(st, "NO") {
				t.Errorf("login after %s: %q, want NO", tc.name, st)
			}
		})
	}
}

// TestAccountEndedAfterOverflow: when the watch of a session with nothing selected
// overflowed (the change that ends it may be among the dropped ones), the next command
// asks the directory: the account disabled, or deleted, ends the session with a BYE
// saying so.
func TestAccountEndedAfterOverflow(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, nil)
	ctx := t.Context()
	resync := func() { w.bus.Publish(store.Change{Kind: store.AccountResync, Account: ref(w.user)}) }
	off, on := false, true

	c := login(t, addr)
	resync()
	c.ok("NOOP") // enabled, where it was: goes on
	resync()
	if _, err := w.dir.UpdateAccount(ctx, w.user.Address, directory.AccountUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	c.send("n1 NOOP\r\n")
	c.expectBye("Account disabled")
	if _, err := w.dir.UpdateAccount(ctx, w.user.Address, directory.AccountUpdate{Enabled: &on}); err != nil {
		t.Fatal(err)
	}

	c = login(t, addr)
	resync()
	if err := w.dir.DeleteAccount(ctx, w.user.Address); err != nil {
		t.Fatal(err)
	}
	c.send("n2 NOOP\r\n")
	c.expectBye("Account deleted")
}
