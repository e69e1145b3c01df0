package pop3server_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/store"
)

// A whole session: STAT, LIST, UIDL, RETR (byte-exact, dot-stuffing undone), TOP, DELE,
// RSET, QUIT; deletions happen at QUIT only, and retrieved messages kept get \Seen.
func TestSessionRetrieveAndDelete(t *testing.T) {
	w := newWorld(t)
	msgs := [][]byte{testMessage(1, 300), testMessage(2, 5000), testMessage(3, 70000)}
	w.deliver(t, msgs...)
	addr := w.start(t, nil)

	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	total := len(msgs[0]) + len(msgs[1]) + len(msgs[2])
	if got, want := c.cmd("STAT"), fmt.Sprintf("+OK 3 %d", total); got != want {
		t.Fatalf("STAT = %q, want %q", got, want)
	}
	c.Send("LIST")
	c.ExpectPrefix("+OK 3 messages")
	want := fmt.Sprintf("1 %d\r\n2 %d\r\n3 %d\r\n", len(msgs[0]), len(msgs[1]), len(msgs[2]))
	if got := string(c.multi()); got != want {
		t.Fatalf("LIST = %q, want %q", got, want)
	}
	c.Send("UIDL")
	c.ExpectPrefix("+OK")
	uidl := strings.Fields(strings.ReplaceAll(string(c.multi()), "\r\n", " "))
	if len(uidl) != 6 || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(uidl[1]) || uidl[1] == uidl[3] {
		t.Fatalf("UIDL listing %q", uidl)
	}
	if got := c.cmd("UIDL 2"); got != "+OK 2 "+uidl[3] {
		t.Fatalf("UIDL 2 = %q", got)
	}
	for i, m := range msgs {
		c.Send(fmt.Sprintf("RETR %d", i+1))
		c.ExpectPrefix(fmt.Sprintf("+OK %d octets", len(m)))
		if got := c.multi(); !bytes.Equal(got, m) {
			t.Fatalf("RETR %d: got %d bytes, want %d, equal prefix %v", i+1, len(got), len(m), bytes.HasPrefix(m, got))
		}
	}
	c.Send("TOP 2 3")
	c.ExpectPrefix("+OK")
	head, _, _ := bytes.Cut(msgs[1], []byte("\r\n\r\n"))
	lines := bytes.SplitAfter(msgs[1][len(head)+4:], []byte("\r\n"))
	wantTop := append(append(slices.Clone(head), "\r\n\r\n"...), bytes.Join(lines[:3], nil)...)
	if got := c.multi(); !bytes.Equal(got, wantTop) {
		t.Fatalf("TOP 2 3 = %q, want %q", got, wantTop)
	}
	if got := c.cmd("DELE 2"); got != "+OK message 2 deleted" {
		t.Fatalf("DELE 2 = %q", got)
	}
	if got := c.cmd("RETR 2"); got != "-ERR Message already deleted" {
		t.Fatalf("RETR deleted = %q", got)
	}
	if got := c.cmd("STAT"); got != fmt.Sprintf("+OK 2 %d", len(msgs[0])+len(msgs[2])) {
		t.Fatalf("STAT after DELE = %q", got)
	}
	if n := len(w.inbox(t)); n != 3 {
		t.Fatalf("before QUIT the store holds %d messages, want 3", n)
	}
	c.cmd("RSET")
	c.cmd("DELE 1")
	c.cmd("DELE 3")
	if got := c.cmd("QUIT"); got != "+OK pop.test POP3 server signing off (1 messages left)" {
		t.Fatalf("QUIT = %q", got)
	}
	c.Closed()
	left := w.Messages(t, w.user, "")
	if len(left) != 1 || !bytes.Equal(left[0].Body, msgs[1]) {
		t.Fatalf("after QUIT the INBOX holds %d messages, want message 2 only", len(left))
	}
	if !slices.Contains(left[0].Flags, store.FlagSeen) {
		t.Errorf("retrieved message kept has flags %v, want \\Seen", left[0].Flags)
	}
}

// A connection that drops, or ends without QUIT, deletes nothing (RFC 1939 6).
func TestDroppedConnectionDeletesNothing(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200), testMessage(2, 200))
	addr := w.start(t, nil)
	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	c.cmd("DELE 1")
	c.cmd("DELE 2")
	if err := c.Conn.Close(); err != nil {
		t.Fatal(err)
	}
	// The lock goes when the server notices; then a new session sees both messages.
	c2 := loginRetry(t, addr)
	if got := c2.cmd("STAT"); !strings.HasPrefix(got, "+OK 2 ") {
		t.Fatalf("STAT after dropped session = %q", got)
	}
	if n := len(w.inbox(t)); n != 2 {
		t.Fatalf("store holds %d messages, want 2", n)
	}
}

