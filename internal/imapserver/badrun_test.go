package imapserver_test

import (
	"strings"
	"testing"
)

// TestTooManyBadCommands: twenty BAD replies in a row end the session with BYE, before
// and after login; a command that is not BAD starts the count over (maxBadRun).
func TestTooManyBadCommands(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, nil)
	for _, pre := range []bool{true, false} {
		var c *client
		if pre {
			c = dial(t, addr)
		} else {
			c = login(t, addr)
		}
		// 19 BAD, one NOOP, 19 BAD: the session goes on.
		for i := range 39 {
			cmd := "FROB"
			if i == 19 {
				cmd = "NOOP"
			}
			if _, st := c.cmd(cmd); (cmd == "NOOP") != strings.HasPrefix(st, "OK") || (cmd != "NOOP" && !strings.HasPrefix(st, "BAD")) {
				t.Fatalf("pre-auth %v, command %d %s: %q", pre, i, cmd, st)
			}
		}
		if _, st := c.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("pre-auth %v: NOOP after 19 BAD: %q", pre, st)
		}
		// Twenty in a row, some of them unparsable lines: BAD, then BYE and the end.
		for i := range 19 {
			if i%2 == 1 { // no tag to answer with: an untagged BAD (RFC 9051 7.1.3)
				c.send("((\r\n")
				c.expectPrefix("* BAD")
				continue
			}
			if _, st := c.cmd("FROB"); !strings.HasPrefix(st, "BAD") {
				t.Fatalf("pre-auth %v, bad command %d: %q", pre, i, st)
			}
		}
		c.send("z20 FROB\r\n")
		c.expectPrefix("z20 BAD")
		c.expectPrefix("* BYE Too many invalid commands")
		if l, err := c.r.ReadString('\n'); err == nil {
			t.Fatalf("pre-auth %v: connection still open: %q", pre, l)
		}
	}
}
