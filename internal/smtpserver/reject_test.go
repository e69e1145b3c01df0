package smtpserver_test

import (
	"strings"
	"testing"
	"time"

	"mailgrid/internal/delivery/deliverytest"
	"mailgrid/internal/smtpserver"
)

// TestOpenRelayMatrix: every way of turning the MX into a relay is refused with its
// documented reply, and nothing is stored or queued.
func TestOpenRelayMatrix(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeMX, func(o *smtpserver.Options) { o.MaxErrors = 100 })
	c := dial(t, addr, w)
	c.ok("EHLO relay.test", 250)
	for _, tc := range []struct{ rcpt, code, enh string }{
		{"<x@remote.example>", "554", "5.7.1"},
		{"<user%remote.example@local.test>", "550", "5.1.3"},                  // %-hack
		{"<remote.example!user@local.test>", "550", "5.1.3"},                  // bang path
		{`<"user@remote.example"@local.test>`, "550", "5.1.3"},                // quoted @
		{`<"user%remote.example"@local.test>`, "550", "5.1.3"},                // quoted %
		{`<"remote.example!user"@local.test>`, "550", "5.1.3"},                // quoted !
		{"<user@remote.example@local.test>", "550", "5.1.3"},                  // two @
		{"<@local.test:x@remote.example>", "554", "5.7.1"},                    // source route: ignored (RFC 5321 C)
		{"<@local.test,@mx.test:x@remote.example>", "554", "5.7.1"},           // longer route
		{"<user@[127.0.0.1]>", "550", "5.1.2"},                                // address literal
		{"<user@[IPv6:::1]>", "550", "5.1.2"},                                 // IPv6 literal
		{`<"user@local.test"@[127.0.0.1]>`, "550", "5.1.2"},                   // both
		{"<user@localhost>", "554", "5.7.1"},                                  // localhost is not ours
		{"<postmaster@localhost.>", "554", "5.7.1"},                           // trailing dot
		{"<user@local.test.remote.example>", "554", "5.7.1"},                  // suffix trick
		{"<nobody@local.test>", "550", "5.1.1"},                               // unknown user
		{"<user@local.test x>", "501", ""},                                    // junk parameter
		{"<" + strings.Repeat("a", 65) + "@local.test>", "501", "5.1.3"},      // local part > 64
		{"<user@" + strings.Repeat("d", 64) + ".local.test>", "501", "5.1.2"}, // label > 63
		{"<jürgen@local.test>", "553", "5.6.7"},                               // UTF-8 without SMTPUTF8
	} {
		c.ok("MAIL FROM:<alice@remote.example>", 250)
		code, text := c.cmd("RCPT TO:" + tc.rcpt)
		if want := tc.code + " " + tc.enh; !strings.HasPrefix(itoa(code)+" "+text, strings.TrimSpace(want)) {
			t.Errorf("RCPT TO:%s: got %d %s, want %s", tc.rcpt, code, text, want)
		}
		c.ok("DATA", 502) // no valid recipient: no DATA
		c.ok("RSET", 250)
	}
	c.ok("QUIT", 221)
	w.nothingStored(t)
}

