package imapserver_test

import (
	"bufio"
	"crypto/tls"
	"strings"
	"testing"

	"mailgrid/internal/imapserver"
)

// TestStartTLSInjection: a command pipelined after STARTTLS in the same packet is
// plaintext an attacker could have inserted; it must never run inside the TLS session.
func TestStartTLSInjection(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, nil)
	c := dial(t, addr)
	c.send("a1 STARTTLS\r\nx2 LOGIN user@local.test user-password\r\nx3 NOOP\r\n")
	c.expectPrefix("a1 OK")
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake after injected bytes: %v", err)
	}
	c.conn, c.r = tc, bufio.NewReader(tc)
	u, st := c.cmd("NOOP")
	if len(u) != 0 || !strings.HasPrefix(st, "OK") {
		t.Fatalf("first reply inside TLS: %q %q (injected commands ran?)", u, st)
	}
	if _, st := c.cmd("SELECT INBOX"); !strings.HasPrefix(st, "BAD") {
		t.Fatalf("injected LOGIN took effect: SELECT answered %q", st)
	}
}

// TestOverlongLine: a line over MaxLineLength ends the connection with BAD [TOOBIG] and BYE
// (what follows cannot be told from commands).
func TestOverlongLine(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, func(o *imapserver.Options) { o.MaxLineLength = 1000 })
	c := dial(t, addr)
	c.send("a1 NOOP " + strings.Repeat("x", 5000) + "\r\na2 NOOP\r\n")
	c.expectPrefix("* BAD [TOOBIG]")
	c.expectPrefix("* BYE")
	if l, err := c.r.ReadString('\n'); err == nil {
		t.Fatalf("connection still open: %q", l)
	}
}

// TestNULBytes: NUL is not a CHAR (RFC 9051 9) outside literal8: every such command is
// refused and the session goes on.
func TestNULBytes(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, nil)
	c := login(t, addr)
	for _, cmd := range []string{"NOOP\x00", "SELECT \"IN\x00BOX\"", "CREATE {3+}\r\na\x00b", "APPEND INBOX {5+}\r\na\x00bcd"} {
		if _, st := c.cmd(cmd); !strings.HasPrefix(st, "BAD") {
			t.Errorf("%q: %s, want BAD", cmd, st)
		}
	}
	if _, st := c.cmd("APPEND INBOX ~{5+}\r\nS: \x00\r"); !strings.HasPrefix(st, "OK") {
		t.Errorf("literal8 APPEND with NUL: %s", st) // RFC 3516 4.4
	}
	c.ok("NOOP")
}

// TestLoginIndistinguishable: unknown user, wrong password and disabled account get
// byte-identical replies; too many failures end the connection. (The delay is the same
// code path for all; tests never assert on time.)
func TestLoginIndistinguishable(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, func(o *imapserver.Options) { o.MaxLoginFailures = 3 })
	c := dial(t, addr)
	c.startTLS()
	_, unknown := c.cmd("LOGIN nobody@local.test user-password")
	_, wrong := c.cmd("LOGIN user@local.test not-the-password")
	_, other := c.cmd("AUTHENTICATE PLAIN AG5vYm9keUBub3doZXJlLnRlc3QAeA==") // nobody@nowhere.test
	if unknown != wrong || !strings.HasPrefix(unknown, "NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("replies differ or wrong: %q vs %q", unknown, wrong)
	}
	if other != unknown {
		t.Fatalf("third failure %q", other)
	}
	c.expectPrefix("* BYE")
}

// TestPerIPLimit: connections over MaxConnsPerIP are refused with BYE (RFC 9051 7.1.5).
func TestPerIPLimit(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, func(o *imapserver.Options) { o.MaxConnsPerIP = 2 })
	a := dial(t, addr)
	b := dial(t, addr)
	c, err := dialRaw(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(l, "* BYE [UNAVAILABLE]") {
		t.Fatalf("third connection: %q %v", l, err)
	}
	a.ok("LOGOUT")
	b.ok("NOOP")
}