// loginRetry logs in, retrying (bounded) while a session that just ended still holds
// the maildrop.
func loginRetry(t *testing.T, addr string) *client {
	t.Helper()
	for i := 0; i < 200; i++ {
		c := dialGreeted(t, addr)
		c.stls()
		c.cmd("USER " + userAddr)
		r := c.cmd("PASS " + userPass)
		if strings.HasPrefix(r, "+OK") {
			return c
		}
		if !strings.HasPrefix(r, "-ERR [IN-USE]") {
			t.Fatalf("login: %q", r)
		}
		c.cmd("QUIT")
		waitABit()
	}
	t.Fatal("maildrop still locked")
	return nil
}

// UIDL ids are the same in every session and survive other messages' deletion; the
// maildrop is a snapshot: a message delivered during the session is not in it.
func TestUIDLStableAndSnapshot(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200), testMessage(2, 200), testMessage(3, 200))
	addr := w.start(t, nil)

	c := dialGreeted(t, addr)
	c.login(userAddr, userPass)
	c.Send("UIDL")
	c.ExpectPrefix("+OK")
	first := strings.Split(strings.TrimSpace(string(c.multi())), "\r\n")
	w.deliver(t, testMessage(4, 200))
	if got := c.cmd("STAT"); !strings.HasPrefix(got, "+OK 3 ") {
		t.Fatalf("STAT after a delivery during the session = %q, want 3 messages", got)
	}
	if got := c.cmd("RETR 4"); !strings.HasPrefix(got, "-ERR No such message") {
		t.Fatalf("RETR 4 = %q", got)
	}
	c.cmd("DELE 1")
	c.cmd("QUIT")

	c = loginRetry(t, addr)
	c.Send("UIDL")
	c.ExpectPrefix("+OK")
	second := strings.Split(strings.TrimSpace(string(c.multi())), "\r\n")
	if len(second) != 3 {
		t.Fatalf("second session UIDL %q", second)
	}
	for i := 0; i < 2; i++ { // messages 2 and 3 are now 1 and 2, with the same ids
		_, a, _ := strings.Cut(first[i+1], " ")
		_, b, _ := strings.Cut(second[i], " ")
		if a != b {
			t.Fatalf("UIDL changed across sessions: %q vs %q", first[i+1], second[i])
		}
	}
}

// A second session on the same maildrop gets [IN-USE]; the lock is released at QUIT.
func TestInUse(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200))
	addr := w.start(t, nil)
	c1 := dialGreeted(t, addr)
	c1.login(userAddr, userPass)
	c2 := dialGreeted(t, addr)
	c2.stls()
	c2.cmd("USER " + userAddr)
	if got := c2.cmd("PASS " + userPass); got != "-ERR [IN-USE] Maildrop is locked by another POP3 session" {
		t.Fatalf("second login = %q", got)
	}
	c1.cmd("QUIT")
	c2.cmd("USER " + userAddr)
	if got := c2.cmd("PASS " + userPass); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("login after the first session quit = %q", got)
	}
}

// A reply is not held back by a partial next line in the same packet (pipelining flushes
// only when a whole command is waiting).
func TestPartialLineDoesNotHoldReplies(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200))
	c := dialGreeted(t, w.start(t, nil))
	c.login(userAddr, userPass)
	if _, err := c.Conn.Write([]byte("STAT\r\nLI")); err != nil {
		t.Fatal(err)
	}
	if got := c.Line(); !strings.HasPrefix(got, "+OK 1 ") {
		t.Fatalf("STAT = %q", got)
	}
	if got := c.cmd("ST 1"); !strings.HasPrefix(got, "+OK 1 ") { // completes "LIST 1"
		t.Fatalf("LIST 1 = %q", got)
	}
}

// A message another session (IMAP) expunged after the snapshot: RETR says so, and UPDATE
// does not fail on it.
func TestMessageExpungedElsewhere(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, testMessage(1, 200), testMessage(2, 200))
	c := dialGreeted(t, w.start(t, nil))
	c.login(userAddr, userPass)
	first := w.Messages(t, w.user, "")[0]
	if _, err := w.Store.Expunge(context.Background(), deliverytest.Ref(w.user), first.MailboxID, []store.UID{first.UID}); err != nil {
		t.Fatal(err)
	}
	if got := c.cmd("RETR 1"); got != "-ERR Message was removed by another session" {
		t.Fatalf("RETR of an expunged message = %q", got)
	}
	c.cmd("DELE 1")
	c.cmd("DELE 2")
	if got := c.cmd("QUIT"); got != "+OK pop.test POP3 server signing off (maildrop empty)" {
		t.Fatalf("QUIT = %q", got)
	}
	if n := len(w.inbox(t)); n != 0 {
		t.Fatalf("%d messages left", n)
	}
}
