package managesieve

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
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/sieve"
	"mailgrid/internal/obs"
)

// Options configure a Server. TLSConfig, Directory and Scripts are required.
type Options struct {
	Hostname string // greeting; "" = "localhost"
	// TLSConfig serves STARTTLS (RFC 5804 2.2) and implicit TLS. Credentials are
	// accepted only over TLS, so there is no useful server without it.
	TLSConfig   *tls.Config
	ImplicitTLS bool // TLS from the first byte (not standardised for ManageSieve, harmless)
	Directory   directory.Directory
	Scripts     filter.SieveScripts
	Logger      *slog.Logger // nil discards

	MaxConnsPerIP int // simultaneous connections from one address; 0 = 20
	// IdleTimeout ends a session that sends nothing for this long (RFC 5804 1.3: at
	// least 30 minutes after login; shorter values are for tests). Before login the
	// bound is the smaller of this and 3 minutes. 0 = 30 minutes.
	IdleTimeout time.Duration
	// MaxScriptSize bounds a script in octets (NO (QUOTA/MAXSIZE)); 0 = the Sieve
	// limit (Sieve.Limits.MaxScriptBytes, 1 MiB by default), which also caps it.
	MaxScriptSize int64
	// FailedLoginDelay is waited after every failed login before the reply, the same
	// for an unknown user and a wrong password. 0 = 2 seconds; negative = none.
	FailedLoginDelay time.Duration
	Now              func() time.Time // session clock (durations in logs); nil = time.Now

	// Sieve is what PUTSCRIPT, CHECKSCRIPT and SETACTIVE compile with, and what the
	// SIEVE and MAXREDIRECTS capabilities announce: pass the value the delivery-time
	// Sieve mailet runs with. The zero value allows every extension, default limits.
	Sieve sieve.Options
	// MaxScripts bounds the scripts of one account (NO (QUOTA/MAXSCRIPTS)); 0 = 100.
	MaxScripts int
	// Sleep waits d or until ctx ends; nil uses a timer. Tests inject it to observe
	// FailedLoginDelay without measuring wall time.
	Sleep func(ctx context.Context, d time.Duration)
}

// Defaults and bounds.
const (
	defaultMaxConnsPerIP = 20
	defaultIdleTimeout   = 30 * time.Minute // RFC 5804 1.3
	preAuthTimeout       = 3 * time.Minute
	defaultFailDelay     = 2 * time.Second
	defaultMaxScripts    = 100
	maxLine              = 8 << 10 // octets of a command outside its literals
	smallBudget          = 8 << 10 // literal octets of a command that carries no script
	discardFactor        = 16      // literals up to 16 x the largest budget are skipped, larger end the session
	maxBadCommands       = 10
	maxAuthFailures      = 3
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
	limit := int64(o.Sieve.Limits.MaxScriptBytes)
	if limit <= 0 {
		limit = int64(sieve.DefaultLimits().MaxScriptBytes)
	}
	if o.MaxScriptSize <= 0 || o.MaxScriptSize > limit {
		o.MaxScriptSize = limit
	}
	if o.FailedLoginDelay == 0 {
		o.FailedLoginDelay = defaultFailDelay
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxScripts <= 0 {
		o.MaxScripts = defaultMaxScripts
	}
	if o.Sleep == nil {
		o.Sleep = sleep
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

// Server is one ManageSieve service on one or more listeners.
type Server struct {
	opt  Options
	log  *slog.Logger
	caps capabilities

	ctx    context.Context // sessions' base context; cancelled when Shutdown gives up waiting
	cancel context.CancelFunc

	closing atomic.Bool
	wg      sync.WaitGroup // one per session goroutine

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perIP     map[netip.Addr]int
}

// New validates opt and returns a Server.
func New(opt Options) (*Server, error) {
	if opt.Directory == nil || opt.Scripts == nil {
		return nil, errors.New("managesieve: Directory and Scripts are required")
	}
	if opt.TLSConfig == nil {
		return nil, errors.New("managesieve: a TLSConfig is required (credentials are accepted over TLS only)")
	}
	opt.defaults()
	s := &Server{
		opt: opt, log: opt.Logger.With("service", "managesieve"), caps: newCapabilities(opt),
		listeners: map[net.Listener]struct{}{}, sessions: map[*session]struct{}{},
		perIP: map[netip.Addr]int{},
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

// Shutdown stops accepting, says BYE (TRYLATER) to every session waiting for a command
// and closes it, and waits for sessions busy with a command to finish it. When ctx ends
// first, the remaining connections are closed and ctx's error is returned.
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
	s.cancel() // directory and script calls in progress return
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
