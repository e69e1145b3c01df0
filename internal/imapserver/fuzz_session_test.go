package imapserver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"mailgrid/internal/imapserver"
	"mailgrid/internal/store"
)

// FuzzSession sends arbitrary bytes as an authenticated client with INBOX selected (two
// messages in it, refilled before each input) over a real connection to a real server.
// The server must neither panic nor hang: after the input (and a DONE and LOGOUT, which
// an open literal may swallow) the client ends its side (TLS close_notify, then a TCP
// half-close), so whatever is still open reads EOF, and the server must then close the
// connection within the tests' deadline (30 s; a session that is done takes
// milliseconds, so a slow or busy machine does not fail it, but a hang does). Corpus in
// testdata/fuzz/FuzzSession.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"a FETCH 1:* (BODY[] BODYSTRUCTURE ENVELOPE BINARY[2] BINARY.SIZE[1])\r\n",
		"b UID SEARCH OR TEXT café NOT (SEEN) RETURN (ALL)\r\nc SEARCH RETURN (SAVE) ALL\r\nd FETCH $ FLAGS\r\n",
		"e STORE 1:* +FLAGS (\\Deleted)\r\nf EXPUNGE\r\ng NOOP\r\n",
		"h APPEND INBOX {5+}\r\nhello\r\ni IDLE\r\nDONE\r\n",
		"j MOVE 1 Trash\r\nk COPY 1:* Archive\r\nl LIST \"\" *\r\n",
		"m CREATE &Jjo-\r\nn RENAME &Jjo- x/y\r\no DELETE x/y\r\n",
		"p APPEND INBOX {99999999999+}\r\n",
		"q ENABLE QRESYNC IMAP4rev2 UTF8=ACCEPT\r\nr SELECT INBOX (QRESYNC (1 1))\r\n",
	} {
		f.Add([]byte(s))
	}
	w := newWorld(f)
	msgs := []string{
		"Subject: a\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\nAAEC\n--b--\n",
		"Subject: b\n\ncafé body\n",
	}
	_, addr := w.server(f, func(o *imapserver.Options) { o.MaxLineLength = 4096 })
	f.Fuzz(func(t *testing.T, in []byte) {
		refillInbox(t, w, msgs)
		c := fuzzLogin(t, addr)
		defer func() { _ = c.Close() }() // the server may have closed it first
		if err := c.SetDeadline(time.Now().Add(deadline)); err != nil {
			t.Fatal(err)
		}
		// The writer runs beside the reader: a server answering a large FETCH while the
		// client still writes must not block on a client that does not read.
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			// Errors mean the server closed the connection first: allowed.
			if _, err := c.Write(append(bytes.Clone(in), "\r\nDONE\r\nzz LOGOUT\r\n"...)); err != nil {
				return
			}
			if err := c.(*tls.Conn).CloseWrite(); err != nil { // close_notify: the server reads EOF
				return
			}
			_ = c.(*tls.Conn).NetConn().(*net.TCPConn).CloseWrite()
		}()
		_, err := io.Copy(io.Discard, c)
		_ = c.Close() // unblocks the writer if the server hung without reading
		<-wrote
		if isTimeout(err) {
			t.Fatalf("server neither closed the connection nor ended within %v after the input: %v", deadline, err)
		}
	})
}

// refillInbox keeps at least len(msgs) messages in INBOX, since inputs expunge and move.
func refillInbox(t *testing.T, w *world, msgs []string) {
	t.Helper()
	mb, err := w.st.Mailbox(context.Background(), ref(w.user), store.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	for i := int(mb.Messages); i < len(msgs); i++ {
		w.deliver(t, w.user, store.Inbox, msgs[i])
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// fuzzLogin returns a TLS connection, logged in with INBOX selected.
func fuzzLogin(t *testing.T, addr string) net.Conn {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.SetDeadline(time.Now().Add(deadline)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(raw)
	expect := func(r *bufio.Reader, prefix string) {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", prefix, err)
			}
			if strings.HasPrefix(l, prefix) {
				return
			}
		}
	}
	expect(r, "* OK")
	if _, err := raw.Write([]byte("s STARTTLS\r\n")); err != nil {
		t.Fatal(err)
	}
	expect(r, "s OK")
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
	tr := bufio.NewReader(c)
	if _, err := c.Write([]byte("l LOGIN user@local.test user-password\r\nx SELECT INBOX\r\n")); err != nil {
		t.Fatal(err)
	}
	expect(tr, "l OK")
	expect(tr, "x OK")
	return c
}
