package imapserver_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/imapserver"
	"mailgrid/internal/store"
)

func dialRaw(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }

// TestShutdownSaysBye: Shutdown tells every session BYE: one not logged in, one with a
// mailbox selected, one in IDLE; then Serve returns.
func TestShutdownSaysBye(t *testing.T) {
	w := newWorld(t)
	srv, addr := w.server(t, nil)
	plain := dial(t, addr)
	sel := login(t, addr)
	sel.ok("SELECT INBOX")
	idle := login(t, addr)
	idle.ok("SELECT INBOX")
	idle.send("i1 IDLE\r\n")
	idle.expectPrefix("+ ")
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for name, c := range map[string]*client{"plain": plain, "selected": sel, "idle": idle} {
		if l := c.line(); !strings.HasPrefix(l, "* BYE") {
			t.Errorf("%s session: %q, want BYE", name, l)
		}
	}
	if c, err := dialRaw(addr); err == nil {
		_ = c.Close()
		t.Fatal("still accepting after Shutdown")
	}
}

// TestAutologout: a session idle beyond IdleTimeout is told BYE (RFC 9051 5.4), also in IDLE.
func TestAutologout(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, func(o *imapserver.Options) { o.IdleTimeout = 300 * time.Millisecond })
	c := dial(t, addr)
	if l := c.line(); !strings.HasPrefix(l, "* BYE Autologout") {
		t.Fatalf("got %q", l)
	}
	d := login(t, addr)
	d.send("i1 IDLE\r\n")
	d.expectPrefix("+ ")
	if l := d.line(); !strings.HasPrefix(l, "* BYE Autologout") {
		t.Fatalf("in IDLE: got %q", l)
	}
}

// TestQResyncSelect: SELECT with QRESYNC (RFC 7162 3.2.5) reports what changed since the
// client's modseq: VANISHED (EARLIER) for expunged UIDs and FETCH for changed flags.
func TestQResyncSelect(t *testing.T) {
	w := newWorld(t)
	for i := 0; i < 4; i++ {
		w.deliver(t, w.user, "INBOX", "Subject: q\n\nbody\n")
	}
	_, addr := w.server(t, nil)
	c := login(t, addr)
	c.ok("ENABLE QRESYNC")
	u := c.ok("SELECT INBOX")
	var uidValidity, modseq string
	for _, l := range u {
		if v, ok := strings.CutPrefix(l, "* OK [UIDVALIDITY "); ok {
			uidValidity = strings.Fields(v)[0]
			uidValidity = strings.TrimSuffix(uidValidity, "]")
		}
		if v, ok := strings.CutPrefix(l, "* OK [HIGHESTMODSEQ "); ok {
			modseq = strings.TrimSuffix(strings.Fields(v)[0], "]")
		}
	}
	if uidValidity == "" || modseq == "" {
		t.Fatalf("select: %q", u)
	}
	c.ok("UID STORE 2 +FLAGS.SILENT (\\Deleted)")
	c.ok("UID EXPUNGE 2")
	c.ok("UID STORE 3 +FLAGS.SILENT (\\Flagged)")
	c.ok("UNSELECT")
	u = c.ok("SELECT INBOX (QRESYNC (" + uidValidity + " " + modseq + " 1:4))")
	if !contains(u, "* VANISHED (EARLIER) 2") || !contains(u, "* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (") {
		t.Fatalf("qresync select: %q", u)
	}
	u = c.ok("SELECT INBOX (QRESYNC (1 " + modseq + "))")
	if contains(u, "VANISHED") {
		t.Fatalf("wrong UIDVALIDITY must not report changes: %q", u)
	}
}

// TestBusOverflowResync: when a session's change buffer overflows, it resynchronises
// from the store and still reports every change exactly.
func TestBusOverflowResync(t *testing.T) {
	w := newWorld(t)
	var uids []store.UID
	for i := 0; i < 40; i++ {
		uids = append(uids, w.deliver(t, w.user, "INBOX", "Subject: o\n\nbody\n"))
	}
	_, addr := w.server(t, nil)
	c := login(t, addr)
	c.ok("SELECT INBOX")
	ctx := context.Background()
	mb, err := w.st.Mailbox(ctx, ref(w.user), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ { // 1,200 changes, more than a subscription holds (busBuffer)
		op := store.FlagsAdd
		if i%2 == 1 {
			op = store.FlagsRemove
		}
		if _, err := w.st.StoreFlags(ctx, ref(w.user), mb.ID, store.FlagUpdate{UIDs: uids, Op: op, Flags: []string{"$x"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.st.StoreFlags(ctx, ref(w.user), mb.ID, store.FlagUpdate{UIDs: uids[:1], Op: store.FlagsAdd, Flags: []string{store.FlagDeleted}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.Expunge(ctx, ref(w.user), mb.ID, uids[:1]); err != nil {
		t.Fatal(err)
	}
	w.deliver(t, w.user, "INBOX", "Subject: new\n\nbody\n")
	u := c.ok("NOOP")
	if !contains(u, "* 1 EXPUNGE") || !contains(u, "* 40 EXISTS") {
		t.Fatalf("after overflow: %q", u)
	}
	u = c.ok("FETCH 1:* (UID)")
	if len(u) != 40 || !strings.HasPrefix(u[0], "* 1 FETCH (UID 2)") {
		t.Fatalf("view after resync: %d lines, first %q", len(u), u[0])
	}
}

// TestSelectedMailboxDeletedElsewhere: a session whose selected mailbox another session
// deletes is told BYE (as Dovecot does); a rename keeps the selection.
func TestSelectedMailboxDeletedElsewhere(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, nil)
	a := login(t, addr)
	a.ok("CREATE Temp")
	a.ok("SELECT Temp")
	b := login(t, addr)
	b.ok("RENAME Temp Temp2")
	a.ok("NOOP")
	if u := a.ok("STATUS Temp2 (MESSAGES)"); !contains(u, "* STATUS Temp2") {
		t.Fatalf("status after rename: %q", u)
	}
	b.ok("DELETE Temp2")
	a.n++
	a.send("z1 NOOP\r\n")
	if l := a.line(); !strings.HasPrefix(l, "z1 OK") {
		t.Fatalf("noop: %q", l)
	}
	if l := a.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("after delete elsewhere: %q, want BYE", l)
	}
}
