package fetch

// A small POP3 client (RFC 1939), enough to collect mail: greeting, STLS (RFC 2595 4),
// USER/PASS, UIDL, LIST, RETR, DELE, QUIT. No Go POP3 library is available here.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// RemoteError is a -ERR reply of the remote server (RFC 1939 3), or a protocol violation.
type RemoteError struct {
	Cmd   string // the command, without arguments ("PASS")
	Reply string // the server's text, truncated
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("the POP3 server refused %s: %s", e.Cmd, e.Reply)
}

// ConnError is a failure of the connection to the remote server (refused, timed out,
// TLS): the remote's side, not ours.
type ConnError struct{ Err error }

func (e *ConnError) Error() string { return e.Err.Error() }
func (e *ConnError) Unwrap() error { return e.Err }

// IsRemote reports whether err is the remote server's refusal or a failure to reach it.
func IsRemote(err error) bool {
	var re *RemoteError
	var ce *ConnError
	return errors.As(err, &re) || errors.As(err, &ce)
}

// remote wraps a client error that is not already a RemoteError as a ConnError.
func remote(err error) error {
	var re *RemoteError
	if err == nil || errors.As(err, &re) || errors.Is(err, context.Canceled) {
		return err
	}
	return &ConnError{Err: err}
}

// maxLine bounds a reply line (RFC 1939 3: 512 octets; we allow more) and a message line.
const maxLine = 64 << 10

// client is one POP3 session.
type client struct {
	conn net.Conn
	r    *bufio.Reader
	// timeout bounds each command's exchange.
	timeout time.Duration
}

// Dialer opens the TCP connection; tests may replace it.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// dialPOP3 connects to a, does TLS as a asks, reads the greeting and logs in.
func dialPOP3(ctx context.Context, dial Dialer, a Account, password string, base *tls.Config, timeout time.Duration) (*client, error) {
	if a.TLS == TLSNone && !Loopback(a.Host) {
		return nil, errors.New("refusing a POP3 connection without TLS to a non-loopback host")
	}
	conn, err := dial(ctx, "tcp", a.Addr())
	if errors.Is(err, ErrForbidden) {
		return nil, err // the user's choice, not the remote's fault
	}
	if err != nil {
		return nil, &ConnError{Err: fmt.Errorf("cannot connect to %s: %w", a.Addr(), err)}
	}
	tc := tlsConfig(base, a.Host)
	if a.TLS == TLSImplicit {
		conn = tls.Client(conn, tc)
	}
	c := &client{conn: conn, r: bufio.NewReaderSize(conn, 4096), timeout: timeout}
	if err := c.login(ctx, a, password, tc); err != nil {
		if cerr := c.conn.Close(); cerr != nil {
			err = fmt.Errorf("%w (and closing: %v)", err, cerr)
		}
		return nil, remote(err)
	}
	return c, nil
}

func tlsConfig(base *tls.Config, host string) *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		tc = base.Clone()
	}
	tc.ServerName = host
	return tc
}

func (c *client) login(ctx context.Context, a Account, password string, tc *tls.Config) error {
	if _, err := c.reply(ctx, "greeting"); err != nil {
		return err
	}
	if a.TLS == TLSStartTLS {
		// RFC 2595 4: STLS, then the TLS negotiation begins immediately after the +OK.
		if _, err := c.cmd(ctx, "STLS", "STLS"); err != nil {
			return err
		}
		tconn := tls.Client(c.conn, tc)
		hctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		if err := tconn.HandshakeContext(hctx); err != nil {
			return fmt.Errorf("TLS with %s: %w", a.Host, err)
		}
		c.conn, c.r = tconn, bufio.NewReaderSize(tconn, 4096)
	}
	// RFC 1939 7: USER name, then PASS string.
	if _, err := c.cmd(ctx, "USER", "USER "+a.User); err != nil {
		return err
	}
	if strings.ContainsAny(password, "\r\n") {
		return errors.New("the password holds a line break")
	}
	if _, err := c.cmd(ctx, "PASS", "PASS "+password); err != nil {
		return err
	}
	return nil
}

// deadline applies the per-command timeout (and ctx's deadline, if sooner).
func (c *client) deadline(ctx context.Context) error {
	d := time.Now().Add(c.timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.conn.SetDeadline(d)
}

// cmd sends line and reads a one-line reply; name is the command shown in errors (never
// PASS's argument).
func (c *client) cmd(ctx context.Context, name, line string) (string, error) {
	if err := c.deadline(ctx); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c.conn, line+"\r\n"); err != nil {
		return "", fmt.Errorf("POP3 %s: %w", name, err)
	}
	return c.reply(ctx, name)
}

