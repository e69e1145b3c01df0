package managesieve

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"

	"mailgrid/internal/bus"
	"mailgrid/internal/directory"
	"mailgrid/internal/filter"
	"mailgrid/internal/filter/sieve"
	"mailgrid/internal/netserve"
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
	// Bus brings the deletion or disabling of a logged-in account, which ends its
	// sessions (ended.go); nil: sessions are not watched.
	Bus    *bus.Bus
	Logger *slog.Logger // nil discards

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
		o.Sleep = netserve.Sleep
	}
}

// Server is one ManageSieve service on one or more listeners.
type Server struct {
	opt  Options
	log  *slog.Logger
	caps capabilities

	net *netserve.Server // accept loop, per-IP limit, connections, shutdown
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

// Shutdown stops accepting, says BYE (TRYLATER) to every session waiting for a command
// and closes it, and waits for sessions busy with a command to finish it. When ctx ends
// first, the remaining connections are closed (directory and script calls in progress
// are cancelled) and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error { return s.net.Shutdown(ctx) }
