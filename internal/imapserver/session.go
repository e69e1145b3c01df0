package imapserver

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"mailgrid/internal/bus"
	"mailgrid/internal/directory"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// state is the connection state (RFC 9051 3).
type state int

const (
	stateNotAuth state = 1 << iota
	stateAuth
	stateSelected
	stateLogout

	stateAny      = stateNotAuth | stateAuth | stateSelected
	stateAuthOrSe = stateAuth | stateSelected
)

// session is one IMAP connection. Everything but interrupt and closeConn runs on the
// session's own goroutine (and, during IDLE under COMPRESS, a reader goroutine that owns
// the parser; the bus's wake-up of IDLE only sets the read deadline).
type session struct {
	srv  *Server
	log  *slog.Logger
	ip   netip.Addr
	raw  net.Conn // the TCP connection
	conn net.Conn // what the buffers read and write: raw, TLS or compressed
	br   *bufio.Reader
	bw   *bufio.Writer
	w    *writer
	p    *parser
	tls  bool

	mu      sync.Mutex
	waiting bool // blocked reading the next command or in IDLE: Shutdown may interrupt

	state    state
	failures int // failed logins
	badRun   int // BAD replies in a row (maxBadRun)
	acct     directory.Account
	ref      store.AccountRef
	st       store.Store
	enabled  enabled
	sel      *view
	watch    *bus.Subscription // the account's changes, for its move or end (ended.go)
	saved    []store.UID       // SEARCHRES "$" (RFC 5182)
	compress bool
	oldBR    *bufio.Reader // the plaintext buffer under COMPRESS
	brHead   *bytes.Reader // bytes read ahead during IDLE, read before conn (idleReader)
}

// enabled holds the extensions the client turned on with ENABLE (RFC 5161).
type enabled struct {
	rev2, utf8, condstore, qresync bool
}

// deadlineConn bounds every write with the write timeout.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c deadlineConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func newSession(srv *Server, c net.Conn, ip netip.Addr) *session {
	s := &session{srv: srv, ip: ip, raw: c, state: stateNotAuth}
	s.log = srv.log.With("conn", obs.NewID(), "ip", ip.String())
	var conn net.Conn = deadlineConn{Conn: c, timeout: srv.opt.WriteTimeout}
	if srv.opt.ImplicitTLS {
		conn = tls.Server(conn, srv.opt.TLSConfig)
		s.tls = true
	}
	s.setConn(conn)
	return s
}

// Buffer sizes. Commands are short and a literal larger than the read buffer is read
// past it, so reads need little; responses (FETCH bodies) go out in TLS-record-sized
// writes, except during IDLE, when only short untagged responses are sent: an idling
// connection then holds a small buffer (1,000 idle connections cost 16 MB less).
const (
	readBuffer      = 4 << 10
	writeBuffer     = 16 << 10
	idleWriteBuffer = 512
	idleReadBuffer  = 16 // bufio's minimum: "DONE\r\n" needs no more
)

// setConn (re)builds the buffers over conn: at start, after STARTTLS, after COMPRESS.
func (s *session) setConn(conn net.Conn) {
	s.conn = conn
	s.br, s.brHead = bufio.NewReaderSize(conn, readBuffer), nil
	s.bw = bufio.NewWriterSize(conn, writeBuffer)
	utf8 := s.w != nil && s.w.utf8
	s.w = &writer{bw: s.bw, utf8: utf8}
	s.p = newParser(s.br, s.continuation, s.srv.opt.MaxLineLength, s.srv.opt.MaxLiteralSize)
}

// setWriteBuffer replaces the (flushed) response buffer by one of size octets.
func (s *session) setWriteBuffer(size int) {
	if s.bw.Size() == size {
		return
	}
	if err := s.w.flush(); err != nil {
		return // the connection is failing; the next write reports it
	}
	s.bw = bufio.NewWriterSize(s.conn, size)
	s.w.bw = s.bw
}

// idleReader swaps the command reader for a small one while the session idles, when
// nothing is buffered, and returns the large one to the server's pool (1,000 idle
// connections hold 4 MB less). restoreReader undoes it.
func (s *session) idleReader() {
	if s.br.Buffered() > 0 || (s.brHead != nil && s.brHead.Len() > 0) {
		return // a pipelined command waits in the buffer
	}
	s.br.Reset(nil)
	s.srv.readers.Put(s.br)
	s.br, s.brHead = bufio.NewReaderSize(s.conn, idleReadBuffer), nil
	s.p.br = s.br
}

// restoreReader puts a large command reader back after IDLE; what the small one read
// ahead (commands pipelined after DONE) is read first.
func (s *session) restoreReader() {
	if s.br.Size() != idleReadBuffer {
		return
	}
	var src io.Reader = s.conn
	if n := s.br.Buffered(); n > 0 {
		ahead, err := s.br.Peek(n)
		if err != nil { // cannot happen: n bytes are buffered
			s.log.Warn("idle reader", "err", err)
		}
		s.brHead = bytes.NewReader(bytes.Clone(ahead))
		src = io.MultiReader(s.brHead, s.conn)
	}
	br, _ := s.srv.readers.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(src, readBuffer)
	}
	br.Reset(src)
	s.br, s.p.br = br, br
}

