// Package smtpserver is mailgrid's SMTP front-end: the MX service that receives mail from
// the Internet for local domains (RFC 5321) and the submission service where users send
// mail (RFC 6409, on STARTTLS port 587 or implicit-TLS port 465, RFC 8314). It speaks the
// protocol and hands every accepted message to delivery.Pipeline, which owns routing,
// quota and durability; it never touches a database.
//
// Library: github.com/emersion/go-smtp (Backend/Session API) parses commands, PIPELINING,
// CHUNKING (BDAT), SIZE, 8BITMIME, SMTPUTF8, DSN and ENHANCEDSTATUSCODES; go-sasl gives the
// PLAIN server; the LOGIN mechanism (de-facto, no RFC) is written here (auth.go). Errors
// cross into go-smtp as smtp.SMTPError built 1:1 from *delivery.Error.
//
// Model of one connection:
//
//   - conn.go wraps every TCP connection: per-IP connection limit (421 4.7.0), a read
//     deadline per Read, and the one place where a connection that must end (shutdown,
//     too many errors) says 421 and closes, between two commands.
//
//   - session.go answers MAIL/RCPT through the pipeline's checks (which run the
//     connect, MAIL and RCPT filter stages: block lists, milter-like policies; a client
//     refused at connect is told so at every MAIL) and tracks the transaction. MX mode accepts only local recipients (554 5.7.1 relay access denied)
//     and refuses routing tricks (%-hack, bang paths, quoted local parts hiding an '@':
//     550 5.1.3; address literals: 550 5.1.2). Source routes ("@a,@b:user@c") are parsed
//     away by go-smtp before we see the path, as RFC 5321 4.1.2 and Appendix C ask
//     ("SHOULD ignore the route"); the route therefore never chooses a next hop: the
//     mailbox after the route is judged like any other.
//
//   - Submission mode requires AUTH (530 5.7.0) and offers it only after TLS (AUTH before
//     TLS: 538 5.7.11, RFC 4954 4). An account whose submission service switch is off,
//     by the account or by its domain (directory.ServiceAllowed with
//     directory.ServiceSubmission, checked after the password with the domain read from
//     the directory), fails AUTH with 535 5.7.8 as Postfix with Dovecot SASL does when the
//     passdb denies the service; the text names the reason, since the password was right.
//     A disabled account or domain gets the plain 535 5.7.8 of a wrong password. MAIL FROM and every From: header address must be the
//     account's own or allowed by directory.SendAs (550 5.7.1). Message-ID and Date are
//     added when missing (RFC 6409 8.2, 8.3). A copy goes to the sender's Sent mailbox
//     only when the client asks for it with the header field
//
//     X-Mailgrid-Save-Sent: yes
//
//     which is removed before delivery, whatever its value (clients that store their own
//     copy by IMAP APPEND, as most do, simply leave it out).
//
//   - data.go streams DATA and BDAT into a message.Spool (memory, then an unlinked file in
//     SpoolDir) through a checker that refuses bare CR and bare LF anywhere (SMTP smuggling,
//     CVE-2023-51764 class; RFC 5321 2.3.8) and text lines over 1000 octets (RFC 5321
//     4.5.3.1.6) with 550 5.6.0, storing nothing. The Received header (RFC 5321 4.4,
//     RFC 3848 protocol names) is prepended without copying the body.
//
// Durability: 250 is written only after delivery.Pipeline.Deliver returned with every
// accepted recipient's copy committed (go-smtp writes the reply when Data returns). When
// some recipients fail at DATA time and others were committed, the reply is 250 and the
// pipeline sends a failure DSN for the others; when none was committed the failure itself
// is the reply (see package delivery). Store, directory and queue faults are 451 4.3.0.
//
// Shutdown stops accepting, lets transactions in progress finish, then says
// "421 4.3.2" to every session and closes it; when its context ends, sessions still busy
// are told the same and closed.
package smtpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	"mailgrid/internal/netserve"
)

// Mode selects the service.
type Mode int

const (
	// ModeMX receives mail for local domains from anyone (port 25).
	ModeMX Mode = iota
	// ModeSubmission accepts mail from authenticated users for any destination (587, 465).
	ModeSubmission
)

func (m Mode) String() string {
	if m == ModeSubmission {
		return "submission"
	}
	return "mx"
}

