package netserve

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"
)

// WriteDeadlineConn arms the write deadline D before every Write, so a peer that stops
// reading in the middle of a long reply is dropped after D without bounding the whole
// transfer. Read deadlines are the protocol's to set, per command.
type WriteDeadlineConn struct {
	net.Conn
	D time.Duration
}

func (c WriteDeadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.D)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// StartTLS runs the server side of a TLS handshake on raw (within timeout) after a
// STARTTLS/STLS command, and returns the TLS connection, whose writes are bounded by
// idle (WriteDeadlineConn). Bytes the client sent before the handshake and that r
// buffered (commands pipelined after STARTTLS: the CVE-2011-0411 class of attack, RFC
// 2595 4, RFC 5804 2.2) are discarded, never run: they were read in plaintext and could
// have been injected by anyone on the path. The caller switches its reader and writer to
// the returned connection.
func StartTLS(ctx context.Context, raw net.Conn, r *bufio.Reader, conf *tls.Config, idle, timeout time.Duration) (tc *tls.Conn, discarded int, err error) {
	discarded = r.Buffered()
	if _, err := r.Discard(discarded); err != nil {
		return nil, discarded, err
	}
	tc = tls.Server(WriteDeadlineConn{Conn: raw, D: idle}, conf)
	if err := raw.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, discarded, err
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, discarded, err
	}
	return tc, discarded, nil
}

// FlushClose sends what w buffered and closes raw; failures are logged at debug level
// (the peer may be gone already).
func FlushClose(log *slog.Logger, w *bufio.Writer, raw net.Conn) {
	if err := w.Flush(); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Debug("flush on close", "err", err)
	}
	CloseLogged(log, raw, "connection")
}
