package smtpclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// preludeResult is the connection after greeting, EHLO and (maybe) STARTTLS, ready for
// the go-smtp client: it replays a greeting so the client starts as on a new session.
type preludeResult struct {
	conn     net.Conn
	tls      bool
	verified bool // the certificate chain verified for the MX name
}

// prelude reads the greeting, sends EHLO and, when offered and tryTLS, STARTTLS.
func (c *Client) prelude(ctx context.Context, raw net.Conn, host string, tryTLS bool) (*preludeResult, error) {
	tp := textproto.NewConn(raw) // not closed here: closing it would close raw
	if err := raw.SetDeadline(time.Now().Add(c.opt.GreetingTimeout)); err != nil {
		return nil, nextHost(sessionErr(host, "greeting", err))
	}
	// RFC 5321 3.1: anything but 220 (e.g. 554) means no service here: try the next MX.
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, nextHost(sessionErr(host, "greeting", err))
	}
	ext, err := c.ehlo(tp, raw)
	if err != nil {
		return nil, nextHost(sessionErr(host, "EHLO", err))
	}
	res := &preludeResult{conn: raw}
	if _, ok := ext["STARTTLS"]; ok && tryTLS {
		ok, err := c.startTLS(tp, raw)
		if err != nil {
			return nil, nextHost(sessionErr(host, "STARTTLS", err))
		}
		if ok {
			if err := c.handshake(ctx, raw, host, res); err != nil {
				return nil, err
			}
			return res, raw.SetDeadline(time.Time{})
		}
	}
	// Plaintext: hand over whatever the server sent early along with the connection.
	leftover, err := tp.R.Peek(tp.R.Buffered())
	if err != nil {
		return nil, nextHost(sessionErr(host, "EHLO", err))
	}
	res.conn = &greetedConn{Conn: raw, r: io.MultiReader(greeting(host), bytes.NewReader(bytes.Clone(leftover)), raw)}
	return res, raw.SetDeadline(time.Time{})
}

// ehlo sends EHLO and returns the extension keywords. A server that does not know EHLO
// (5xx) gets none; the go-smtp client then falls back to HELO itself.
func (c *Client) ehlo(tp *textproto.Conn, raw net.Conn) (map[string]string, error) {
	if err := raw.SetDeadline(time.Now().Add(c.opt.CommandTimeout)); err != nil {
		return nil, err
	}
	if _, err := tp.Cmd("EHLO %s", c.opt.Hostname); err != nil {
		return nil, err
	}
	_, msg, err := tp.ReadResponse(250)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code/100 == 5 {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	ext := make(map[string]string)
	lines := strings.Split(msg, "\n")
	for _, l := range lines[1:] { // RFC 5321 4.1.1.1: first line is the greeting
		kw, param, _ := strings.Cut(l, " ")
		ext[strings.ToUpper(kw)] = param
	}
	return ext, nil
}

// startTLS sends STARTTLS (RFC 3207 4). A refusal is not an error: the session goes on
// in plaintext, as opportunistic TLS allows.
func (c *Client) startTLS(tp *textproto.Conn, raw net.Conn) (bool, error) {
	if err := raw.SetDeadline(time.Now().Add(c.opt.CommandTimeout)); err != nil {
		return false, err
	}
	if _, err := tp.Cmd("STARTTLS"); err != nil {
		return false, err
	}
	_, _, err := tp.ReadResponse(220)
	var te *textproto.Error
	if errors.As(err, &te) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if tp.R.Buffered() > 0 {
		// RFC 3207 4.2 / CVE-2011-0411: data sent before the handshake must not be
		// taken as part of the TLS session.
		return false, errors.New("data after STARTTLS reply before TLS handshake")
	}
	return true, nil
}

// handshake runs the TLS handshake over raw and points res at the encrypted connection.
func (c *Client) handshake(ctx context.Context, raw net.Conn, host string, res *preludeResult) error {
	var cfg *tls.Config
	if c.opt.TLSConfig != nil {
		cfg = c.opt.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	roots := cfg.RootCAs
	cfg.ServerName = host
	// Opportunistic TLS (RFC 7435): an unverified certificate still encrypts. The chain
	// is checked anyway, for the log.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		res.verified = verifyChain(cs, roots)
		return nil
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, c.opt.CommandTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return &handshakeError{err: err}
	}
	res.tls = true
	res.conn = &greetedConn{Conn: tc, r: io.MultiReader(greeting(host), tc)}
	return nil
}

func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) bool {
	if len(cs.PeerCertificates) == 0 {
		return false
	}
	inter := x509.NewCertPool()
	for _, cert := range cs.PeerCertificates[1:] {
		inter.AddCert(cert)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: cs.ServerName, Roots: roots, Intermediates: inter})
	return err == nil
}

// greeting is the 220 line replayed to the go-smtp client.
func greeting(host string) io.Reader { return strings.NewReader("220 " + host + " ESMTP\r\n") }

// greetedConn is a connection whose reads start with replayed bytes.
type greetedConn struct {
	net.Conn
	r io.Reader
}

func (g *greetedConn) Read(p []byte) (int, error) { return g.r.Read(p) }
