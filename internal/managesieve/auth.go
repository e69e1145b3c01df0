package managesieve

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"

	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// Login: STARTTLS (RFC 5804 2.2), AUTHENTICATE with the PLAIN mechanism (RFC 5804 2.1,
// RFC 4616), only over TLS, and UNAUTHENTICATE (RFC 5804 2.14). Every failure to
// authenticate waits FailedLoginDelay and gives the same reply, whether the user exists
// or not; the directory already makes the two cost the same hashing time.

// cmdStartTLS answers OK, discards what the client pipelined, runs the handshake and
// sends the capabilities again (RFC 5804 2.2).
func (s *session) cmdStartTLS(cmd *command) error {
	if _, err := args(cmd, 0); err != nil {
		return err
	}
	if s.c.tls != nil {
		return badCommand("TLS is already active")
	}
	if s.acct != nil { // unreachable (login needs TLS), kept for the rule of RFC 5804 2.2
		return badCommand("STARTTLS is only valid before authentication")
	}
	if err := s.c.reply(response("OK", "", "Begin TLS negotiation now")); err != nil {
		return err
	}
	if err := s.c.w.Flush(); err != nil {
		return err
	}
	discarded, err := s.c.startTLS(s.ctx)
	if discarded > 0 {
		s.log.Info("discarded bytes pipelined after STARTTLS", "octets", discarded)
	}
	if err != nil {
		s.log.Info("TLS handshake failed", "err", err)
		return errEnd
	}
	if err := s.writeCapabilities(); err != nil {
		return err
	}
	return s.c.reply(response("OK", "", "TLS negotiation successful"))
}

// cmdAuthenticate runs a SASL PLAIN exchange, with the initial response as the second
// argument or after an empty challenge (RFC 5804 2.1).
func (s *session) cmdAuthenticate(cmd *command) error {
	a, err := args(cmd, 1, argString, argString)
	if err != nil {
		return err
	}
	if s.acct != nil { // RFC 5804 2.1: no reauthentication (UNAUTHENTICATE first)
		return errAuthed
	}
	if s.c.tls == nil {
		return errEncrypt
	}
	if !strings.EqualFold(a[0].s, sasl.Plain) {
		return badCommand("Unsupported authentication mechanism")
	}
	var resp string
	if len(a) == 2 {
		resp = a[1].s
	} else if resp, err = s.challenge(); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return badCommand("Invalid base64 data")
	}
	var result error
	srv := sasl.NewPlainServer(func(identity, user, pass string) error {
		if identity != "" && identity != user { // no proxy authorisation
			result = s.fail(user, "authorization identity differs")
			return result
		}
		result = s.login(user, pass)
		return result
	})
	if _, _, err := srv.Next(raw); err != nil && result == nil {
		return s.fail("", "malformed PLAIN response")
	}
	return result
}

// challenge sends the empty server challenge "" and reads the client's response
// string; "*" cancels the exchange (RFC 5804 2.1).
func (s *session) challenge() (string, error) {
	if err := s.c.reply(`""`); err != nil {
		return "", err
	}
	if err := s.c.arm(s.idle()); err != nil {
		return "", err
	}
	resp, err := s.c.p.response(smallBudget)
	var pe *parseError
	if errors.As(err, &pe) {
		if err := s.c.p.skip(); err != nil {
			s.readFailed(s.c.readErr(err))
			return "", errEnd
		}
		return "", &Error{Code: pe.code, Text: pe.msg, Bad: true}
	}
	if err != nil {
		s.readFailed(s.c.readErr(err))
		return "", errEnd
	}
	if resp == "*" {
		return "", &Error{Text: "Authentication cancelled", Bad: true}
	}
	return resp, nil
}

// login authenticates user and enters the authenticated state.
func (s *session) login(user, pass string) error {
	acct, err := s.srv.opt.Directory.Authenticate(s.ctx, user, pass)
	switch {
	case errors.Is(err, directory.ErrAuthFailed):
		return s.fail(user, "bad credentials")
	case errors.Is(err, directory.ErrDisabled):
		s.log.Info("login refused: account disabled", "user", user)
		return errDisabled // only said after the right password: no account probing
	case err != nil:
		s.log.Error("authenticate", "user", user, "err", err)
		return errTemp
	}
	if err := s.serviceAllowed(acct); err != nil {
		return err
	}
	s.acct = &acct
	s.ref = store.AccountRef{Domain: acct.Address.Domain, ID: acct.ID}
	s.log = s.base.With("user", acct.Address.String())
	s.log.Info("logged in")
	s.watchAccount()
	return s.c.reply(response("OK", "", "Logged in"))
}

// serviceAllowed applies the directory's ManageSieve switch after a successful
// authentication: the account's domain is read afresh, so a switch set on any node binds
// the next login. Like a disabled account, a disabled service is said only after the
// right password.
func (s *session) serviceAllowed(acct directory.Account) error {
	dom, err := s.srv.opt.Directory.Domain(s.ctx, acct.Address.Domain)
	if err != nil {
		s.log.Error("read the account's domain", "user", acct.Address.String(), "err", err)
		return errTemp
	}
	if !directory.ServiceAllowed(dom, acct, directory.ServiceManageSieve) {
		s.log.Info("login refused: ManageSieve disabled", "user", acct.Address.String(),
			"domain_off", dom.DisabledServices, "account_off", acct.DisabledServices)
		return errSieveDisabled
	}
	return nil
}

// fail waits FailedLoginDelay and returns the one reply for every credential failure;
// the last allowed failure ends the session with BYE.
func (s *session) fail(user, why string) error {
	s.log.Info("authentication failed", "user", user, "why", why)
	if d := s.srv.opt.FailedLoginDelay; d > 0 {
		s.srv.opt.Sleep(s.ctx, d)
	}
	if s.fails++; s.fails >= maxAuthFailures {
		return errTooManyFails
	}
	return errAuthFailed
}

// cmdUnauthenticate returns to the non-authenticated state; TLS stays (RFC 5804 2.14).
func (s *session) cmdUnauthenticate(cmd *command) error {
	if _, err := args(cmd, 0); err != nil {
		return err
	}
	s.log.Info("unauthenticated")
	s.acct, s.ref = nil, store.AccountRef{}
	s.log = s.base
	return s.c.reply(response("OK", "", "Unauthenticate completed"))
}