// reply reads a status line: "+OK text" or "-ERR text" (RFC 1939 3).
func (c *client) reply(ctx context.Context, name string) (string, error) {
	if err := c.deadline(ctx); err != nil {
		return "", err
	}
	l, err := c.line()
	if err != nil {
		return "", fmt.Errorf("POP3 %s: %w", name, err)
	}
	switch {
	case l == "+OK" || strings.HasPrefix(l, "+OK "):
		return strings.TrimPrefix(strings.TrimPrefix(l, "+OK"), " "), nil
	case strings.HasPrefix(l, "-ERR"):
		return "", &RemoteError{Cmd: name, Reply: clip(strings.TrimSpace(strings.TrimPrefix(l, "-ERR")))}
	}
	if name == "greeting" {
		// Not a POP3 server: say so without echoing what it sent, so the form cannot read
		// the banners of other services (the host and port are the user's choice).
		return "", &RemoteError{Cmd: name, Reply: "not a POP3 server"}
	}
	return "", &RemoteError{Cmd: name, Reply: "not a POP3 reply: " + clip(l)}
}

func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// line reads one CRLF (or LF) terminated line without its ending.
func (c *client) line() (string, error) {
	b, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		var long []byte
		long = append(long, b...)
		for errors.Is(err, bufio.ErrBufferFull) && len(long) <= maxLine {
			b, err = c.r.ReadSlice('\n')
			long = append(long, b...)
		}
		if len(long) > maxLine {
			return "", errors.New("line too long")
		}
		b = long
	}
	if err != nil {
		return "", err
	}
	return string(bytes.TrimRight(b, "\r\n")), nil
}

// multi reads a multi-line response body into w, undoing byte-stuffing and ending at the
// "." line (RFC 1939 3); lines are written with CRLF. At most limit octets are accepted.
func (c *client) multi(w *bytes.Buffer, limit int64) error {
	for {
		l, err := c.line()
		if err != nil {
			return err
		}
		if l == "." {
			return nil
		}
		l = strings.TrimPrefix(l, ".")
		if int64(w.Len()+len(l)+2) > limit {
			return errTooLarge
		}
		w.WriteString(l)
		w.WriteString("\r\n")
	}
}

var errTooLarge = errors.New("message larger than the limit")

// uidl lists the messages' numbers and unique-ids (RFC 1939 7, UIDL without argument).
func (c *client) uidl(ctx context.Context) (map[int]string, error) {
	if _, err := c.cmd(ctx, "UIDL", "UIDL"); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := c.multi(&buf, 64<<20); err != nil {
		return nil, fmt.Errorf("POP3 UIDL: %w", err)
	}
	out := map[int]string{}
	for l := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\r\n") {
		if l == "" {
			continue
		}
		f := strings.Fields(l)
		n, err := strconv.Atoi(f[0])
		// RFC 1939 7: the unique-id is 1 to 70 characters in 0x21 to 0x7E.
		if len(f) != 2 || err != nil || n < 1 || len(f[1]) > 70 {
			return nil, &RemoteError{Cmd: "UIDL", Reply: "bad line: " + clip(l)}
		}
		out[n] = f[1]
	}
	return out, nil
}

// list returns the messages' sizes (RFC 1939 5, LIST).
func (c *client) list(ctx context.Context) (map[int]int64, error) {
	if _, err := c.cmd(ctx, "LIST", "LIST"); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := c.multi(&buf, 64<<20); err != nil {
		return nil, fmt.Errorf("POP3 LIST: %w", err)
	}
	out := map[int]int64{}
	for l := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\r\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, err1 := strconv.Atoi(f[0])
		sz, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 == nil && err2 == nil {
			out[n] = sz
		}
	}
	return out, nil
}

// retr reads message n (RFC 1939 5, RETR).
func (c *client) retr(ctx context.Context, n int, limit int64) ([]byte, error) {
	if _, err := c.cmd(ctx, "RETR", fmt.Sprintf("RETR %d", n)); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := c.deadline(ctx); err != nil {
		return nil, err
	}
	if err := c.multi(&buf, limit); err != nil {
		return nil, fmt.Errorf("POP3 RETR %d: %w", n, err)
	}
	return buf.Bytes(), nil
}

// dele marks message n deleted; the server removes it at QUIT (RFC 1939 5, 6).
func (c *client) dele(ctx context.Context, n int) error {
	_, err := c.cmd(ctx, "DELE", fmt.Sprintf("DELE %d", n))
	return err
}

// quit ends the session: the server enters the UPDATE state and expunges the messages
// marked deleted (RFC 1939 6); a -ERR means it could not remove them all.
func (c *client) quit(ctx context.Context) error {
	_, err := c.cmd(ctx, "QUIT", "QUIT")
	return errors.Join(err, c.conn.Close())
}

// close drops the connection without QUIT: nothing marked is deleted (RFC 1939 6).
func (c *client) close() error { return c.conn.Close() }
