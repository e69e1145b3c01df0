package managesieve

import (
	"bufio"
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
	errEnded    = errors.New("session ended by its account's end")
)

const (
	readBufSize  = 16 << 10
	writeBufSize = 16 << 10 // one full TLS record per flush
)

// conn is a session's transport: the TCP connection, the TLS layer once there is one,
// the buffered reader and writer over the current layer, and the command parser over
// the reader. Only the session's goroutine uses it; Shutdown (netserve) touches only
// raw's read deadline.
type conn struct {
	srv *Server
	raw net.Conn
	tls *tls.Conn // nil until STARTTLS or the implicit-TLS handshake
	cur net.Conn  // the layer read and written now
	r   *bufio.Reader
	w   *bufio.Writer
	p   *parser
	// ended is the BYE of a session whose account was deleted or disabled, set
	// (ended.go) before its read is woken.
	ended atomic.Pointer[string]
}

// end records the session's BYE, the first one given, and wakes its read (from the
// publisher's goroutine, ended.go; as Shutdown, it touches only raw's read deadline,
// after the flag).
func (c *conn) end(bye string) error {
	if !c.ended.CompareAndSwap(nil, &bye) {
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
	c.cur = nc
	c.r = bufio.NewReaderSize(flushReader{c}, readBufSize)
	c.w = bufio.NewWriterSize(nc, writeBufSize)
	c.p = newParser(c.r, maxLine, discardFactor*(c.srv.opt.MaxScriptSize+smallBudget))
}

// flushReader sends the buffered replies before the reader waits for the client: the
// replies to a batch of pipelined commands go out together, and a reply is never held
// back while the session waits for input.
type flushReader struct{ c *conn }

func (f flushReader) Read(p []byte) (int, error) {
	if f.c.w.Buffered() > 0 {
		if err := f.c.w.Flush(); err != nil {
			return 0, err
		}
	}
	return f.c.cur.Read(p)
}

// arm sets the read deadline for the next command. The deadline is armed before the
// shutdown flag is checked, and Shutdown sets the flag before it wakes readers, so a
// session can never sleep through a shutdown.
func (c *conn) arm(idle time.Duration) error {
	if err := c.raw.SetReadDeadline(time.Now().Add(idle)); err != nil {
		return err
	}
	if c.srv.net.Closing() {
		return errShutdown
	}
	if c.ended.Load() != nil {
		return errEnded
	}
	return nil
}

// readErr maps a timeout to the shutdown or idle reason.
func (c *conn) readErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if c.srv.net.Closing() {
			return errShutdown
		}
		if c.ended.Load() != nil {
			return errEnded
		}
		return errIdle
	}
	return err
}

// reply buffers one reply line.
func (c *conn) reply(line string) error {
	if _, err := c.w.WriteString(line); err != nil {
		return err
	}
	_, err := c.w.WriteString("\r\n")
	return err
}

// startTLS runs the server side of a TLS handshake on the raw connection and switches
// the reader, writer and parser to it. Bytes the client sent before the handshake
// (commands pipelined after STARTTLS, the CVE-2011-0411 class of attack) are
// discarded, never run: they were read in plaintext and could have been injected by
// anyone on the path.
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
