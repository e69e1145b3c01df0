package imapserver_test

import (
	"bufio"
	"compress/flate"
	"context"
	"net"
	"slices"
	"strings"
	"testing"

	"mailgrid/internal/directory"
	"mailgrid/internal/imapserver"
	"mailgrid/internal/mail"
)

// capsAfterLogin is every capability the server advertises in the authenticated state,
// written out here (not taken from the server) so a capability dropped or added by
// accident fails TestCapabilitiesAfterLogin. APPENDLIMIT carries the configured
// MaxLiteralSize of the test (RFC 7889 3).
var capsAfterLogin = []string{
	"IMAP4rev1", "IMAP4rev2", "LITERAL+", "ENABLE", "ID", "IDLE", "NAMESPACE", "UNSELECT",
	"UIDPLUS", "MOVE", "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS",
	"CHILDREN", "ESEARCH", "SEARCHRES", "CONDSTORE", "QRESYNC", "QUOTA", "QUOTA=RES-STORAGE",
	"QUOTA=RES-MESSAGE", "APPENDLIMIT=123456", "STATUS=SIZE", "UTF8=ACCEPT", "BINARY", "SORT",
	"THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "COMPRESS=DEFLATE",
}

// capList extracts the sorted capability atoms from a "* CAPABILITY ..." line or an
// "OK [CAPABILITY ...] ..." status line.
func capList(t *testing.T, line string) []string {
	t.Helper()
	var s string
	switch {
	case strings.HasPrefix(line, "* CAPABILITY "):
		s = strings.TrimPrefix(line, "* CAPABILITY ")
	case strings.HasPrefix(line, "OK [CAPABILITY "):
		s, _, _ = strings.Cut(strings.TrimPrefix(line, "OK [CAPABILITY "), "]")
	default:
		t.Fatalf("no capability list in %q", line)
	}
	caps := strings.Fields(s)
	slices.Sort(caps)
	return caps
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// TestCapabilitiesAfterLogin: the CAPABILITY response code of LOGIN and the CAPABILITY
// command after it list exactly capsAfterLogin (RFC 9051 6.2.3, 7.2.2); after COMPRESS
// DEFLATE the server no longer lists COMPRESS=DEFLATE (RFC 4978 3: a second COMPRESS on
// the connection is refused with COMPRESSIONACTIVE, so it is no longer offered).
func TestCapabilitiesAfterLogin(t *testing.T) {
	w := newWorld(t)
	_, addr := w.server(t, func(o *imapserver.Options) { o.MaxLiteralSize = 123456 })
	c := dial(t, addr)
	c.startTLS()
	_, st := c.cmd("LOGIN user@local.test user-password")
	want := sortedCopy(capsAfterLogin)
	if got := capList(t, st); !slices.Equal(got, want) {
		t.Errorf("LOGIN's CAPABILITY code:\n got  %q\n want %q", got, want)
	}
	u := c.ok("CAPABILITY")
	if len(u) != 1 {
		t.Fatalf("CAPABILITY: %q", u)
	}
	if got := capList(t, u[0]); !slices.Equal(got, want) {
		t.Errorf("CAPABILITY after login:\n got  %q\n want %q", got, want)
	}

	c.ok("COMPRESS DEFLATE")
	deflateClient(t, c)
	u, st = c.cmd("CAPABILITY")
	if !strings.HasPrefix(st, "OK") || len(u) != 1 {
		t.Fatalf("CAPABILITY under COMPRESS: %q %q", u, st)
	}
	wantZ := sortedCopy(slices.DeleteFunc(slices.Clone(capsAfterLogin), func(s string) bool { return s == "COMPRESS=DEFLATE" }))
	if got := capList(t, u[0]); !slices.Equal(got, wantZ) {
		t.Errorf("CAPABILITY under COMPRESS (RFC 4978 3):\n got  %q\n want %q", got, wantZ)
	}
}

// TestAppendLimit: APPENDLIMIT (RFC 7889) advertises the configured MaxLiteralSize, STATUS
// (APPENDLIMIT) answers the same number (RFC 7889 4), a message of exactly the limit is
// stored, and one octet more is refused with NO [TOOBIG] before the "+" (RFC 7889 3,
// RFC 9051 7.1) without storing anything; as a non-synchronizing literal it cannot be
// refused unread, so the reply is BAD [TOOBIG] and the connection closes (doc.go).
func TestAppendLimit(t *testing.T) {
	const limit = 2000
	w := newWorld(t)
	_, addr := w.server(t, func(o *imapserver.Options) { o.MaxLiteralSize = limit })
	c := dial(t, addr)
	c.startTLS()
	_, st := c.cmd("LOGIN user@local.test user-password")
	if !slices.Contains(capList(t, st), "APPENDLIMIT=2000") {
		t.Fatalf("no APPENDLIMIT=2000 in %q", st)
	}
	if u := c.ok("STATUS INBOX (APPENDLIMIT MESSAGES)"); !contains(u, "* STATUS INBOX (APPENDLIMIT 2000 MESSAGES 0)") {
		t.Fatalf("STATUS APPENDLIMIT: %q", u)
	}
	msg := func(n int) string {
		h := "Subject: limit\r\n\r\n"
		return h + strings.Repeat("a", n-len(h))
	}

	c.n++
	c.send("t1 APPEND INBOX {2001}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "t1 NO [TOOBIG]") {
		t.Fatalf("APPEND of limit+1: %q (a + here means the literal was invited)", l)
	}
	c.send("t2 APPEND INBOX {2000}\r\n")
	c.expectPrefix("+")
	c.send(msg(limit) + "\r\n")
	if _, st := c.until("t2"); !strings.HasPrefix(st, "OK [APPENDUID") {
		t.Fatalf("APPEND of exactly the limit: %q", st)
	}
	if u := c.ok("STATUS INBOX (MESSAGES SIZE)"); !contains(u, "* STATUS INBOX (MESSAGES 1 SIZE 2000)") {
		t.Fatalf("after the refused and the accepted APPEND: %q", u)
	}

	// LITERAL+ over the limit: the octets are already on their way.
	c.send("t3 APPEND INBOX {2001+}\r\n" + msg(limit+1) + "\r\nt4 NOOP\r\n")
	c.expectPrefix("t3 BAD [TOOBIG]")
	c.expectPrefix("* BYE")
	c2 := login(t, addr)
	if u := c2.ok("STATUS INBOX (MESSAGES)"); !contains(u, "* STATUS INBOX (MESSAGES 1)") {
		t.Fatalf("a refused APPEND stored something: %q", u)
	}
}

// TestQuotaMessages: the MESSAGE resource (RFC 9208 5.2, QUOTA=RES-MESSAGE) of an account
// with a message-count quota: GETQUOTAROOT and GETQUOTA show (MESSAGE used limit), an
// APPEND within it is stored and counted, and one beyond it is refused with NO
// [OVERQUOTA] (RFC 9208 4.3.1, RFC 5530 3), before the "+" of a synchronizing literal and
// after skipping a non-synchronizing one, storing nothing; the connection stays usable.
func TestQuotaMessages(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	a, err := w.dir.CreateAccount(ctx, directory.NewAccount{Address: mail.MustParse("few@local.test"),
		Password: "few-password", QuotaMessages: 3})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.EnsureAccount(ctx, ref(a)); err != nil {
		t.Fatal(err)
	}
	w.deliver(t, a, "INBOX", "Subject: one\n\nbody\n")
	w.deliver(t, a, "INBOX", "Subject: two\n\nbody\n")
	_, addr := w.server(t, nil)
	c := dial(t, addr)
	c.startTLS()
	c.ok("LOGIN few@local.test few-password")
	u := c.ok("GETQUOTAROOT INBOX")
	if !contains(u, `* QUOTAROOT INBOX ""`) || !contains(u, `* QUOTA "" (MESSAGE 2 3)`) {
		t.Fatalf("GETQUOTAROOT: %q", u)
	}
	const m = "Subject: three\r\n\r\nbody\r\n"
	c.send("q1 APPEND INBOX {24+}\r\n" + m + "\r\n")
	if _, st := c.until("q1"); !strings.HasPrefix(st, "OK [APPENDUID") {
		t.Fatalf("APPEND within the quota: %q", st)
	}
	if u := c.ok(`GETQUOTA ""`); !contains(u, `* QUOTA "" (MESSAGE 3 3)`) {
		t.Fatalf("GETQUOTA at the limit: %q", u)
	}
	c.send("q2 APPEND INBOX {24}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "q2 NO [OVERQUOTA]") {
		t.Fatalf("APPEND beyond the message quota: %q (a + here means the literal was invited)", l)
	}
	c.send("q3 APPEND INBOX {24+}\r\n" + m + "\r\n")
	if _, st := c.until("q3"); !strings.HasPrefix(st, "NO [OVERQUOTA]") {
		t.Fatalf("non-synchronizing APPEND beyond the message quota: %q", st)
	}
	if u := c.ok("STATUS INBOX (MESSAGES)"); !contains(u, "* STATUS INBOX (MESSAGES 3)") {
		t.Fatalf("a refused APPEND stored something: %q", u)
	}
	if u := c.ok(`GETQUOTA ""`); !contains(u, `* QUOTA "" (MESSAGE 3 3)`) {
		t.Fatalf("GETQUOTA after the refusals: %q", u)
	}
}

// deflateConn is a client connection under COMPRESS=DEFLATE (RFC 4978): what is written
// is deflated and flushed at once.
type deflateConn struct {
	net.Conn
	w *flate.Writer
}

func (d *deflateConn) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if err == nil {
		err = d.w.Flush()
	}
	return n, err
}

// deflateClient switches c to COMPRESS=DEFLATE after the server's OK, so c.cmd goes on
// working.
func deflateClient(t *testing.T, c *client) {
	t.Helper()
	fw, err := flate.NewWriter(c.conn, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	c.r = bufio.NewReader(flate.NewReader(c.r))
	c.conn = &deflateConn{Conn: c.conn, w: fw}
}
