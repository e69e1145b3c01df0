package pop3server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// Options configure a Server. Directory and Shards are required.
type Options struct {
	Hostname    string      // greeting and sign-off; "" = "localhost"
	TLSConfig   *tls.Config // STLS (RFC 2595 4); nil: no TLS, so no login unless AllowInsecureAuth
	ImplicitTLS bool        // TLS from the first byte (RFC 8314 3.3, port 995)
	// AllowInsecureAuth offers USER/PASS and AUTH PLAIN before TLS (Dovecot's
	// disable_plaintext_auth = no). Only for listeners on a trusted network.
	AllowInsecureAuth bool
	Directory         directory.Directory
	Shards            store.Shards
	Logger            *slog.Logger // nil discards

	MaxConnsPerIP int // simultaneous connections from one address; 0 = 20
	// IdleTimeout ends a session that sends nothing for this long, without UPDATE
	// (RFC 1939 3: the autologout timer MUST be at least 10 minutes). 0 = 10 minutes;
	// shorter values break RFC 1939 and are meant for tests.
	IdleTimeout time.Duration
	// LoginDelay is the minimum time between two logins of one account (RFC 2449 6.5,
	// advertised as "LOGIN-DELAY n"; a login too soon is "-ERR [LOGIN-DELAY]"). 0 = none.
	LoginDelay time.Duration
	// AuthFailDelay is waited after every failed login before the reply, the same for an
	// unknown user and a wrong password (Dovecot's auth_failure_delay). 0 = 2 seconds;
	// negative = no delay.
	AuthFailDelay time.Duration
	// Sleep waits d or until ctx ends; nil uses a timer. Tests inject it to observe
	// AuthFailDelay without measuring wall time.
	Sleep          func(ctx context.Context, d time.Duration)
	MaxLineLength  int // command line bound in octets incl. CRLF; 0 = 1000 (RFC 2449 4 says 255)
	MaxBadCommands int // bad commands and failed logins before the session is closed; 0 = 10
	// Now is the clock of LOGIN-DELAY; nil is time.Now.
	Now func() time.Time
}

// Defaults and bounds.
const (
	defaultMaxConnsPerIP = 20
	defaultIdleTimeout   = 10 * time.Minute // RFC 1939 3
	defaultAuthFailDelay = 2 * time.Second
	defaultMaxLine       = 1000
	defaultMaxBad        = 10
	saslLineMax          = 4096 // RFC 5034 4: the 255-octet limit does not bind SASL responses
	handshakeTimeout     = 30 * time.Second
)