// setConnKeepReader switches to conn (COMPRESS) keeping the current read buffer as the
// source of the new layer, since it may already hold compressed bytes.
func (s *session) setConnKeepReader(conn net.Conn) {
	s.oldBR = s.br
	s.setConn(conn)
}

// continuation sends a command continuation request (RFC 9051 7.5).
func (s *session) continuation() error {
	s.w.raw("+ Ready for literal data\r\n")
	return s.w.flush()
}

// interrupt wakes a session blocked between commands so it notices Shutdown.
func (s *session) interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiting {
		obs.Check(s.log, s.raw.SetReadDeadline(time.Unix(1, 0)), "interrupt session")
	}
}

func (s *session) closeConn() error { return s.raw.Close() }

// serve runs the session to its end.
func (s *session) serve() {
	defer s.cleanup()
	if s.srv.opt.ImplicitTLS {
		if err := s.handshake(); err != nil {
			s.log.Info("tls handshake failed", "err", err)
			return
		}
	}
	s.w.raw("* OK [CAPABILITY " + strings.Join(s.capabilities(), " ") + "] " + s.srv.opt.Hostname + " IMAP4rev2 server ready\r\n")
	if s.w.flush() != nil {
		return
	}
	for s.state != stateLogout {
		if !s.beginWait() {
			s.bye("Server shutting down")
			return
		}
		err := s.p.begin()
		s.endWait()
		if err != nil {
			s.readFailed(err)
			return
		}
		if !s.command() {
			return
		}
	}
}

func (s *session) handshake() error {
	tc, ok := s.conn.(*tls.Conn)
	if !ok {
		return errors.New("not a TLS connection")
	}
	if err := s.raw.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	if err := tc.Handshake(); err != nil {
		return err
	}
	return s.raw.SetDeadline(time.Time{})
}

// beginWait arms the autologout timer and marks the session interruptible. It reports
// false when the server is shutting down.
func (s *session) beginWait() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv.closing.Load() {
		return false
	}
	s.waiting = true
	// RFC 9051 5.4: the autologout timer is at least 30 minutes.
	obs.Check(s.log, s.raw.SetReadDeadline(time.Now().Add(s.srv.opt.IdleTimeout)), "set read deadline")
	return true
}

func (s *session) endWait() {
	s.mu.Lock()
	s.waiting = false
	s.mu.Unlock()
}

// readFailed ends the session after a failed read of a command's first line.
func (s *session) readFailed(err error) {
	var ne net.Error
	var re *respError
	switch {
	case errors.As(err, &re):
		s.w.raw("* BAD [" + re.code + "] " + re.text + "\r\n")
		s.bye("Closing connection")
	case errors.As(err, &ne) && ne.Timeout():
		if s.srv.closing.Load() {
			s.bye("Server shutting down")
		} else {
			s.bye("Autologout; idle for too long")
		}
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		s.log.Debug("read", "err", err)
	}
}

// bye says goodbye (RFC 9051 7.1.5) before the connection closes.
func (s *session) bye(text string) {
	s.w.raw("* BYE " + text + "\r\n")
	if err := s.w.flush(); err != nil {
		s.log.Debug("write bye", "err", err)
	}
}

func (s *session) cleanup() {
	if s.sel != nil {
		s.sel.close()
		s.sel = nil
	}
	s.endWatch()
	if c, ok := s.conn.(interface{ closeCompress() error }); ok {
		obs.Check(s.log, c.closeCompress(), "close compression")
	}
	if err := s.raw.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("close", "err", err)
	}
}

// utf8Names reports whether mailbox names travel as UTF-8 (IMAP4rev2, RFC 9051 5.1;
// UTF8=ACCEPT, RFC 6855 3) rather than modified UTF-7 (RFC 3501 5.1.3).
func (s *session) utf8Names() bool { return s.enabled.rev2 || s.enabled.utf8 }

// mailboxArg reads a mailbox name argument, decodes it and normalises it for the store.
// Bad modified UTF-7 is BAD (a malformed argument); names the store refuses (empty
// components, "..", control characters, wildcards) are NO [CANNOT], as Dovecot answers.
func (s *session) mailboxArg() (string, error) {
	name, err := s.p.astring()
	if err != nil {
		return "", err
	}
	return s.decodeMailbox(name)
}

func (s *session) decodeMailbox(name string) (string, error) {
	if !s.utf8Names() {
		dec, err := decodeMUTF7(name)
		if err != nil {
			return "", bad("invalid modified UTF-7 mailbox name")
		}
		name = dec
	}
	if store.IsInbox(name) {
		return store.Inbox, nil
	}
	norm, err := store.NormalizeMailboxName(name)
	if err != nil {
		return "", no(codeCannot, "invalid mailbox name: %s", strings.TrimSuffix(err.Error(), ": "+store.ErrInvalid.Error()))
	}
	return norm, nil
}

// encodeMailbox spells a store name for this client.
func (s *session) encodeMailbox(name string) string {
	if s.utf8Names() {
		return name
	}
	return encodeMUTF7(name)
}

// spoolDir is where APPEND bodies spill to disk.
func (s *session) spoolDir() string {
	if s.srv.opt.SpoolDir != "" {
		return s.srv.opt.SpoolDir
	}
	return os.TempDir()
}
