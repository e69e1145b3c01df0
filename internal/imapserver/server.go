package imapserver

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"mailgrid/internal/bus"
	"mailgrid/internal/directory"
	"mailgrid/internal/netserve"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// Options configure a Server. Directory, Shards and Bus are required.
type Options struct {
	Hostname    string      // greeting and ID
	TLSConfig   *tls.Config // nil: no STARTTLS, and so no login (LOGINDISABLED)
	ImplicitTLS bool        // RFC 8314 3.2: TLS from the first byte (port 993)
	Directory   directory.Directory
	Shards      store.Shards
	Bus         *bus.Bus // the changes of the stores behind Shards
	Logger      *slog.Logger

	MaxConnsPerIP int           // 0 = 50
	IdleTimeout   time.Duration // autologout timer; 0 = 30 minutes, the RFC 9051 5.4 minimum
	WriteTimeout  time.Duration // one flush; 0 = 5 minutes
	// MaxLineLength bounds one command line in octets; 0 = 64 KiB (RFC 7162 4 asks for
	// at least 8192 octets).
	MaxLineLength int
	// MaxLiteralSize bounds an APPEND literal (and is advertised as APPENDLIMIT,
	// RFC 7889); 0 = 50 MiB.
	MaxLiteralSize int64
	// FailedLoginDelay is the pause after every failed login, doubled after each further
	// failure (capped at 8 times); 0 = 1 second, negative = none (tests).
	FailedLoginDelay time.Duration
	// MaxLoginFailures ends a connection after that many failed logins; 0 = 5.
	MaxLoginFailures int
	// Sleep waits d or until ctx ends (Shutdown ends it); nil uses a timer. Tests inject
	// it to observe FailedLoginDelay without measuring wall time.
	Sleep       func(ctx context.Context, d time.Duration)
	SpoolDir    string // APPEND bodies over SpoolMemory spill here; "" = os.TempDir()
	SpoolMemory int    // 0 = 256 KiB
	Now         func() time.Time
}

func (o *Options) defaults() {
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.MaxConnsPerIP == 0 {
		o.MaxConnsPerIP = 50
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 30 * time.Minute
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 5 * time.Minute
	}
	if o.MaxLineLength == 0 {
		o.MaxLineLength = 64 << 10
	}
	if o.MaxLiteralSize == 0 {
		o.MaxLiteralSize = 50 << 20
	}
	if o.FailedLoginDelay == 0 {
		o.FailedLoginDelay = time.Second
	}
	if o.MaxLoginFailures == 0 {
		o.MaxLoginFailures = 5
	}
	if o.Sleep == nil {
		o.Sleep = netserve.Sleep
	}
	if o.SpoolMemory == 0 {
		o.SpoolMemory = 256 << 10
	}
	if o.Logger == nil {
		o.Logger = obs.Discard()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server is the IMAP service on one or more listeners.
type Server struct {
	opt Options
	log *slog.Logger

	closing atomic.Bool
	done    chan struct{} // closed by Shutdown: IDLE and waiting sessions say BYE
	ctx     context.Context
	cancel  context.CancelFunc // by Shutdown: ends a failed-login delay at once

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perIP     *netserve.PerIP
	wg        sync.WaitGroup

	boxes     *boxCache // selected mailboxes' UIDs and flags, kept current from the bus
	unobserve func()
	readers   sync.Pool // *bufio.Reader of readBuffer octets, lent back by idling sessions
}

// New validates opt and returns a Server.
func New(opt Options) (*Server, error) {
	if opt.Directory == nil || opt.Shards == nil || opt.Bus == nil {
		return nil, errors.New("imapserver: Directory, Shards and Bus are required")
	}
	if opt.ImplicitTLS && opt.TLSConfig == nil {
		return nil, errors.New("imapserver: ImplicitTLS needs a TLSConfig")
	}
	opt.defaults()
	srv := &Server{
		opt: opt, log: opt.Logger.With("service", "imap"), done: make(chan struct{}),
		listeners: map[net.Listener]struct{}{}, sessions: map[*session]struct{}{},
		perIP: netserve.NewPerIP(opt.MaxConnsPerIP), boxes: newBoxCache(),
	}
	srv.ctx, srv.cancel = context.WithCancel(context.Background())
	srv.unobserve = opt.Bus.Observe(srv.boxes.observe)
	return srv, nil
}

// Serve accepts connections on l until Shutdown, and then returns nil.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		obs.Check(s.log, l.Close(), "close listener")
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.accept(c)
	}
}

// accept starts a session for c, or refuses it over the per-IP limit.
func (s *Server) accept(c net.Conn) {
	ip := netserve.RemoteIP(c)
	s.mu.Lock()
	if s.closing.Load() || !s.perIP.Acquire(ip) {
		closing := s.closing.Load()
		s.mu.Unlock()
		if !s.opt.ImplicitTLS { // a plaintext BYE would garble a TLS handshake
			msg := "* BYE [UNAVAILABLE] Too many connections from your address\r\n"
			if closing {
				msg = "* BYE [UNAVAILABLE] Server shutting down\r\n"
			}
			obs.Check(s.log, c.SetWriteDeadline(time.Now().Add(time.Second)), "set deadline")
			_, err := c.Write([]byte(msg))
			obs.Check(s.log, err, "write refusal")
		}
		obs.Check(s.log, c.Close(), "close refused connection")
		return
	}
	sess := newSession(s, c, ip)
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		sess.serve()
		s.mu.Lock()
		delete(s.sessions, sess)
		s.perIP.Release(ip)
		s.mu.Unlock()
	}()
}

// Shutdown stops accepting, tells every session "* BYE" (RFC 9051 7.1.5) as soon as it
// is between commands or in IDLE, and waits for them to end. When ctx ends first, the
// remaining connections are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing.Swap(true) {
		close(s.done)
		s.cancel()
		s.unobserve()
	}
	for l := range s.listeners {
		obs.Check(s.log, l.Close(), "close listener")
	}
	all := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	for _, sess := range all {
		sess.interrupt()
	}
	ended := make(chan struct{})
	go func() { s.wg.Wait(); close(ended) }()
	select {
	case <-ended:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for sess := range s.sessions {
		obs.Check(s.log, sess.closeConn(), "close connection")
	}
	s.mu.Unlock()
	<-ended
	return ctx.Err()
}