// TestSmuggling sends the SMTP smuggling variants; each is refused as a whole and the
// smuggled commands never run.
func TestSmuggling(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeMX, func(o *smtpserver.Options) { o.MaxErrors = 100 })
	smuggled := "MAIL FROM:<admin@local.test>\r\nRCPT TO:<user@local.test>\r\nDATA\r\nFrom: admin@local.test\r\n\r\nsmuggled\r\n"
	for name, body := range map[string]string{
		"LF.CRLF":   "Subject: a\r\n\r\nhello\n.\r\n" + smuggled + ".\r\n",
		"CR.CRLF":   "Subject: a\r\n\r\nhello\r.\r\n" + smuggled + ".\r\n",
		"CRLF.LF":   "Subject: a\r\n\r\nhello\r\n.\n" + smuggled + ".\r\n",
		"LF.LF":     "Subject: a\r\n\r\nhello\n.\n" + smuggled + ".\r\n",
		"bare LF":   "Subject: a\r\n\r\nline one\nline two\r\n.\r\n",
		"bare CR":   "Subject: a\r\n\r\nline one\rline two\r\n.\r\n",
		"header LF": "Subject: a\nX-Evil: 1\r\n\r\nbody\r\n.\r\n",
	} {
		c := dial(t, addr, w)
		c.ok("EHLO smuggler.test", 250)
		c.ok("MAIL FROM:<alice@remote.example>", 250)
		c.ok("RCPT TO:<user@local.test>", 250)
		code, text := c.data(body)
		if code != 550 || !strings.HasPrefix(text, "5.6.0") {
			t.Errorf("%s: got %d %s, want 550 5.6.0", name, code, text)
		}
		c.ok("NOOP", 250) // the very next reply is ours: nothing smuggled ran
		c.ok("QUIT", 221)
	}
	w.nothingStored(t)

	// <CRLF>.<CR>x: go-smtp's dot-unstuffing drops the "." and the lone CR before we see
	// the content (indistinguishable from an unstuffed ".x" line). The data does not end
	// there, the smuggled commands stay message text, and the stored copy has no bare CR.
	c := dial(t, addr, w)
	c.ok("EHLO smuggler.test", 250)
	c.ok("MAIL FROM:<alice@remote.example>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	code, text := c.data("Subject: a\r\n\r\nhello\r\n.\r" + smuggled + ".\r\n")
	c.check(code, text, 250)
	c.ok("NOOP", 250)
	c.ok("QUIT", 221)
	got := inbox(t, w, w.user, 1)[0].Body
	splitTrace(t, got, "alice@remote.example", "Subject: a\r\n\r\nhello\r\n"+smuggled)
	if n := w.Total(t, w.sender, w.other); n != 0 {
		t.Fatalf("smuggled message stored (%d)", n)
	}

	// BDAT carries no dot-stuffing but the same rule applies.
	w2 := newWorld(t, deliverytest.Options{})
	_, addr = w2.server(t, smtpserver.ModeMX, nil)
	w = w2
	c = dial(t, addr, w)
	c.ok("EHLO smuggler.test", 250)
	c.ok("MAIL FROM:<alice@remote.example>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	chunk := "Subject: a\r\n\r\nline\nmore\r\n"
	c.send("BDAT " + itoa(len(chunk)) + " LAST\r\n" + chunk)
	c.expect(550, "5.6.0")
	c.ok("NOOP", 250)
	w.nothingStored(t)
}

func TestLineLength(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeMX, nil)
	c := dial(t, addr, w)
	c.ok("EHLO long.test", 250)
	c.ok("MAIL FROM:<alice@remote.example>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	code, text := c.data("Subject: a\r\n\r\n" + strings.Repeat("a", 999) + "\r\n.\r\n")
	if code != 550 || !strings.HasPrefix(text, "5.6.0") {
		t.Fatalf("999-octet line: %d %s, want 550 5.6.0", code, text)
	}
	w.nothingStored(t)
	// 998 octets + CRLF is the limit and passes (RFC 5321 4.5.3.1.6).
	c.ok("MAIL FROM:<alice@remote.example>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	msg := "Subject: a\r\n\r\n" + strings.Repeat("b", 998) + "\r\n"
	code, text = c.data(msg + ".\r\n")
	c.check(code, text, 250)
	splitTrace(t, inbox(t, w, w.user, 1)[0].Body, "alice@remote.example", msg)
	// A command line beyond the bound ends the connection without effect.
	c.send("NOOP " + strings.Repeat("x", 5000) + "\r\n")
	code, _ = c.reply()
	if code != 500 || !c.closed() {
		t.Fatalf("over-long command: %d, want 500 and close", code)
	}
}

func TestSizeLimits(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	w.Domain(t, "small.test", 3000, 0)
	small := w.Account(t, "u@small.test", "small-password", 0)
	_, addr := w.server(t, smtpserver.ModeMX, func(o *smtpserver.Options) { o.MaxMessageBytes = 10000 })
	c := dial(t, addr, w)
	c.ok("EHLO size.test", 250)
	c.ok("MAIL FROM:<alice@remote.example> SIZE=10001", 552, "5.3.4")
	c.ok("MAIL FROM:<alice@remote.example> SIZE=4000", 250)
	c.ok("RCPT TO:<u@small.test>", 552, "5.3.4") // domain MaxMessageBytes vs SIZE
	c.ok("RCPT TO:<user@local.test>", 250)
	code, text := c.data("Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("z", 98)+"\r\n", 110) + ".\r\n")
	if code != 552 || !strings.HasPrefix(text, "5.3.4") {
		t.Fatalf("oversized DATA: %d %s", code, text)
	}
	c.ok("NOOP", 250)
	w.nothingStored(t)
	if n := w.Total(t, small); n != 0 {
		t.Fatalf("small.test got %d", n)
	}
}

func TestAuthOnlyAfterTLS(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeSubmission, nil)
	c := dial(t, addr, w)
	ehlo := c.ok("EHLO client.test", 250)
	if strings.Contains(ehlo, "AUTH") || !strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("EHLO before TLS:\n%s", ehlo)
	}
	c.ok("AUTH PLAIN AHNlbmRlckBsb2NhbC50ZXN0AHNlbmRlci1wYXNzd29yZA==", 538, "5.7.11")
	c.ok("AUTH LOGIN", 538, "5.7.11")
	c.ok("MAIL FROM:<sender@local.test>", 530, "5.7.0")
	c.startTLS()
	ehlo = c.ok("EHLO client.test", 250)
	if !strings.Contains(ehlo, "AUTH PLAIN LOGIN") || strings.Contains(ehlo, "STARTTLS") {
		t.Fatalf("EHLO after TLS:\n%s", ehlo)
	}
	c.ok("MAIL FROM:<sender@local.test>", 530, "5.7.0")
	c.ok("AUTH PLAIN AHNlbmRlckBsb2NhbC50ZXN0AHdyb25n", 535, "5.7.8") // wrong password
	c.ok("AUTH LOGIN", 334)
	c.ok("c2VuZGVyQGxvY2FsLnRlc3Q=", 334)   // sender@local.test
	c.ok("c2VuZGVyLXBhc3N3b3Jk", 235, "2.") // sender-password
	c.ok("MAIL FROM:<sender@local.test>", 250)
	w.nothingStored(t)

	// The MX offers no AUTH at all.
	_, mx := w.server(t, smtpserver.ModeMX, nil)
	m := dial(t, mx, w)
	m.ok("EHLO client.test", 250)
	m.startTLS()
	if ehlo := m.ok("EHLO client.test", 250); strings.Contains(ehlo, "AUTH") {
		t.Fatalf("MX advertises AUTH:\n%s", ehlo)
	}
	m.ok("AUTH PLAIN AHNlbmRlckBsb2NhbC50ZXN0AHNlbmRlci1wYXNzd29yZA==", 503, "5.5.1")
}

func TestSenderSpoofing(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeSubmission, func(o *smtpserver.Options) { o.MaxErrors = 100 })
	c := dial(t, addr, w)
	c.ok("EHLO client.test", 250)
	c.startTLS()
	c.ok("EHLO client.test", 250)
	c.login("sender@local.test", "sender-password")
	c.ok("MAIL FROM:<other@local.test>", 550, "5.7.1")
	c.ok("MAIL FROM:<boss@remote.example>", 550, "5.7.1")
	for _, from := range []string{
		"From: other@local.test",
		"From: Sender <sender@local.test>, Boss <other@local.test>",
		"From: =?utf-8?q?Sender?= <sender@local.test>\r\nFrom: other@local.test",
		"From: Sender\r\n <other@local.test>", // folded
		"X-No-From: here",
	} {
		c.ok("MAIL FROM:<sender@local.test>", 250)
		c.ok("RCPT TO:<user@local.test>", 250)
		c.ok("RCPT TO:<x@remote.example>", 250)
		code, text := c.data(from + "\r\nSubject: spoof\r\n\r\nbody\r\n.\r\n")
		if code != 550 || !(strings.HasPrefix(text, "5.7.1") || strings.HasPrefix(text, "5.6.0")) {
			t.Errorf("%q: %d %s, want 550 5.7.1 (or 5.6.0 without From)", from, code, text)
		}
	}
	w.nothingStored(t)
}

