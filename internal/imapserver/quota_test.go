package imapserver_test

import (
	"strings"
	"testing"
)

// TestQuota: GETQUOTAROOT and GETQUOTA (RFC 9208) report the directory account's limit
// and the store's usage; an APPEND over quota is refused before the literal is sent.
func TestQuota(t *testing.T) {
	w := newWorld(t)
	a := w.account(t, "small@local.test", "small-password", 10*1024)
	w.deliver(t, a, "INBOX", "Subject: q\n\n"+strings.Repeat("x", 3000)+"\n")
	_, addr := w.server(t, nil)
	c := dial(t, addr)
	c.startTLS()
	c.ok("LOGIN small@local.test small-password")
	u := c.ok("GETQUOTAROOT INBOX")
	if !contains(u, `* QUOTAROOT INBOX ""`) || !contains(u, `* QUOTA "" (STORAGE 3 10)`) {
		t.Fatalf("getquotaroot: %q", u)
	}
	u = c.ok(`GETQUOTA ""`)
	if !contains(u, `* QUOTA "" (STORAGE 3 10)`) {
		t.Fatalf("getquota: %q", u)
	}
	if _, st := c.cmd(`GETQUOTA "other"`); !strings.HasPrefix(st, "NO [NONEXISTENT]") {
		t.Fatalf("unknown root: %s", st)
	}
	if _, st := c.cmd(`SETQUOTA "" (STORAGE 1)`); !strings.HasPrefix(st, "NO") {
		t.Fatalf("setquota: %s", st)
	}
	c.n++
	c.send("q1 APPEND INBOX {9000}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "q1 NO [OVERQUOTA]") {
		t.Fatalf("append over quota: %q (a + here means the literal was invited)", l)
	}
	c.ok("NOOP")
	u = login(t, addr).ok("GETQUOTAROOT INBOX") // no limit: no quota root
	if !contains(u, "* QUOTAROOT INBOX") || contains(u, "* QUOTA ") {
		t.Fatalf("unlimited account: %q", u)
	}
}
