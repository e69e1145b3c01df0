package imapserver_test

import (
	"bufio"
	"compress/flate"
	"runtime"
	"strings"
	"testing"
)

// TestIdleOneGoroutine: a session in IDLE holds no goroutine besides its own (it was two:
// the session's and a reader's), and a delivery still reaches every idling connection
// at once as EXISTS (RFC 9051 7.4.1), after which DONE ends IDLE.
func TestIdleOneGoroutine(t *testing.T) {
	const n = 16
	w := newWorld(t)
	w.deliver(t, w.user, "INBOX", "Subject: a\n\nbody\n")
	_, addr := w.server(t, nil)
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = login(t, addr)
		cs[i].ok("SELECT INBOX")
	}
	before := runtime.NumGoroutine()
	for _, c := range cs {
		c.send("i IDLE\r\n")
		c.expectPrefix("+ ")
	}
	w.deliver(t, w.user, "INBOX", "Subject: b\n\nbody\n")
	for _, c := range cs {
		c.expectPrefix("* 2 EXISTS")
	}
	// The IDLE loops run (they sent EXISTS), so a reader goroutine would exist by now.
	if extra := runtime.NumGoroutine() - before; extra >= n/2 {
		t.Errorf("%d goroutines more while %d sessions idle", extra, n)
	}
	for _, c := range cs {
		c.send("DONE\r\n")
		if _, st := c.until("i"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("DONE: %q", st)
		}
	}
}

// TestIdleLineAcrossWakes: the bytes of DONE read before a change woke the session are
// kept (the read resumes after the deadline that woke it), with nothing and with a
// mailbox selected; a line longer than the idling reader's buffer is still one line.
func TestIdleLineAcrossWakes(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, nil)
	c := login(t, addr)
	c.ok("SELECT INBOX")
	c.send("i1 IDLE\r\n")
	c.expectPrefix("+ ")
	c.send("DO")
	for i := range 2 {
		w.deliver(t, w.user, "INBOX", "Subject: w\n\nbody\n")
		c.expectPrefix("* " + string(rune('1'+i)) + " EXISTS")
	}
	c.send("NE\r\n")
	if _, st := c.until("i1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("DONE split by wakes: %q", st)
	}
	c.send("i2 IDLE\r\n")
	c.expectPrefix("+ ")
	c.send("not done, and longer than sixteen octets\r\n")
	if _, st := c.until("i2"); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("IDLE ended by another line: %q", st)
	}
	c.ok("UNSELECT")
	c.send("i3 IDLE\r\n") // nothing selected: the account watch wakes the read
	c.expectPrefix("+ ")
	c.send("D")
	w.deliver(t, w.user, "INBOX", "Subject: w\n\nbody\n")
	c.send("ONE\r\n")
	if _, st := c.until("i3"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("DONE unselected: %q", st)
	}
	c.ok("NOOP")
}

// TestIdleCompressed: under COMPRESS=DEFLATE (RFC 4978), where IDLE keeps a reader
// goroutine, a delivery is announced and DONE ends IDLE.
func TestIdleCompressed(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, nil)
	c := login(t, addr)
	c.ok("COMPRESS DEFLATE")
	fw, err := flate.NewWriter(c.conn, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	fc := &flateConn{Reader: flate.NewReader(c.r), w: fw}
	c.r = bufio.NewReader(fc)
	send := func(s string) {
		if _, err := fc.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	send("c1 SELECT INBOX\r\nc2 IDLE\r\n")
	if _, st := c.until("c1"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("select: %q", st)
	}
	c.expectPrefix("+ ")
	w.deliver(t, w.user, "INBOX", "Subject: z\n\nbody\n")
	c.expectPrefix("* 1 EXISTS")
	send("DONE\r\nc3 NOOP\r\n")
	for _, tag := range []string{"c2", "c3"} {
		if _, st := c.until(tag); !strings.HasPrefix(st, "OK") {
			t.Fatalf("%s: %q", tag, st)
		}
	}
}