func TestInterruptedData(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	srv, addr := w.server(t, smtpserver.ModeMX, nil)
	c := dial(t, addr, w)
	c.ok("EHLO client.test", 250)
	c.ok("MAIL FROM:<alice@remote.example>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	c.ok("DATA", 354)
	c.send("Subject: cut\r\n\r\n" + strings.Repeat(strings.Repeat("q", 70)+"\r\n", 200)) // > SpoolMemory: on disk
	if err := c.conn.Close(); err != nil {
		t.Fatal(err)
	}
	shutdown(t, srv) // waits until the session has ended
	w.nothingStored(t)
}

func TestConnectionAndErrorLimits(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeMX, func(o *smtpserver.Options) { o.MaxConnsPerIP = 2; o.MaxErrors = 3 })
	a := dial(t, addr, w)
	dial(t, addr, w)
	third := rawDial(t, addr)
	third.expect(421, "4.7.0")
	if !third.closed() {
		t.Fatal("third connection not closed")
	}
	a.ok("EHLO client.test", 250)
	a.ok("MAIL FROM:<alice@remote.example>", 250)
	a.ok("RCPT TO:<x@remote.example>", 554)
	a.ok("RCPT TO:<y@remote.example>", 554)
	a.ok("RCPT TO:<z@remote.example>", 554) // the third error
	a.expect(421, "4.7.0")
	if !a.closed() {
		t.Fatal("connection not closed after MaxErrors")
	}
	// The slot is free again once the server has closed its side.
	for i := 0; ; i++ {
		c := rawDial(t, addr)
		if code, _ := c.reply(); code == 220 {
			break
		}
		if i == 1000 {
			t.Fatal("per-IP slot never released")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCommands(t *testing.T) {
	w := newWorld(t, deliverytest.Options{})
	_, addr := w.server(t, smtpserver.ModeMX, nil)
	c := dial(t, addr, w)
	c.ok("HELO old.client.test", 250)
	c.ok("NOOP", 250)
	c.ok("VRFY user@local.test", 252) // RFC 5321 3.5.3: no address harvesting
	c.ok("HELP", 502)                 // go-smtp: not implemented (not required, RFC 5321 4.5.1)
	c.ok("MAIL FROM:<alice@remote.example>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	c.ok("RSET", 250)
	c.ok("DATA", 502) // RSET cleared the transaction
	c.ok("MAIL FROM:<>", 250)
	c.ok("RCPT TO:<user@local.test>", 250)
	c.ok("RCPT TO:<USER@local.test>", 250) // duplicate: one copy
	msg := "Subject: bdat\r\n\r\nchunked\r\n"
	c.send("BDAT 10\r\n" + msg[:10])
	c.expect(250)
	c.send("BDAT " + itoa(len(msg)-10) + " LAST\r\n" + msg[10:])
	c.expect(250, "2.0.0 Ok: queued as ")
	c.ok("QUIT", 221)
	ms := inbox(t, w, w.user, 1)
	_, _, rcpt := splitTrace(t, ms[0].Body, "", msg)
	if rcpt != "user@local.test" {
		t.Errorf("for <%s>", rcpt)
	}
}
