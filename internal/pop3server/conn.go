package pop3server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
	"time"

	"mailgrid/internal/netserve"
)

// Reasons a read ends a session; the session says the matching goodbye.
var (
	errShutdown = errors.New("server shutting down")
	errIdle     = errors.New("idle timeout")
	errLineLong = errors.New("line too long")
	errEnded    = errors.New("session ended by its account's end")
)

const writeBufSize = 16 << 10 // one full TLS record per flush

// conn is a session's transport: the TCP connection, the TLS layer once there is one, and
// the buffered reader and writer over the current layer. Only the session's goroutine
// uses it; Shutdown (netserve) touches only raw's read deadline.
type conn struct {
	srv *Server
	raw net.Conn
	tls *tls.Conn // nil until STLS or the implicit-TLS handshake
	r   *bufio.Reader
	w   *bufio.Writer
	// ended is the last reply of a session whose account moved or closed, set (ended.go)
	// before its read is woken.
	ended atomic.Pointer[Error]
}

// end records the session's last reply, the first one given, and wakes its read (from
// the publisher's goroutine, ended.go; as Shutdown, it touches only raw's read deadline,
// after the flag).
func (c *conn) end(e *Error) error {
	if !c.ended.CompareAndSwap(nil, e) {
		return nil
	}
	return c.raw.SetReadDeadline(time.Unix(1, 0))
}

func newConn(srv *Server, raw net.Conn) *conn {
	c := &conn{srv: srv, raw: raw}
	c.attach(netserve.WriteDeadlineConn{Conn: raw, D: srv.opt.IdleTimeout})
	return c
}

func (c *conn) attach(nc net.Conn) {
	c.r = bufio.NewReaderSize(nc, max(c.srv.opt.MaxLineLength, saslLineMax)+2)
	c.w = bufio.NewWriterSize(nc, writeBufSize)
}

// readLine reads one line of at most limit octets (CRLF included) and returns it without
// its line end; a bare LF ends a line too. The slice is valid until the next read.
//
// The read deadline is armed before the shutdown flag is checked, and Shutdown sets the
// flag before it wakes readers (netserve.Server.Shutdown), so a session can never sleep through a shutdown.
func (c *conn) readLine(limit int) ([]byte, error) {
	if err := c.raw.SetReadDeadline(time.Now().Add(c.srv.opt.IdleTimeout)); err != nil {
		return nil, err
	}
	if c.srv.net.Closing() {
		return nil, errShutdown
	}
	if c.ended.Load() != nil {
		return nil, errEnded
	}
	line, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > limit {
		return nil, errLineLong
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if c.srv.net.Closing() {
				return nil, errShutdown
			}
			if c.ended.Load() != nil {
				return nil, errEnded
			}
			return nil, errIdle // RFC 1939 3: autologout, no UPDATE
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// reply buffers one reply line; flush sends it.
func (c *conn) reply(line string) error {
	if _, err := c.w.WriteString(line); err != nil {
		return err
	}
	_, err := c.w.WriteString("\r\n")
	return err
}

// flushIfIdle sends the buffered replies unless the client has already pipelined a
// whole next command (RFC 2449 6.6 PIPELINING: replies to a batch go out together). A
// partial line does not hold replies back.
func (c *conn) flushIfIdle() error {
	if n := c.r.Buffered(); n > 0 {
		if next, err := c.r.Peek(n); err == nil && bytes.IndexByte(next, '\n') >= 0 {
			return nil
		}
	}
	return c.w.Flush()
}

// startTLS runs the server side of a TLS handshake on the raw connection and switches the
// reader and writer to it. Bytes the client sent before the handshake (commands pipelined
// after STLS, RFC 2595 4, the CVE-2011-0411 class of attack) are discarded, never run:
// they were read in plaintext and could have been injected by anyone on the path.
func (c *conn) startTLS(ctx context.Context) (discarded int, err error) {
	tc, discarded, err := netserve.StartTLS(ctx, c.raw, c.r, c.srv.opt.TLSConfig, c.srv.opt.IdleTimeout, handshakeTimeout)
	if err != nil {
		return discarded, err
	}
	c.tls = tc
	c.attach(tc)
	return discarded, nil
}

// close flushes what is buffered and closes the connection.
func (c *conn) close() {
	netserve.FlushClose(c.srv.log, c.w, c.raw)
}
