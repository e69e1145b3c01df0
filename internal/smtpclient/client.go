// Package smtpclient delivers queued mail to remote domains over SMTP: it implements
// queue.Sender on top of the client of github.com/emersion/go-smtp (the SMTP library
// mailgrid uses on both sides; it speaks PIPELINING-free RFC 5321 with the 8BITMIME,
// SMTPUTF8, SIZE and DSN parameters we need).
//
// One Deliver call is one transaction for one destination domain:
//
//  1. Route (route.go): MX lookup through dns.Resolver, sorted by preference with equal
//     preferences shuffled (RFC 5321 5.1); no MX means the domain itself (implicit MX);
//     a null MX "." means the domain accepts no mail (RFC 7505, permanent 5.1.10). If
//     our own hostname is an MX, it and every less preferred host are dropped (RFC 5321
//     5.1), and a list with nothing left is a mail loop (permanent 5.4.6). Loopback
//     addresses are only used when a published MX names them; an implicit MX or an
//     unspecified address never leads to 127.0.0.1 or 0.0.0.0 by accident.
//  2. Session (session.go), trying addresses in order (at most MaxAddresses): greeting,
//     EHLO with our hostname, opportunistic STARTTLS (RFC 3207; as Postfix's
//     "smtp_tls_security_level = may": encrypt whenever offered, a certificate that does
//     not verify still encrypts, a failed handshake falls back to a plaintext session),
//     SIZE, SMTPUTF8 and 8BITMIME checks, MAIL, one RCPT per recipient (each its own
//     result), DATA (its reply applies to every accepted recipient), QUIT. A
//     connection, greeting, EHLO or 4xx MAIL failure moves on to the next address; once
//     a server has taken MAIL FROM its replies are the outcome.
//     With Options.MTASTS a destination's MTA-STS policy (RFC 8461, mtasts.go) applies:
//     in enforce mode only the MX hosts it names are tried and only over STARTTLS with
//     a certificate that verifies for the MX name (no plaintext fallback; 4.7.5).
//  3. Timeouts follow RFC 5321 4.5.3.2: 5 minutes for the greeting, MAIL and RCPT, 2 for
//     the DATA command, 3 per data block written, 10 for the reply to the final dot.
//
// go-smtp's client only offers STARTTLS as its own first step (with "EHLO localhost"),
// so the greeting, EHLO and STARTTLS are spoken here with net/textproto and the
// go-smtp client takes over the (possibly encrypted) connection afterwards, issuing EHLO
// again as RFC 3207 4.2 requires after TLS.
//
// Failures are queue.DeliveryError / queue.RecipientResult values with the SMTP reply
// code, the RFC 3463 enhanced code and a temporary/permanent flag.
package smtpclient

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"

	"mailgrid/internal/dns"
	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// Options configures a Client. Zero durations take RFC 5321 4.5.3.2 values.
