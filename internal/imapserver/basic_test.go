package imapserver_test

import (
	"strings"
	"testing"
)

const msg1 = `From: Alice <alice@example.org>
To: user@local.test
Subject: Hello there
Date: Sat, 14 Mar 2026 10:00:00 +0000
Message-ID: <m1@example.org>

Hello body line one.
`

func TestBasicFlow(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, w.user, "INBOX", msg1)
	_, addr := w.server(t, nil)
	c := dial(t, addr)
	u := c.ok("CAPABILITY")
	if !contains(u, "LOGINDISABLED") || !contains(u, "STARTTLS") {
		t.Fatalf("capability before TLS: %q", u)
	}
	if _, st := c.cmd("LOGIN user@local.test user-password"); !strings.HasPrefix(st, "NO [PRIVACYREQUIRED]") {
		t.Fatalf("login before TLS: %s", st)
	}
	c.startTLS()
	c.ok("LOGIN user@local.test user-password")
	u = c.ok("SELECT INBOX")
	if !contains(u, "* 1 EXISTS") {
		t.Fatalf("select: %q", u)
	}
	u = c.ok("FETCH 1 (FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	t.Logf("%q", u)
	u = c.ok("FETCH 1 BODY[TEXT]")
	if !contains(u, "Hello body line one.") || !contains(u, `\Seen`) {
		t.Fatalf("fetch text: %q", u)
	}
	u = c.ok("SEARCH SUBJECT hello")
	if !contains(u, "* SEARCH 1") {
		t.Fatalf("search: %q", u)
	}
	c.ok("STORE 1 +FLAGS (\\Deleted)")
	u = c.ok("EXPUNGE")
	if !contains(u, "* 1 EXPUNGE") {
		t.Fatalf("expunge: %q", u)
	}
	c.ok("LOGOUT")
}
