// Package netserve is the connection plumbing the line-protocol front-ends share: the
// accept loop, per-IP admission, the registry of live connections and graceful shutdown.
//
// The model: Serve accepts on any number of listeners and runs every connection on its
// own goroutine. Admission is per remote address: PerIP counts the connections of each
// IP against a limit, and a connection over it is handed to a refusal callback (which
// may write the protocol's "too many connections" line) and closed. An admitted
// connection is registered, handed to the protocol's handler, and unregistered when the
// handler returns; the handler owns the connection and closes it.
//
// Shutdown stops accepting (closes every listener), wakes every live connection (a read
// deadline in the past, so a handler blocked reading the next command returns and, seeing
// Closing, says goodbye), and waits for the handlers to return. When the caller's context
// ends first, the base Context of the handlers is cancelled and every remaining
// connection is closed, which bounds every blocking call; Shutdown then waits for the
// handlers and returns the context's error.
//
// Only the standard library is used (net, sync, context). POP3 and ManageSieve run on
// Server whole. SMTP keeps go-smtp's own accept loop and IMAP its session registry (its
// shutdown interrupts IDLE through the session, not the socket): both use PerIP,
// RemoteIP and the small helpers only.
package netserve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"mailgrid/internal/obs"
)

// PerIP counts simultaneous connections per remote address against a limit. It is safe
// for concurrent use.
type PerIP struct {
	limit int
	mu    sync.Mutex
	n     map[netip.Addr]int
}

// NewPerIP returns a counter that admits at most limit connections per address.
func NewPerIP(limit int) *PerIP {
	return &PerIP{limit: limit, n: map[netip.Addr]int{}}
}

// Acquire counts one more connection from ip, or returns false when ip is at the limit.
func (p *PerIP) Acquire(ip netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip] >= p.limit {
		return false
	}
	p.n[ip]++
	return true
}

// Release counts one connection from ip less.
func (p *PerIP) Release(ip netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip] <= 1 {
		delete(p.n, ip)
	} else {
		p.n[ip]--
	}
}

// RemoteIP is the remote address of a TCP connection (IPv4-mapped addresses unmapped),
// or the zero Addr for any other kind of connection.
func RemoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// Options configure a Server. Handle is required.
type Options struct {
	Logger        *slog.Logger // nil discards
	MaxConnsPerIP int          // simultaneous connections from one address; must be > 0
	// Refuse is called with a connection over the per-IP limit before it is closed (to
	// write the protocol's refusal line, say); nil closes it silently.
	Refuse func(c net.Conn)
	// Handle serves one admitted connection; it owns c and closes it. It should return
	// soon after a read fails while Closing is true.
	Handle func(c net.Conn)
}

// Server runs Options.Handle for every admitted connection of its listeners.
type Server struct {
	opt   Options
	log   *slog.Logger
	perIP *PerIP

	ctx    context.Context
	cancel context.CancelFunc

	closing atomic.Bool
	wg      sync.WaitGroup // one per connection goroutine

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
}

// New returns a Server.
func New(opt Options) *Server {
	if opt.Logger == nil {
		opt.Logger = obs.Discard()
	}
	s := &Server{
		opt: opt, log: opt.Logger, perIP: NewPerIP(opt.MaxConnsPerIP),
		listeners: map[net.Listener]struct{}{}, conns: map[net.Conn]struct{}{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Context is the handlers' base context, cancelled when Shutdown returns (at once when
// its context ends before the handlers do).
func (s *Server) Context() context.Context { return s.ctx }

// Closing reports whether Shutdown has begun.
func (s *Server) Closing() bool { return s.closing.Load() }

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
			CloseLogged(s.log, raw, "connection after shutdown")
		}
	}
}

// start runs a goroutine for raw unless the server is shutting down.
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

// handle is one connection's goroutine: the per-IP limit, then the handler.
func (s *Server) handle(raw net.Conn) {
	defer s.wg.Done()
	ip := RemoteIP(raw)
	if !s.perIP.Acquire(ip) {
		s.log.Info("connection refused: per-IP limit", "ip", ip.String())
		if s.opt.Refuse != nil {
			s.opt.Refuse(raw)
		}
		CloseLogged(s.log, raw, "refused connection")
		return
	}
	defer s.perIP.Release(ip)
	if !s.track(raw, true) {
		CloseLogged(s.log, raw, "connection after shutdown")
		return
	}
	defer s.track(raw, false)
	s.opt.Handle(raw)
}

// track adds (open) or removes a connection; adding fails once Shutdown has begun.
func (s *Server) track(c net.Conn, open bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !open {
		delete(s.conns, c)
		return true
	}
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) connList() []net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		l = append(l, c)
	}
	return l
}

// Shutdown stops accepting, wakes every live connection and waits for the handlers to
// return. When ctx ends first, Context is cancelled, the remaining connections are
// closed, and ctx's error is returned once the handlers have returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for l := range s.listeners {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("close listener", "err", err)
		}
	}
	s.listeners = map[net.Listener]struct{}{}
	s.mu.Unlock()
	for _, c := range s.connList() {
		// A read deadline in the past interrupts a handler blocked reading.
		if err := c.SetReadDeadline(time.Now()); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("wake connection", "err", err)
		}
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel() // calls in progress under Context return
	for _, c := range s.connList() {
		CloseLogged(s.log, c, "forced close")
	}
	<-done // every blocking call is now bounded: sockets closed, contexts cancelled
	return ctx.Err()
}

// WriteLine writes line and CRLF to c outside a session, bounded by timeout; errors (the
// peer may be gone already) are logged at debug level.
func WriteLine(log *slog.Logger, c net.Conn, line string, timeout time.Duration) {
	if err := c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		log.Debug("set write deadline", "err", err)
	}
	if _, err := io.WriteString(c, line+"\r\n"); err != nil {
		log.Debug("write line", "err", err)
	}
}

// CloseLogged closes c, logging at debug level an error other than net.ErrClosed.
func CloseLogged(log *slog.Logger, c io.Closer, what string) {
	if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Debug("close "+what, "err", err)
	}
}

// Sleep waits d or until ctx ends, whichever is first; d <= 0 returns at once. It is the
// real clock behind the front-ends' failed-login delay.
func Sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