func (o *Options) defaults() {
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.Logger == nil {
		o.Logger = obs.Discard()
	}
	if o.MaxConnsPerIP <= 0 {
		o.MaxConnsPerIP = defaultMaxConnsPerIP
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.AuthFailDelay == 0 {
		o.AuthFailDelay = defaultAuthFailDelay
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.MaxLineLength <= 0 {
		o.MaxLineLength = defaultMaxLine
	}
	if o.MaxBadCommands <= 0 {
		o.MaxBadCommands = defaultMaxBad
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Server is one POP3 service on one or more listeners.
type Server struct {
	opt Options
	log *slog.Logger

	ctx    context.Context // sessions' base context; cancelled when Shutdown gives up waiting
	cancel context.CancelFunc

	closing atomic.Bool
	wg      sync.WaitGroup // one per session goroutine

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perIP     map[netip.Addr]int
	locks     map[store.AccountRef]struct{} // maildrops in use (RFC 1939 8: exclusive access)
	lastLogin map[store.AccountRef]time.Time
}

// New validates opt and returns a Server.
func New(opt Options) (*Server, error) {
	if opt.Directory == nil || opt.Shards == nil {
		return nil, errors.New("pop3server: Directory and Shards are required")
	}
	if opt.ImplicitTLS && opt.TLSConfig == nil {
		return nil, errors.New("pop3server: ImplicitTLS needs a TLSConfig")
	}
	opt.defaults()
	s := &Server{
		opt: opt, log: opt.Logger.With("service", "pop3"),
		listeners: map[net.Listener]struct{}{}, sessions: map[*session]struct{}{},
		perIP: map[netip.Addr]int{}, locks: map[store.AccountRef]struct{}{},
		lastLogin: map[store.AccountRef]time.Time{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Serve accepts connections on l until Shutdown, serving each on its own goroutine. It
// returns nil after Shutdown, or the listener's error.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return l.Close()
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		raw, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Anything else (EMFILE, ECONNABORTED) passes: back off and accept again.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept", "err", err, "retry", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.start(raw) {
			s.closeLogged(raw, "connection after shutdown")
		}
	}
}

// start runs a session for raw unless the server is shutting down.
func (s *Server) start(raw net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.wg.Add(1)
	go s.handle(raw)
	return true
}

// handle is one connection's goroutine: the per-IP limit, then the session.
func (s *Server) handle(raw net.Conn) {
	defer s.wg.Done()
	ip := remoteIP(raw)
	if !s.acquireIP(ip) {
		s.log.Info("connection refused: per-IP limit", "ip", ip.String())
		if !s.opt.ImplicitTLS { // a plaintext line would garble a TLS handshake
			s.writeLine(raw, lineTooMany)
		}
		s.closeLogged(raw, "refused connection")
		return
	}
	defer s.releaseIP(ip)
	sess := newSession(s, raw)
	if !s.track(sess, true) {
		s.closeLogged(raw, "connection after shutdown")
		return
	}
	defer s.track(sess, false)
	sess.run()
}

// Shutdown stops accepting, tells every session waiting for a command
// "-ERR [SYS/TEMP] Server shutting down" and closes it (without UPDATE: nothing is
// deleted), and waits for sessions busy with a command (a RETR, a QUIT in UPDATE) to
// finish it. When ctx ends first, the remaining connections are closed and ctx's error
// is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("close listener", "err", err)
		}
	}
	s.listeners = map[net.Listener]struct{}{}
	all := s.sessionList()
	s.mu.Unlock()
	for _, sess := range all {
		sess.c.wake()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel() // store calls in progress return
	s.mu.Lock()
	all = s.sessionList()
	s.mu.Unlock()
	for _, sess := range all {
		s.closeLogged(sess.c.raw, "forced close")
	}
	<-done // every blocking call is now bounded: sockets closed, contexts cancelled
	return ctx.Err()
}

func (s *Server) sessionList() []*session {
	l := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		l = append(l, sess)
	}
	return l
}

// track adds (open) or removes a session; adding fails once Shutdown has begun.
func (s *Server) track(sess *session, open bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !open {
		delete(s.sessions, sess)
		return true
	}
	if s.closing.Load() {
		return false
	}
	s.sessions[sess] = struct{}{}
	return true
}

func (s *Server) acquireIP(ip netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip] >= s.opt.MaxConnsPerIP {
		return false
	}
	s.perIP[ip]++
	return true
}

func (s *Server) releaseIP(ip netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP[ip] <= 1 {
		delete(s.perIP, ip)
	} else {
		s.perIP[ip]--
	}
}

// lockMaildrop takes the account's maildrop lock (RFC 1939 8: the server acquires an
// exclusive-access lock on the maildrop). It is in-process; see the package doc.
func (s *Server) lockMaildrop(ref store.AccountRef) (unlock func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, busy := s.locks[ref]; busy {
		return nil, false
	}
	s.locks[ref] = struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.locks, ref)
			s.mu.Unlock()
		})
	}, true
}

// loginAllowed enforces LoginDelay (RFC 2449 8.1.1): false when the account's last
// login is more recent than the delay.
func (s *Server) loginAllowed(ref store.AccountRef) bool {
	d := s.opt.LoginDelay
	if d <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.lastLogin[ref]
	return !ok || s.opt.Now().Sub(last) >= d
}

// recordLogin notes a successful login for LoginDelay.
func (s *Server) recordLogin(ref store.AccountRef) {
	d := s.opt.LoginDelay
	if d <= 0 {
		return
	}
	now := s.opt.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lastLogin) >= 1024 { // keep the table to accounts seen within the delay
		for r, t := range s.lastLogin {
			if now.Sub(t) >= d {
				delete(s.lastLogin, r)
			}
		}
	}
	s.lastLogin[ref] = now
}

func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// writeLine writes one line outside a session, bounded by a short deadline.
func (s *Server) writeLine(w net.Conn, line string) {
	if err := w.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		s.log.Debug("set write deadline", "err", err)
	}
	if _, err := io.WriteString(w, line+"\r\n"); err != nil {
		s.log.Debug("write line", "err", err) // the peer may be gone already
	}
}

func (s *Server) closeLogged(c io.Closer, what string) {
	if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Debug("close "+what, "err", err)
	}
}
