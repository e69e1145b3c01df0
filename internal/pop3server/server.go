package pop3server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"mailgrid/internal/bus"
	"mailgrid/internal/directory"
	"mailgrid/internal/netserve"
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
	// Bus carries the changes of the stores behind Shards: a session learns from it that
	// its account moved to another shard, was deleted or disabled (ended.go). nil: it
	// does not notice.
	Bus    *bus.Bus
	Logger *slog.Logger // nil discards

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
		o.Sleep = netserve.Sleep
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

// Server is one POP3 service on one or more listeners.
type Server struct {
	opt Options
	log *slog.Logger

	net *netserve.Server // accept loop, per-IP limit, connections, shutdown

	mu        sync.Mutex
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
		locks: map[store.AccountRef]struct{}{}, lastLogin: map[store.AccountRef]time.Time{},
	}
	s.net = netserve.New(netserve.Options{
		Logger: s.log, MaxConnsPerIP: opt.MaxConnsPerIP,
		Refuse: func(raw net.Conn) {
			if !opt.ImplicitTLS { // a plaintext line would garble a TLS handshake
				netserve.WriteLine(s.log, raw, lineTooMany, 10*time.Second)
			}
		},
		Handle: func(raw net.Conn) { newSession(s, raw).run() },
	})
	return s, nil
}

// Serve accepts connections on l until Shutdown, serving each on its own goroutine. It
// returns nil after Shutdown, or the listener's error.
func (s *Server) Serve(l net.Listener) error { return s.net.Serve(l) }

// Shutdown stops accepting, tells every session waiting for a command
// "-ERR [SYS/TEMP] Server shutting down" and closes it (without UPDATE: nothing is
// deleted), and waits for sessions busy with a command (a RETR, a QUIT in UPDATE) to
// finish it. When ctx ends first, the remaining connections are closed (store calls in
// progress are cancelled) and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error { return s.net.Shutdown(ctx) }

// maildropLockName names POP3's lock among an account's store locks.
const maildropLockName = "pop3"

// lockMaildrop takes the account's maildrop lock (RFC 1939 8: the server acquires an
// exclusive-access lock on the maildrop): the in-process one, then, when st implements
// store.MaildropLocker (a shard other nodes open too), the store's cluster-wide one. A
// maildrop held elsewhere is store.ErrLocked; any other error is a store fault.
func (s *Server) lockMaildrop(ctx context.Context, st store.Store, ref store.AccountRef) (unlock func(), err error) {
	local, ok := s.lockLocal(ref)
	if !ok {
		return nil, store.ErrLocked
	}
	l, ok := st.(store.MaildropLocker)
	if !ok {
		return local, nil
	}
	release, err := l.TryLock(ctx, ref, maildropLockName)
	if err != nil {
		local()
		return nil, err
	}
	return func() {
		release()
		local()
	}, nil
}

// lockLocal takes the in-process lock of the account's maildrop, which also spares the
// store a round trip for a second login on the same node.
func (s *Server) lockLocal(ref store.AccountRef) (unlock func(), ok bool) {
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