// Options configure a Server. Pipeline and Directory are required.
type Options struct {
	Mode        Mode
	Hostname    string      // greeting, Received "by", Message-IDs
	TLSConfig   *tls.Config // nil: no STARTTLS (and so no AUTH)
	ImplicitTLS bool        // RFC 8314 3.3: TLS from the first byte (port 465)
	Pipeline    *delivery.Pipeline
	Directory   directory.Directory
	SpoolDir    string // where messages over SpoolMemory bytes are spooled; "" = os.TempDir()
	SpoolMemory int    // bytes kept in memory per message; 0 = 256 KiB

	MaxMessageBytes int64         // advertised SIZE (RFC 1870); 0 = 50 MiB
	MaxRecipients   int           // per transaction (452 4.5.3 beyond); 0 = 1000
	MaxLineLength   int           // command line bound in octets; 0 = 2048
	ReadTimeout     time.Duration // idle time per read; 0 = 5 minutes (RFC 5321 4.5.3.2.7)
	WriteTimeout    time.Duration // 0 = 5 minutes
	MaxConnsPerIP   int           // 0 = 20
	MaxErrors       int           // rejected commands before 421 4.7.0; 0 = 10
	Logger          *slog.Logger
	// Now is the clock for Received and Date headers; nil means time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.SpoolMemory == 0 {
		o.SpoolMemory = 256 << 10
	}
	if o.MaxMessageBytes == 0 {
		o.MaxMessageBytes = 50 << 20
	}
	if o.MaxRecipients == 0 {
		o.MaxRecipients = 1000
	}
	if o.MaxLineLength == 0 {
		o.MaxLineLength = 2048
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 5 * time.Minute
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 5 * time.Minute
	}
	if o.MaxConnsPerIP == 0 {
		o.MaxConnsPerIP = 20
	}
	if o.MaxErrors == 0 {
		o.MaxErrors = 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server is one SMTP service on one or more listeners.
type Server struct {
	opt  Options
	log  *slog.Logger
	smtp *smtp.Server

	ctx    context.Context // sessions' base context; cancelled when Shutdown gives up waiting
	cancel context.CancelFunc

	closing atomic.Bool // Shutdown called: finish transactions, then 421
	forced  atomic.Bool // Shutdown's context ended: 421 now

	mu        sync.Mutex
	listeners []net.Listener
	perIP     *netserve.PerIP
	conns     map[*connState]struct{}
	idle      chan struct{} // closed when conns becomes empty during shutdown
}

// New validates opt and returns a Server.
func New(opt Options) (*Server, error) {
	if opt.Pipeline == nil || opt.Directory == nil {
		return nil, errors.New("smtpserver: Pipeline and Directory are required")
	}
	if opt.ImplicitTLS && opt.TLSConfig == nil {
		return nil, errors.New("smtpserver: ImplicitTLS needs a TLSConfig")
	}
	opt.defaults()
	s := &Server{opt: opt, log: opt.Logger.With("service", opt.Mode.String()), perIP: netserve.NewPerIP(opt.MaxConnsPerIP), conns: map[*connState]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	be := smtp.NewServer(smtp.BackendFunc(s.newSession))
	be.Domain = opt.Hostname
	be.MaxMessageBytes = opt.MaxMessageBytes
	be.MaxRecipients = opt.MaxRecipients
	be.MaxLineLength = opt.MaxLineLength
	be.ReadTimeout = opt.ReadTimeout // makes go-smtp call SetReadDeadline per command (our hook)
	be.WriteTimeout = opt.WriteTimeout
	be.EnableSMTPUTF8 = true
	be.EnableDSN = true
	be.AllowInsecureAuth = true // AUTH is offered and refused by the session itself (538 before TLS)
	be.ErrorLog = errorLog{s.log}
	if !opt.ImplicitTLS {
		be.TLSConfig = opt.TLSConfig // STARTTLS (RFC 3207); not advertised after TLS
	}
	s.smtp = be
	return s, nil
}

// Serve accepts connections on l until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		s.closeLogged(l, "listener")
		return nil
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	err := s.smtp.Serve(&listener{Listener: l, srv: s})
	if s.closing.Load() {
		return nil // the listener was closed by Shutdown
	}
	return err
}

// Shutdown stops accepting connections, lets sessions in a transaction finish it, and says
// "421 4.3.2" to every idle session before closing it. When ctx ends first, the remaining
// sessions are told the same and closed, and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	s.idle = make(chan struct{})
	if len(s.conns) == 0 {
		close(s.idle)
	}
	all := s.connList()
	// Close the listeners here too: go-smtp only knows those its Serve has registered, and
	// a Serve that has not yet reached that point would otherwise accept forever.
	for _, l := range s.listeners {
		s.closeLogged(l, "listener")
	}
	s.mu.Unlock()

	lerr := make(chan error, 1)
	go func() { lerr <- s.smtp.Shutdown(ctx) }() // closes the listeners, waits for conns
	for _, st := range all {
		st.wake()
	}
	select {
	case <-s.idle:
		err := <-lerr
		s.cancel()
		if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
			err = nil // closed twice: by us above, and by go-smtp
		}
		return err
	case <-ctx.Done():
	}
	s.forced.Store(true)
	s.cancel() // pending deliveries return; their sessions then get 421
	s.mu.Lock()
	all = s.connList()
	s.mu.Unlock()
	for _, st := range all {
		st.wake()
	}
	select {
	case <-s.idle:
	case <-time.After(time.Second): // grace for sessions to write their 421
	}
	if err := s.smtp.Close(); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		s.log.Warn("close", "err", err)
	}
	return ctx.Err()
}

func (s *Server) connList() []*connState {
	l := make([]*connState, 0, len(s.conns))
	for st := range s.conns {
		l = append(l, st)
	}
	return l
}

func (s *Server) track(st *connState, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if open {
		s.conns[st] = struct{}{}
		return
	}
	delete(s.conns, st)
	if len(s.conns) == 0 && s.idle != nil {
		select {
		case <-s.idle:
		default:
			close(s.idle)
		}
	}
}

// writeRaw writes one reply line outside go-smtp, bounded by the write timeout.
func (s *Server) writeRaw(w net.Conn, line string) {
	netserve.WriteLine(s.log, w, line, s.opt.WriteTimeout)
}

func (s *Server) closeLogged(c io.Closer, what string) { netserve.CloseLogged(s.log, c, what) }

// errorLog adapts slog to go-smtp's Logger.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.l.Warn(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.l.Warn(fmt.Sprint(v...)) }
