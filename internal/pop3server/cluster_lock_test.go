package pop3server_test

import (
	"bytes"
	"strings"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/pop3server"
	"mailgrid/internal/store"
	storepg "mailgrid/internal/store/postgres"
	"mailgrid/internal/testkit/pgtest"
)

// TestMaildropLockAcrossNodes runs two POP3 servers, each with its own PostgreSQL store
// on one shard database (two nodes of a cluster): a session on one node holds the
// maildrop against a login on either node (RFC 1939 8, "-ERR [IN-USE]" RFC 2449 8.1.2);
// after its QUIT, a session on the other node gets in and sees what UPDATE left.
func TestMaildropLockAcrossNodes(t *testing.T) {
	w := newWorld(t)
	dsn := pgtest.DSN(t)
	var addrs [2]string
	for i := range addrs {
		st, err := storepg.Open(t.Context(), storepg.Options{DSN: dsn, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Error(err)
			}
		})
		if i == 0 {
			if err := st.EnsureAccount(t.Context(), deliverytest.Ref(w.user)); err != nil {
				t.Fatal(err)
			}
			for n := range 2 {
				res, err := st.Deliver(t.Context(), store.Delivery{Body: bytes.NewReader(testMessage(n, 300)),
					Targets: []store.DeliveryTarget{{Account: deliverytest.Ref(w.user)}}})
				if err != nil || res[0].Err != nil {
					t.Fatalf("deliver: %v %v", err, res)
				}
			}
		}
		addrs[i] = w.start(t, func(o *pop3server.Options) { o.Shards = staticShards(st) })
	}

	a := dialGreeted(t, addrs[0])
	a.login(userAddr, userPass)
	if got := a.cmd("DELE 1"); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("DELE 1 = %q", got)
	}
	for i, addr := range addrs { // the other node, and the same node
		c := dialGreeted(t, addr)
		c.stls()
		c.cmd("USER " + userAddr)
		if got := c.cmd("PASS " + userPass); !strings.HasPrefix(got, "-ERR [IN-USE]") {
			t.Fatalf("login on node %d while node 1 holds the maildrop: %q", i+1, got)
		}
		c.cmd("QUIT")
	}
	if got := a.cmd("QUIT"); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("QUIT = %q", got)
	}
	b := dialGreeted(t, addrs[1])
	b.login(userAddr, userPass) // QUIT answered after UPDATE released the lock
	if got := b.cmd("STAT"); !strings.HasPrefix(got, "+OK 1 ") {
		t.Fatalf("STAT on node 2 after node 1's UPDATE = %q", got)
	}
	b.cmd("QUIT")
}

// TestMaildropLockFault: a store that cannot take the lock (closed: its lock connection
// is gone) makes the login a temporary failure, never IN-USE, and leaves no lock behind.
func TestMaildropLockFault(t *testing.T) {
	w := newWorld(t)
	st, err := storepg.Open(t.Context(), storepg.Options{DSN: pgtest.DSN(t), MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	addr := w.start(t, func(o *pop3server.Options) { o.Shards = staticShards(st) })
	for range 2 { // the second attempt meets the same fault, not a lock left by the first
		c := dialGreeted(t, addr)
		c.stls()
		c.cmd("USER " + userAddr)
		if got := c.cmd("PASS " + userPass); !strings.HasPrefix(got, "-ERR [SYS/TEMP]") {
			t.Fatalf("login with a failing lock = %q", got)
		}
		c.cmd("QUIT")
	}
}