type Options struct {
	Hostname  string       // our name: EHLO argument and mail-loop detection (required)
	Port      int          // remote SMTP port, default 25
	Resolver  dns.Resolver // MX and address lookups (required)
	TLSConfig *tls.Config  // base for STARTTLS (RootCAs for the "verified" log field); may be nil

	ConnectTimeout   time.Duration // TCP connect, default 30s (Postfix smtp_connect_timeout)
	GreetingTimeout  time.Duration // initial 220, default 5m
	CommandTimeout   time.Duration // EHLO, STARTTLS, MAIL, RCPT, RSET, QUIT: default 5m
	DataInitTimeout  time.Duration // DATA command to 354, default 2m
	DataBlockTimeout time.Duration // each block of message data written, default 3m
	DataTermTimeout  time.Duration // final dot to reply, default 10m

	MaxAddresses int // addresses tried per delivery, default 5 (Postfix smtp_mx_address_limit)
	// MTASTS turns on outbound MTA-STS (RFC 8461, mtasts.go); nil = off.
	MTASTS *MTASTSOptions
	// Dial opens TCP connections; default a net.Dialer bound by ConnectTimeout.
	Dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.ConnectTimeout, 30*time.Second)
	def(&o.GreetingTimeout, 5*time.Minute)
	def(&o.CommandTimeout, 5*time.Minute)
	def(&o.DataInitTimeout, 2*time.Minute)
	def(&o.DataBlockTimeout, 3*time.Minute)
	def(&o.DataTermTimeout, 10*time.Minute)
	if o.Port == 0 {
		o.Port = 25
	}
	if o.MaxAddresses <= 0 {
		o.MaxAddresses = 5
	}
	if o.Dial == nil {
		d := &net.Dialer{Timeout: o.ConnectTimeout}
		o.Dial = d.DialContext
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Client is a queue.Sender over SMTP. It is safe for concurrent use; every Deliver opens
// its own connection.
type Client struct {
	opt Options
	log *slog.Logger
	sts stsCache // MTA-STS policies (mtasts.go)
}

var _ queue.Sender = (*Client)(nil)

// New returns a Client.
func New(opt Options) (*Client, error) {
	if opt.Hostname == "" {
		return nil, errors.New("smtpclient: Hostname is required")
	}
	if opt.Resolver == nil {
		return nil, errors.New("smtpclient: Resolver is required")
	}
	opt.setDefaults()
	if opt.MTASTS != nil {
		m := *opt.MTASTS
		m.setDefaults()
		opt.MTASTS = &m
	}
	return &Client{opt: opt, log: opt.Logger.With(slog.String("component", "smtpclient"))}, nil
}

// Deliver implements queue.Sender: one SMTP transaction for rcpts, all in domain.
func (c *Client) Deliver(ctx context.Context, domain string, env queue.Envelope, rcpts []queue.Recipient, body store.Body) ([]queue.RecipientResult, error) {
	sts := c.stsPolicy(ctx, domain) // mtasts.go; nil without a policy
	hops, err := c.route(ctx, domain)
	if err == nil && sts != nil {
		hops, err = c.applySTS(domain, sts, hops)
	}
	if err != nil {
		return nil, err
	}
	tx := &txn{env: env, rcpts: rcpts, body: body, sts: sts}
	var last *queue.DeliveryError
	tried := 0
	for _, h := range hops {
		for _, ip := range h.addrs {
			if tried == c.opt.MaxAddresses {
				return nil, last
			}
			tried++
			res, err := c.attempt(ctx, h.name, ip, tx)
			if err == nil {
				return res, nil
			}
			var ne *nextHostError
			if !errors.As(err, &ne) || ctx.Err() != nil {
				return nil, err
			}
			last = ne.DeliveryError
			c.log.Info("trying next address", slog.String("domain", domain), slog.String("host", h.name),
				slog.String("ip", ip.String()), slog.Any("err", err))
		}
	}
	return nil, last // route returns at least one address, so last is set
}

// attempt runs a session on one address, falling back to plaintext once when the TLS
// handshake fails (opportunistic TLS, RFC 7435) unless an enforced MTA-STS policy
// requires TLS (RFC 8461 4.2): then the next address is tried.
func (c *Client) attempt(ctx context.Context, host string, ip net.IP, tx *txn) ([]queue.RecipientResult, error) {
	res, err := c.session(ctx, host, ip, tx, true)
	var he *handshakeError
	if errors.As(err, &he) && tx.requireTLS() {
		return nil, nextHost(tempErr("4.7.5", "TLS handshake with "+host+" failed, required by the MTA-STS policy", he.err))
	}
	if errors.As(err, &he) && ctx.Err() == nil {
		c.log.Warn("TLS handshake failed, retrying without TLS", slog.String("host", host), slog.Any("err", he.err))
		res, err = c.session(ctx, host, ip, tx, false)
	}
	return res, err
}
