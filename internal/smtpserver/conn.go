package smtpserver

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"mailgrid/internal/netserve"
)

// Replies written by the connection layer itself, outside any command.
const (
	replyShutdown  = "421 4.3.2 Service shutting down, closing connection"
	replyTooMany   = "421 4.7.0 Too many connections from your address, try again later"
	replyTooManyEr = "421 4.7.0 Too many errors, closing connection"
)

// listener wraps the server's listener: it enforces MaxConnsPerIP at accept time and wraps
// every connection in a conn (and in TLS for implicit-TLS submission, RFC 8314 3.3).
type listener struct {
	net.Listener
	srv *Server
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := netserve.RemoteIP(raw)
		if !l.srv.perIP.Acquire(ip) {
			l.srv.log.Info("connection refused: per-IP limit", "ip", ip.String())
			if !l.srv.opt.ImplicitTLS { // a plaintext 421 would garble a TLS handshake
				l.srv.writeRaw(raw, replyTooMany)
			}
			l.srv.closeLogged(raw, "refused connection")
			continue
		}
		c := &conn{Conn: raw, st: &connState{srv: l.srv, raw: raw, ip: ip}}
		c.st.top = c
		l.srv.track(c.st, true)
		if l.srv.opt.ImplicitTLS {
			t := tls.Server(c, l.srv.opt.TLSConfig)
			c.st.implicitTLS = t
			return t, nil
		}
		return c, nil
	}
}

// connState is what the server knows about one connection, shared between the conn
// wrapper (which runs on go-smtp's connection goroutine) and the session.
type connState struct {
	srv         *Server
	raw         net.Conn
	ip          netip.Addr
	top         net.Conn  // plaintext writer before a session exists
	implicitTLS *tls.Conn // set for implicit TLS
	closeOnce   sync.Once

	mu       sync.Mutex
	smtpConn *smtp.Conn // set by NewSession; Conn() is the current plaintext conn (TLS after STARTTLS)
	inTx     bool       // between an accepted MAIL and the end of DATA or RSET
	goodbye  string     // say this and close before reading the next command
	deadline time.Time  // the read deadline the conn armed itself
}

func (st *connState) setSession(c *smtp.Conn) {
	st.mu.Lock()
	st.smtpConn = c
	st.mu.Unlock()
}

func (st *connState) setTx(on bool) {
	st.mu.Lock()
	st.inTx = on
	st.mu.Unlock()
}

// closeAfterReply makes the connection say msg and close once the current reply is out.
func (st *connState) closeAfterReply(msg string) {
	st.mu.Lock()
	if st.goodbye == "" {
		st.goodbye = msg
	}
	st.mu.Unlock()
}

// pendingGoodbye decides, on the connection's own goroutine, whether to end it now.
func (st *connState) pendingGoodbye() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.goodbye != "" {
		return st.goodbye
	}
	if st.srv.forced.Load() || (st.srv.closing.Load() && !st.inTx) {
		return replyShutdown
	}
	return ""
}

// sayGoodbye writes msg through the current plaintext writer and closes the socket. Before
// a session exists on an implicit-TLS connection the handshake may not be done, so it only
// closes.
func (st *connState) sayGoodbye(msg string) {
	st.mu.Lock()
	w := st.top
	if st.smtpConn != nil {
		w = st.smtpConn.Conn()
	} else if st.implicitTLS != nil {
		w = nil
	}
	st.mu.Unlock()
	if w != nil {
		st.srv.writeRaw(w, msg)
	}
	st.srv.closeLogged(st.raw, "goodbye")
}

// conn wraps the TCP connection under go-smtp (and under TLS). It arms a read deadline
// per Read (go-smtp sets one per command line only, which would bound a whole DATA
// transfer), and it turns go-smtp's per-command SetReadDeadline call into the point where
// a connection that must end (shutdown, too many errors) says 421 and closes — on the
// connection's own goroutine, after the previous reply, so replies never interleave.
type conn struct {
	net.Conn
	st *connState
}

// SetReadDeadline is called by go-smtp (directly or through tls.Conn) before reading each
// command line; the deadline itself is managed by Read.
func (c *conn) SetReadDeadline(time.Time) error {
	if msg := c.st.pendingGoodbye(); msg != "" {
		c.st.sayGoodbye(msg)
		return net.ErrClosed
	}
	return nil
}

func (c *conn) Read(p []byte) (int, error) {
	for {
		dl := time.Time{}
		if d := c.st.srv.opt.ReadTimeout; d > 0 {
			dl = time.Now().Add(d)
		}
		c.st.mu.Lock()
		c.st.deadline = dl
		c.st.mu.Unlock()
		if err := c.Conn.SetReadDeadline(dl); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(p)
		var ne net.Error
		if n > 0 || err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			return n, err
		}
		// A timeout: either the real idle timeout, or Shutdown waking an idle reader.
		if msg := c.st.pendingGoodbye(); msg != "" {
			c.st.sayGoodbye(msg)
			return 0, net.ErrClosed
		}
		if dl.IsZero() || !time.Now().Before(dl) {
			return n, err // the real idle timeout (RFC 5321 4.5.3.2)
		}
	}
}

func (c *conn) Close() error {
	var err error
	c.st.closeOnce.Do(func() {
		err = c.Conn.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil // closed by sayGoodbye already
		}
		c.st.srv.perIP.Release(c.st.ip)
		c.st.srv.track(c.st, false)
	})
	return err
}

// wake interrupts a Read blocked on this connection so it re-checks pendingGoodbye.
func (st *connState) wake() {
	if err := st.raw.SetReadDeadline(time.Now()); err != nil && !errors.Is(err, net.ErrClosed) {
		st.srv.log.Debug("wake connection", "err", err)
	}
}
