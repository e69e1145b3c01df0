// Package web is mailgrid's HTTP front-end: the JSON API under /api/v1 (for the console,
// the webmail later, and billing or provisioning systems), and the server-rendered admin
// console. One listener serves both.
//
// Model:
//   - Every request is authorised on the server for the caller's role and tenant by the
//     admin service layer (admin.Service.As(actor): the same functions the CLI calls); the
//     handlers here only decode, call it and encode. The UI hides what a role cannot do,
//     but is never the check.
//   - Who the caller is comes from a session cookie or a bearer token, never both: a
//     request with an Authorization header is judged by it alone. Both are random 256-bit
//     secrets of which the directory keeps only the SHA-256 (directory.WebAuthStore). Each
//     request re-reads the account and its domain, so a disabled account or domain, a
//     changed role or a changed password (AuthHash, see directory/sessions.go) takes effect
//     on the next request on every node.
//   - Sessions: cookie "__Host-mg_session" (HttpOnly, Secure, SameSite=Strict, Path=/)
//     over TLS, "mg_session" (the same without Secure) on plain HTTP; rotated at every
//     login (the cookie a browser brought is revoked: no session fixation), revoked at
//     logout, at a password change and when the account is disabled; idle timeout and
//     absolute lifetime (Options).
//   - CSRF: Go's http.CrossOriginProtection refuses cross-origin browser writes by their
//     Sec-Fetch-Site/Origin headers, and a session's unsafe requests must also carry its
//     CSRF token (header X-CSRF-Token or form field csrf_token), derived from the cookie
//     secret with a hash, so it is never stored and changes with the session. Bearer
//     requests carry no ambient credential and need no token.
//   - Login: rate-limited per client address (IPv6 by /64) and per account
//     (golang.org/x/time/rate token buckets, in memory per node); an optional TOTP second
//     factor (RFC 6238, github.com/pquerna/otp) with each time step usable once.
//   - Who may sign in: any enabled account in an enabled domain. For a plain user the web
//     front-end is its webmail, so ServiceWebmail must be allowed (checked at login and on
//     every request). Domain and system admins sign in to the console and API whatever
//     their own webmail switch says: administration is not a mail service; the webmail
//     pages (later) check ServiceWebmail for them per request.
//   - Errors: every API error is JSON {"error":{"code":"stable_code","message":"text"}}
//     (errors.go); an invalid request changes nothing. The API is described by
//     api/openapi.yaml, which a test keeps equal to the route table (routes.go).
//   - Headers: a strict Content-Security-Policy (no inline script), frame-ancestors 'none'
//     and X-Frame-Options DENY, Referrer-Policy no-referrer, nosniff (headers.go).
//   - The console is html/template pages enhanced by htmx 2 (pinned in web/package.json,
//     installed by npm into web/node_modules, never copied into the repository), served
//     at /static/htmx.min.js from Options.AssetsDir. Pages work without it.
//
// No package-level state: everything hangs off Server.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
)

// Limit is a token bucket: Burst attempts at once, one more every Every.
type Limit struct {
	Burst int
	Every time.Duration
}

// Options configure a Server.
type Options struct {
	// Admin is the service layer (required); its Dir is the directory.
	Admin *admin.Service
	// Auth keeps sessions, API tokens and TOTP secrets; nil: Admin.Dir must implement
	// directory.WebAuthStore (the SQLite driver does).
	Auth directory.WebAuthStore
	// TLSConfig, when set, makes Serve speak HTTPS.
	TLSConfig *tls.Config
	// SecureCookies marks cookies Secure even on plain HTTP: set it behind a proxy that
	// terminates TLS.
	SecureCookies bool
	// TrustedOrigins are extra origins ("https://console.example.com") allowed to post
	// (http.CrossOriginProtection.AddTrustedOrigin), for a proxy on another host name.
	TrustedOrigins []string
	// Hostname names the installation in TOTP enrolment (the issuer shown by
	// authenticator apps).
	Hostname string
	// AssetsDir is the npm install directory (web/node_modules); htmx is served from
	// AssetsDir/htmx.org/dist/htmx.min.js. "": no /static/ assets.
	AssetsDir string
	// SessionIdle ends a session this long after its last request (default 1h);
	// SessionLifetime ends it this long after login whatever its activity (default 12h).
	SessionIdle     time.Duration
	SessionLifetime time.Duration
	// LoginPerIP and LoginPerAccount bound login attempts (defaults: 20 then one per 6s
	// per address; 10 failures then one per minute per account).
	LoginPerIP      Limit
	LoginPerAccount Limit
	Logger          *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Mail configures the webmail (mail_routes.go).
	Mail MailOptions
	// Filters is the filter state (block lists, rules, switches, quarantine) the API and
	// console administer (admin_policy.go); nil: those routes answer 503.
	Filters *admin.FilterAdmin
	// DNS computes and checks the records of a domain (admin_dns.go); Host "" means
	// Hostname.
	DNS admin.DNSSource
	// WellKnown configures the MTA-STS policy, autoconfig and autodiscover
	// (wellknown.go).
	WellKnown WellKnownOptions
}

// Server is the web front-end.
type Server struct {
	opt     Options
	log     *slog.Logger
	svc     *admin.Service
	dir     directory.Directory
	auth    directory.WebAuthStore
	now     func() time.Time
	handler http.Handler
	ipLim   *limiter
	userLim *limiter
	pages   *pages
	srv     *http.Server

	mu        sync.Mutex
	lastPurge time.Time
}

// New builds a Server.
func New(opt Options) (*Server, error) {
	if opt.Admin == nil || opt.Admin.Dir == nil {
		return nil, errors.New("web: Options.Admin with a directory is required")
	}
	auth := opt.Auth
	if auth == nil {
		a, ok := opt.Admin.Dir.(directory.WebAuthStore)
		if !ok {
			return nil, fmt.Errorf("web: the directory driver %T keeps no web sessions (directory.WebAuthStore)", opt.Admin.Dir)
		}
		auth = a
	}
	setDefaults(&opt)
	s := &Server{opt: opt, log: opt.Logger, svc: opt.Admin, dir: opt.Admin.Dir, auth: auth, now: opt.Now,
		ipLim: newLimiter(opt.LoginPerIP), userLim: newLimiter(opt.LoginPerAccount)}
	var err error
	if s.pages, err = loadPages(); err != nil {
		return nil, err
	}
	if s.handler, err = s.buildHandler(); err != nil {
		return nil, err
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		TLSConfig:         opt.TLSConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

func setDefaults(o *Options) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = time.Hour
	}
	if o.SessionLifetime <= 0 {
		o.SessionLifetime = 12 * time.Hour
	}
	if o.LoginPerIP.Burst <= 0 {
		o.LoginPerIP = Limit{Burst: 20, Every: 6 * time.Second}
	}
	if o.LoginPerAccount.Burst <= 0 {
		o.LoginPerAccount = Limit{Burst: 10, Every: time.Minute}
	}
	if o.Hostname == "" {
		o.Hostname = "mailgrid"
	}
}

// Handler is the whole front-end as an http.Handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers HTTP (HTTPS with Options.TLSConfig) on l until Shutdown; it returns nil
// after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	if s.opt.TLSConfig != nil {
		l = tls.NewListener(l, s.opt.TLSConfig)
	}
	// After Shutdown, http.Server.Serve closes l and returns ErrServerClosed at once.
	err := s.srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for requests in flight until ctx ends
// (then closes what remains and returns ctx's error).
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if cerr := s.srv.Close(); cerr != nil {
			s.log.Debug("web: close", "err", cerr)
		}
	}
	return err
}
