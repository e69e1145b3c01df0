package imapserver_test

import (
	"strings"
	"testing"
)

// sendAsync writes s without waiting: the server may stop reading and close part way, so
// a failed write is no test failure here (the replies read are what the test checks).
func (c *client) sendAsync(s string) {
	conn := c.conn
	go func() { _, _ = conn.Write([]byte(s)) }()
}

// noMailbox checks on a new connection that name was not created.
func noMailbox(t *testing.T, addr, name string) {
	t.Helper()
	if u := login(t, addr).ok(`LIST "" ` + name); len(u) != 0 {
		t.Fatalf("%s exists: %q", name, u)
	}
}

// selected logs in on a new connection and selects INBOX, which holds one message with
// the subject "x".
func selectedX(t *testing.T) (*client, string) {
	t.Helper()
	w := newWorld(t)
	w.deliver(t, w.user, "INBOX", "Subject: x\n\nbody\n")
	_, addr := w.server(t, nil)
	c := login(t, addr)
	c.ok("SELECT INBOX")
	return c, addr
}

// stillSelected checks the session goes on: INBOX is still selected, with its message
// and its flags unchanged.
func stillSelected(t *testing.T, c *client) {
	t.Helper()
	if u := c.ok("FETCH 1 (FLAGS)"); len(u) != 1 || u[0] != "* 1 FETCH (FLAGS ())" {
		t.Fatalf("after the refusal: %q", u)
	}
}

// TestLiteralCountLimit: one command may hold 1,000 literals (parser.go maxLiterals).
// The 1,001st, when synchronizing, is refused with BAD [LIMIT] and no "+" (RFC 9051 7.1,
// RFC 7888 4), the rest of the command is never sent and the session goes on; when
// non-synchronizing, its octets are already on their way and cannot be told from
// commands, so the reply is BAD [LIMIT] and the connection closes: what the client
// pipelined after it is never executed.
func TestLiteralCountLimit(t *testing.T) {
	c, addr := selectedX(t)
	const keys = " SUBJECT {1+}\r\nx"
	c.send("l1 UID SEARCH" + strings.Repeat(keys, 1000) + "\r\n")
	if u, st := c.until("l1"); !strings.HasPrefix(st, "OK") || len(u) != 1 || u[0] != "* SEARCH 1" {
		t.Fatalf("1,000 literals: %q %q", u, st)
	}
	c.send("l2 UID SEARCH" + strings.Repeat(keys, 1000) + " SUBJECT {1}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "l2 BAD [LIMIT]") {
		t.Fatalf("1,001st literal (synchronizing): %q (a + here means it was invited)", l)
	}
	stillSelected(t, c)

	c.sendAsync("l3 UID SEARCH" + strings.Repeat(keys, 1001) + "\r\nl4 CREATE evil\r\n")
	c.expectPrefix("l3 BAD [LIMIT]")
	c.expectPrefix("* BYE")
	noMailbox(t, addr, "evil")
}

// TestCommandMemoryLimit: a command holds at most 1 MiB of lines and in-memory literals
// (parser.go maxCommandMem). A synchronizing literal that would pass it is refused with NO
// [TOOBIG] before the "+" (RFC 9051 7.1, RFC 7888 4) and the session goes on; a
// non-synchronizing one, or lines past it, cannot be skipped safely: BAD [TOOBIG] and the
// connection closes, and nothing pipelined after it runs.
func TestCommandMemoryLimit(t *testing.T) {
	c, addr := selectedX(t)
	big := strings.Repeat("y", 600000)
	before := strings.Join(c.ok(`LIST "" *`), "\n")

	// One literal over the bound.
	c.send("m1 CREATE {1048577}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "m1 NO [TOOBIG]") {
		t.Fatalf("1 MiB + 1 literal: %q (a + here means it was invited)", l)
	}
	stillSelected(t, c)
	// Two literals of 600,000 octets, each under the bound, the second a synchronizing one.
	c.send("m2 SEARCH SUBJECT {600000+}\r\n" + big + " SUBJECT {600000}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "m2 NO [TOOBIG]") {
		t.Fatalf("second 600,000-octet literal (synchronizing): %q", l)
	}
	stillSelected(t, c)
	if after := strings.Join(c.ok(`LIST "" *`), "\n"); after != before {
		t.Fatalf("mailboxes after the refusals:\n%s\nbefore:\n%s", after, before)
	}

	// The same as non-synchronizing literals.
	c.sendAsync("m3 SEARCH SUBJECT {600000+}\r\n" + big + " SUBJECT {600000+}\r\n" + big + "\r\nm4 CREATE evil\r\n")
	c.expectPrefix("m3 BAD [TOOBIG]")
	c.expectPrefix("* BYE")
	noMailbox(t, addr, "evil")

	// Lines: 18 continuation lines of 60,000 octets pass 1 MiB though each literal is one
	// octet and each line is under MaxLineLength.
	c = login(t, addr)
	c.ok("SELECT INBOX")
	line := ` TEXT "` + strings.Repeat("z", 60000) + `" TEXT {1+}` + "\r\nx"
	c.sendAsync("m5 SEARCH" + strings.Repeat(line, 18) + "\r\nm6 CREATE evil2\r\n")
	if l := c.line(); !strings.HasPrefix(l, "m5 BAD [TOOBIG]") || !strings.Contains(l, "command too large") {
		t.Fatalf("1 MiB of lines: %q", l)
	}
	c.expectPrefix("* BYE")
	noMailbox(t, addr, "evil2")
}
