package imapserver_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The harness account's password, and what the server may only answer once logged in.
const preauthPassword = "user-password"

var (
	// The tagged OK of LOGIN and AUTHENTICATE (cmd_auth.go), of SELECT and EXAMINE, and the
	// BAD of a pre-authentication command sent after login: before authentication only
	// CAPABILITY, NOOP, CHECK, LOGOUT, ID, STARTTLS, LOGIN and AUTHENTICATE run, and none
	// of them answers so. Untagged data only an authenticated session sends.
	authOnly = regexp.MustCompile(`^[^ ]+ OK \[(CAPABILITY [^\]]*\] Logged in|READ-WRITE\]|READ-ONLY\])` +
		`|^[^ ]+ BAD [A-Z]+ not allowed after authentication` +
		`|^\* (LIST|LSUB|STATUS|ENABLED|NAMESPACE|FLAGS|QUOTA|QUOTAROOT|ESEARCH|SEARCH|SORT|THREAD) ` +
		`|^\* [0-9]+ (EXISTS|FETCH|EXPUNGE)`)
	startTLSOK = regexp.MustCompile(`^zs OK Begin TLS negotiation now\r\n$`)
	compressOK = regexp.MustCompile(`^[^ ]+ OK DEFLATE active`)
	b64Run     = regexp.MustCompile(`[A-Za-z0-9+/=]+`)
)

// FuzzPreauth feeds arbitrary bytes to a connection from the greeting on, over a real
// server with STARTTLS and the account user@local.test (one message in INBOX). Two
// shapes, chosen by the input:
//
//   - tlsIn empty: plain is the whole client side, in plaintext (STARTTLS in it meets the
//     bytes that follow, or EOF, as its handshake). No authentication may happen at all:
//     logins are refused without TLS.
//   - tlsIn not empty: the harness sends "zs STARTTLS" with plain pipelined after it in
//     the same write (cut to 4 KiB, so the server's first read holds it all), does the
//     TLS handshake after the OK, then sends tlsIn over TLS. plain must never be
//     executed (RFC 9051 6.2.1, the command injection of CVE-2011-0411): every tagged
//     response over TLS carries a tag that tlsIn holds, and the session is logged in only
//     if tlsIn holds the password (verbatim, as LOGIN sends it, or in a base64 word, as
//     AUTHENTICATE PLAIN and LOGIN send it).
//
// Either way "zp SELECT INBOX" follows the input, so a session that became authenticated
// silently still shows it, and the client then ends its side (close_notify, TCP
// half-close): the server must close the connection within the tests' deadline (a hang
// fails; a busy machine does not, since a finished session takes milliseconds).
// Corpus in testdata/fuzz/FuzzPreauth.
func FuzzPreauth(f *testing.F) {
	w := newWorld(f)
	w.deliver(f, w.user, "INBOX", "Subject: a\n\nbody\n")
	_, addr := w.server(f, nil)
	f.Fuzz(func(t *testing.T, plain, tlsIn []byte) {
		preauthSession(t, addr, plain, tlsIn)
	})
}

const preauthProbe = "\r\nzp SELECT INBOX\r\n"

