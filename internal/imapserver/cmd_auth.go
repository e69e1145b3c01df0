package imapserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"

	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// cmdStartTLS: RFC 9051 6.2.1. Bytes the client pipelined after the command are
// discarded, never read as commands after the handshake (the command injection of
// CVE-2011-0411 and its IMAP cousins).
func cmdStartTLS(s *session, c *command) error {
	if err := s.p.end(); err != nil {
		return err
	}
	if s.tls {
		return bad("TLS already active")
	}
	if s.srv.opt.TLSConfig == nil {
		return bad("TLS not available")
	}
	s.w.raw(c.tag + " OK Begin TLS negotiation now\r\n")
	if err := s.w.flush(); err != nil {
		return err
	}
	c.replied = true
	if n := s.br.Buffered(); n > 0 {
		s.log.Info("discarding data pipelined after STARTTLS", "bytes", n)
		if _, err := s.br.Discard(n); err != nil {
			return err
		}
	}
	tc := tls.Server(s.conn, s.srv.opt.TLSConfig)
	s.setConn(tc)
	s.tls = true
	if err := s.handshake(); err != nil {
		s.log.Info("starttls handshake failed", "err", err)
		return err
	}
	return nil
}

// cmdLogin: RFC 9051 6.2.3, refused without TLS (LOGINDISABLED).
func cmdLogin(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	user, err := s.p.astring()
	if err != nil {
		return err
	}
	if err := s.p.sp(); err != nil {
		return err
	}
	pass, err := s.p.astring()
	if err != nil {
		return err
	}
	if err := s.p.end(); err != nil {
		return err
	}
	if !s.tls {
		return no(codePrivacy, "Login only over TLS: use STARTTLS")
	}
	return s.authenticate(c, user, pass)
}

// cmdAuthenticate: RFC 9051 6.2.2 with SASL-IR (RFC 4959); PLAIN (RFC 4616) and the
// de-facto LOGIN mechanism, both only over TLS.
func cmdAuthenticate(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	mech, err := s.p.atom()
	if err != nil {
		return err
	}
	var initial *string
	if s.p.take(' ') {
		ir, err := s.p.word(func(b byte) bool { return isBase64Char(b) || b == '=' }, "initial response")
		if err != nil {
			return err
		}
		initial = &ir
	}
	if err := s.p.end(); err != nil {
		return err
	}
	if !s.tls {
		return no(codePrivacy, "Authentication only over TLS: use STARTTLS")
	}
	switch strings.ToUpper(mech) {
	case "PLAIN":
		resp, err := s.saslStep(initial, "")
		if err != nil {
			return err
		}
		authz, user, pass, ok := splitPlain(resp)
		if !ok || (authz != "" && authz != user) {
			return bad("malformed PLAIN response")
		}
		return s.authenticate(c, user, pass)
	case "LOGIN":
		user, err := s.saslStep(initial, "Username:")
		if err != nil {
			return err
		}
		pass, err := s.saslStep(nil, "Password:")
		if err != nil {
			return err
		}
		return s.authenticate(c, string(user), string(pass))
	}
	return no("", "Unsupported authentication mechanism")
}

func isBase64Char(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/'
}

// saslStep returns the initial response if given, else sends the challenge and reads
// the client's line. "*" cancels (RFC 9051 6.2.2); "=" is an empty initial response.
func (s *session) saslStep(initial *string, challenge string) ([]byte, error) {
	var line string
	if initial != nil {
		line = *initial
	} else {
		s.w.raw("+ " + base64.StdEncoding.EncodeToString([]byte(challenge)) + "\r\n")
		if err := s.w.flush(); err != nil {
			return nil, err
		}
		if err := s.p.readLine(); err != nil {
			return nil, err
		}
		line = string(s.p.line)
		s.p.pos = len(s.p.line)
		if line == "*" {
			return nil, bad("Authentication cancelled")
		}
	}
	if line == "=" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(line)
	if err != nil {
		return nil, bad("invalid base64")
	}
	return b, nil
}

// splitPlain splits "authzid NUL authcid NUL passwd" (RFC 4616 2).
func splitPlain(b []byte) (authz, user, pass string, ok bool) {
	parts := bytes.Split(b, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return "", "", "", false
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), true
}

// authenticate checks credentials and enters the authenticated state. Unknown users,
// wrong passwords and disabled accounts get the same reply after the same delay, so
// neither the text nor the timing tells them apart; the directory hashes a dummy
// password for unknown users for the same reason.
func (s *session) authenticate(c *command, user, pass string) error {
	ctx := context.Background()
	acct, err := s.srv.opt.Directory.Authenticate(ctx, user, pass)
	if err != nil {
		if !errors.Is(err, directory.ErrAuthFailed) && !errors.Is(err, directory.ErrDisabled) {
			return storeError(err, "login")
		}
		s.failures++
		s.log.Info("login failed", "user", truncate(user, 100), "failures", s.failures)
		if d := s.srv.opt.FailedLoginDelay; d > 0 {
			s.srv.opt.Sleep(s.srv.ctx, d<<min(s.failures-1, 3)) // d, 2d, 4d, then 8d
		}
		e := no(codeAuthFailed, "Authentication failed")
		e.close = s.failures >= s.srv.opt.MaxLoginFailures
		return e
	}
	if err := s.serviceAllowed(ctx, acct); err != nil {
		return err
	}
	st, err := s.srv.opt.Shards.Shard(acct.Shard)
	if err != nil {
		return storeError(err, "login")
	}
	s.acct, s.st, s.ref = acct, st, store.AccountRef{Domain: acct.Address.Domain, ID: acct.ID}
	s.state = stateAuth
	s.watchAccount()
	s.log = s.log.With("account", acct.Address.String())
	c.okCode = "CAPABILITY " + strings.Join(s.capabilities(), " ")
	c.okText = "Logged in"
	return nil
}

// serviceAllowed applies the IMAP service switch after a successful authentication: the
// account's domain is read from the directory (so a switch binds the next login on every
// node) and the login is refused with NO [CONTACTADMIN] (RFC 5530 3) when the domain or
// the account disables IMAP. The password was right, so there is no failed-login delay;
// the refusal says nothing an attacker could use. A directory fault is NO [UNAVAILABLE].
func (s *session) serviceAllowed(ctx context.Context, acct directory.Account) error {
	dom, err := s.srv.opt.Directory.Domain(ctx, acct.Address.Domain)
	if err != nil {
		e := no(codeUnavailable, "login: temporary failure, try again later")
		e.err = err
		return e
	}
	if !directory.ServiceAllowed(dom, acct, directory.ServiceIMAP) {
		s.log.Info("login refused: IMAP disabled", "user", acct.Address.String(),
			"domain_off", dom.DisabledServices, "account_off", acct.DisabledServices)
		return no(codeContactAdmin, "IMAP access is disabled for this account")
	}
	return nil
}
