package pop3server

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"

	"mailgrid/internal/directory"
	"mailgrid/internal/store"
)

// Login: USER/PASS (RFC 1939 7) and AUTH PLAIN (RFC 5034, RFC 4616), both only where
// credentials may be sent (secure). Every failure to authenticate waits AuthFailDelay and
// gives the same reply, whether the user exists or not; the directory already makes the
// two cost the same hashing time.

// cmdUser remembers the name for PASS.
func (s *session) cmdUser(args string) error {
	if !s.secure() {
		return errPlaintext
	}
	if args == "" || strings.ContainsRune(args, ' ') {
		return errSyntax
	}
	s.user = args
	return s.c.reply("+OK")
}

// cmdPass takes the rest of the line as the password: it may contain spaces (RFC 1939 7).
func (s *session) cmdPass(args string) error {
	if !s.secure() {
		return errPlaintext
	}
	if s.user == "" {
		return badCommand("No user name given, send USER first")
	}
	user := s.user
	s.user = ""
	return s.login(user, args)
}

// cmdAuth runs a SASL exchange (RFC 5034 4). "AUTH" alone lists the mechanisms, as
// Dovecot and many clients expect (the pre-RFC 5034 form).
func (s *session) cmdAuth(args string) error {
	f, err := fields(args, 0, 2)
	if err != nil {
		return err
	}
	if len(f) == 0 {
		return s.listMechanisms()
	}
	if !s.secure() {
		return errPlaintext
	}
	if !strings.EqualFold(f[0], sasl.Plain) {
		return badCommand("Unsupported authentication mechanism")
	}
	var resp []byte
	if len(f) == 2 { // initial response; "=" is an empty one (RFC 5034 4)
		if resp, err = decodeResponse(f[1]); err != nil {
			return err
		}
	} else if resp, err = s.challenge(); err != nil {
		return err
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
	if _, _, err := srv.Next(resp); err != nil && result == nil {
		return s.fail("", "malformed PLAIN response")
	}
	return result
}

func (s *session) listMechanisms() error {
	if err := s.c.reply("+OK"); err != nil {
		return err
	}
	if s.secure() {
		if err := s.c.reply(sasl.Plain); err != nil {
			return err
		}
	}
	return s.c.reply(".")
}

// challenge sends the empty server challenge "+ " and reads the client's response line;
// "*" cancels the exchange (RFC 5034 4).
func (s *session) challenge() ([]byte, error) {
	if err := s.c.reply("+ "); err != nil {
		return nil, err
	}
	if err := s.c.w.Flush(); err != nil {
		return nil, err
	}
	line, err := s.c.readLine(saslLineMax)
	if err != nil {
		s.readFailed(err)
		return nil, errEnd
	}
	if string(line) == "*" {
		return nil, &Error{Text: "Authentication cancelled", Bad: true}
	}
	return decodeResponse(string(line))
}

func decodeResponse(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, badCommand("Invalid base64 data")
	}
	return b, nil
}

// login authenticates user and opens the maildrop: the AUTHORIZATION -> TRANSACTION step.
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
	ref := store.AccountRef{Domain: acct.Address.Domain, ID: acct.ID}
	st, err := s.srv.opt.Shards.Shard(acct.Shard)
	if err != nil {
		s.log.Error("shard", "user", user, "shard", acct.Shard, "err", err)
		return errTemp
	}
	unlock, err := s.srv.lockMaildrop(s.ctx, st, ref)
	switch {
	case errors.Is(err, store.ErrLocked):
		s.log.Info("login refused: maildrop in use", "user", user)
		return errInUse // RFC 2449 8.1.2
	case err != nil:
		s.log.Error("lock maildrop", "user", user, "err", err)
		return errTemp // RFC 3206 4: SYS/TEMP
	}
	if !s.srv.loginAllowed(ref) {
		unlock()
		s.log.Info("login refused: login delay", "user", user)
		return errLoginDelay // RFC 2449 8.1.1
	}
	drop, err := loadMaildrop(s.ctx, st, ref)
	if err != nil {
		unlock()
		s.log.Error("open maildrop", "user", user, "err", err)
		return errTemp
	}
	s.srv.recordLogin(ref)
	s.acct, s.ref, s.st, s.drop, s.unlock = acct, ref, st, drop, unlock
	s.state = stateTransaction
	s.watchAccount()
	s.log = s.log.With("user", acct.Address.String())
	s.log.Info("logged in", "messages", drop.count, "octets", drop.size)
	return s.c.reply(fmt.Sprintf("+OK maildrop has %d messages (%d octets)", drop.count, drop.size))
}

// serviceAllowed applies the directory's POP3 switch after a successful authentication:
// the account's domain is read afresh, so a switch set on any node binds the next login.
// Like a disabled account, a disabled service is said only after the right password.
func (s *session) serviceAllowed(acct directory.Account) error {
	dom, err := s.srv.opt.Directory.Domain(s.ctx, acct.Address.Domain)
	if err != nil {
		s.log.Error("read the account's domain", "user", acct.Address.String(), "err", err)
		return errTemp
	}
	if !directory.ServiceAllowed(dom, acct, directory.ServicePOP3) {
		s.log.Info("login refused: POP3 disabled", "user", acct.Address.String(),
			"domain_off", dom.DisabledServices, "account_off", acct.DisabledServices)
		return errPOP3Disabled
	}
	return nil
}

// fail waits AuthFailDelay and returns the one reply for every credential failure.
func (s *session) fail(user, why string) error {
	s.log.Info("authentication failed", "user", user, "why", why)
	if d := s.srv.opt.AuthFailDelay; d > 0 {
		s.srv.opt.Sleep(s.ctx, d)
	}
	return errAuthFailed
}
