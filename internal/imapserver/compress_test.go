package imapserver_test

import (
	"bufio"
	"compress/flate"
	"io"
	"strings"
	"testing"
)

// flateConn is the client side of COMPRESS=DEFLATE (RFC 4978).
type flateConn struct {
	io.Reader
	w *flate.Writer
}

func (f *flateConn) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.w.Flush()
	}
	return n, err
}

// TestCompress: after COMPRESS DEFLATE both directions are deflated; commands and
// literals still work, and a second COMPRESS is refused.
func TestCompress(t *testing.T) {
	w := newWorld(t)
	w.deliver(t, w.user, "INBOX", "Subject: z\n\n"+strings.Repeat("compressible text ", 200)+"\n")
	_, addr := w.server(t, nil)
	c := login(t, addr)
	c.ok("COMPRESS DEFLATE")
	fw, err := flate.NewWriter(c.conn, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	fc := &flateConn{Reader: flate.NewReader(c.r), w: fw}
	c.r = bufio.NewReader(fc)
	wr := fc
	send := func(s string) {
		if _, err := wr.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	send("c1 SELECT INBOX\r\n")
	u, st := c.until("c1")
	if !strings.HasPrefix(st, "OK") || !contains(u, "* 1 EXISTS") {
		t.Fatalf("select over deflate: %q %q", u, st)
	}
	send("c2 FETCH 1 BODY.PEEK[TEXT]\r\nc3 COMPRESS DEFLATE\r\n")
	u, st = c.until("c2")
	if !strings.HasPrefix(st, "OK") || !contains(u, strings.Repeat("compressible text ", 200)) {
		t.Fatalf("fetch over deflate: %q", st)
	}
	if _, st = c.until("c3"); !strings.HasPrefix(st, "NO [COMPRESSIONACTIVE]") {
		t.Fatalf("second COMPRESS: %q", st)
	}
	send("c4 APPEND INBOX {12+}\r\nSubject: y\r\n\r\nc5 LOGOUT\r\n")
	if _, st = c.until("c4"); !strings.HasPrefix(st, "OK [APPENDUID") {
		t.Fatalf("append over deflate: %q", st)
	}
	if _, st = c.until("c5"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("logout: %q", st)
	}
}