func preauthSession(t *testing.T, addr string, plain, tlsIn []byte) {
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close() }() // the server may have closed it first
	if err := raw.SetDeadline(time.Now().Add(deadline)); err != nil {
		t.Fatal(err)
	}
	tcp := raw.(*net.TCPConn)
	r := &respReader{br: bufio.NewReader(raw)}
	if len(tlsIn) == 0 {
		wrote := writeAndClose(append(bytes.Clone(plain), preauthProbe...), raw, tcp.CloseWrite)
		for l, ok := r.next(); ok; l, ok = r.next() {
			if authOnly.MatchString(l) {
				t.Fatalf("authenticated without TLS: %q", l)
			}
		}
		closeAndWait(t, raw, wrote, r.err)
		return
	}

	// STARTTLS with plain pipelined after it, in one write that the server's first read
	// (4 KiB) takes whole, so plain is discarded rather than fed to its TLS handshake: a
	// record header in it could make the server wait for octets this client never sends
	// (plaintext STARTTLS with bytes after it is the shape above).
	cmd := append([]byte("zs STARTTLS\r\n"), plain...)
	cmd = cmd[:min(len(cmd), 4096)]
	wrote := writeAndClose(cmd, raw, nil)
	for {
		l, ok := r.next()
		if !ok {
			closeAndWait(t, raw, wrote, r.err)
			t.Fatalf("no OK to STARTTLS: %v", r.err)
		}
		if startTLSOK.MatchString(l) {
			break
		}
		if authOnly.MatchString(l) {
			t.Fatalf("authenticated without TLS: %q", l)
		}
	}
	if n := r.br.Buffered(); n > 0 {
		t.Fatalf("%d plaintext bytes after the STARTTLS OK", n)
	}
	<-wrote                                                     // the server has plain (discarded) before the ClientHello follows
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
	if err := c.Handshake(); err != nil {
		t.Logf("handshake failed: %v", err)
		// Not expected (plain fits the server's first read), but should plain reach the
		// server's handshake, the server must still end the connection.
		_ = tcp.CloseWrite()
		_, err := io.Copy(io.Discard, raw)
		if isTimeout(err) {
			t.Fatalf("server did not close the connection after a failed handshake: %v", err)
		}
		return
	}
	sent := append(bytes.Clone(tlsIn), preauthProbe...)
	wrote = writeAndClose(sent, c, func() error {
		if err := c.CloseWrite(); err != nil {
			return err
		}
		return tcp.CloseWrite()
	})
	r = &respReader{br: bufio.NewReader(c)}
	for l, ok := r.next(); ok; l, ok = r.next() {
		if tag, _, _ := strings.Cut(l, " "); tag != "*" && tag != "+" && !bytes.Contains(sent, []byte(tag)) {
			t.Fatalf("tagged response over TLS to a command not sent over TLS (pipelined after STARTTLS?): %q", l)
		}
		if authOnly.MatchString(l) && !hasPassword(tlsIn) {
			t.Fatalf("authenticated without the password over TLS: %q", l)
		}
		if compressOK.MatchString(l) {
			break // the rest is compressed
		}
	}
	if r.err == nil {
		_, r.err = io.Copy(io.Discard, r.br)
	}
	closeAndWait(t, c, wrote, r.err)
}

// writeAndClose writes b and then calls end (if any) in a goroutine, so a server that
// answers while the client writes never blocks on a client that does not read. Write
// errors mean the server closed first: allowed.
func writeAndClose(b []byte, w io.Writer, end func() error) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := w.Write(b); err != nil || end == nil {
			return
		}
		_ = end()
	}()
	return done
}

// closeAndWait closes the connection (unblocking a writer stuck on a hung server), waits
// for the writer and fails if reading ended by the deadline rather than the server.
func closeAndWait(t *testing.T, c net.Conn, wrote <-chan struct{}, readErr error) {
	t.Helper()
	_ = c.Close()
	<-wrote
	if isTimeout(readErr) {
		t.Fatalf("server neither ended the session nor closed within %v after the input: %v", deadline, readErr)
	}
}

// hasPassword reports whether b carries the harness password as LOGIN or AUTHENTICATE
// could: verbatim (atom, quoted with any backslashes, literal) or inside a base64 word.
func hasPassword(b []byte) bool {
	if bytes.Contains(bytes.ReplaceAll(b, []byte(`\`), nil), []byte(preauthPassword)) {
		return true
	}
	for _, w := range b64Run.FindAll(b, -1) {
		if d, err := base64.StdEncoding.DecodeString(string(w)); err == nil && bytes.Contains(d, []byte(preauthPassword)) {
			return true
		}
	}
	return false
}

// respReader reads response lines, with any literal's octets appended to its line.
type respReader struct {
	br  *bufio.Reader
	err error // why next reported false: EOF or a closed connection is the server's end
}

func (r *respReader) next() (string, bool) {
	var b strings.Builder
	for r.err == nil {
		l, err := r.br.ReadString('\n')
		if err != nil {
			r.err = err
			return "", false
		}
		b.WriteString(l)
		n := -1
		if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}\r\n") {
			if _, err := fmt.Sscanf(l[i:], "{%d}", &n); err != nil {
				n = -1
			}
		}
		if n < 0 {
			return b.String(), true
		}
		lit := make([]byte, n) // the line goes on after the literal
		if _, err := io.ReadFull(r.br, lit); err != nil {
			r.err = err
			return "", false
		}
		b.Write(lit)
	}
	return "", false
}
