package pop3server

import (
	"fmt"
	"strconv"
)

// The commands other than login (auth.go) and message transfer (retr.go).

// cmdCapa lists capabilities (RFC 2449 5). USER, SASL and STLS are offered only in the
// AUTHORIZATION state, and USER and SASL only where credentials may be sent (after TLS,
// as Dovecot's disable_plaintext_auth does).
func (s *session) cmdCapa(args string) error {
	if _, err := fields(args, 0, 0); err != nil {
		return err
	}
	caps := []string{"+OK Capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
	if s.state == stateAuthorization {
		if s.secure() {
			caps = append(caps, "USER", "SASL PLAIN")
		}
		if s.srv.opt.TLSConfig != nil && s.c.tls == nil {
			caps = append(caps, "STLS")
		}
	}
	if d := s.srv.opt.LoginDelay; d > 0 {
		caps = append(caps, "LOGIN-DELAY "+strconv.Itoa(int(d.Seconds()))) // RFC 2449 6.5
	}
	caps = append(caps, "IMPLEMENTATION mailgrid", ".")
	for _, c := range caps {
		if err := s.c.reply(c); err != nil {
			return err
		}
	}
	return nil
}

// cmdStls starts TLS (RFC 2595 4). Commands pipelined after STLS are discarded.
func (s *session) cmdStls(args string) error {
	if _, err := fields(args, 0, 0); err != nil {
		return err
	}
	if s.srv.opt.TLSConfig == nil {
		return &Error{Text: "TLS not available", Bad: true}
	}
	if s.c.tls != nil {
		return &Error{Text: "TLS already active", Bad: true}
	}
	if err := s.c.reply("+OK Begin TLS negotiation"); err != nil {
		return err
	}
	if err := s.c.w.Flush(); err != nil {
		return err
	}
	n, err := s.c.startTLS(s.ctx)
	if n > 0 {
		s.log.Warn("discarded input pipelined after STLS", "bytes", n)
	}
	if err != nil {
		return fmt.Errorf("STLS handshake: %w", err)
	}
	s.user = "" // RFC 2595 4: forget everything learnt before TLS
	return nil
}

// cmdStat: "+OK nn mm", messages and octets not marked deleted (RFC 1939 5).
func (s *session) cmdStat(args string) error {
	if _, err := fields(args, 0, 0); err != nil {
		return err
	}
	return s.c.reply(fmt.Sprintf("+OK %d %d", s.drop.count, s.drop.size))
}

// cmdList: a scan listing of one message or of all not marked deleted (RFC 1939 5).
func (s *session) cmdList(args string) error {
	return s.listing(args, func(n int, e *entry) string {
		return strconv.Itoa(n) + " " + strconv.FormatInt(e.size, 10)
	})
}

// cmdUidl: unique-id listing (RFC 1939 7); ids are stable across sessions (maildrop.go).
func (s *session) cmdUidl(args string) error {
	return s.listing(args, func(n int, e *entry) string {
		return strconv.Itoa(n) + " " + s.drop.uidl(e)
	})
}

// listing answers LIST and UIDL: with an argument a single line "+OK <line>", without
// one a multi-line reply of every message not marked deleted.
func (s *session) listing(args string, line func(n int, e *entry) string) error {
	f, err := fields(args, 0, 1)
	if err != nil {
		return err
	}
	if len(f) == 1 {
		n, e, err := s.drop.get(f[0])
		if err != nil {
			return err
		}
		return s.c.reply("+OK " + line(n, e))
	}
	if err := s.c.reply(fmt.Sprintf("+OK %d messages (%d octets)", s.drop.count, s.drop.size)); err != nil {
		return err
	}
	for i := range s.drop.msgs {
		if e := &s.drop.msgs[i]; !e.deleted {
			if err := s.c.reply(line(i+1, e)); err != nil {
				return err
			}
		}
	}
	return s.c.reply(".")
}

// cmdDele marks a message deleted; it is removed only in the UPDATE state (RFC 1939 5).
func (s *session) cmdDele(args string) error {
	f, err := fields(args, 1, 1)
	if err != nil {
		return err
	}
	n, e, err := s.drop.get(f[0])
	if err != nil {
		return err
	}
	s.drop.markDeleted(e)
	return s.c.reply(fmt.Sprintf("+OK message %d deleted", n))
}

// cmdNoop (RFC 1939 5).
func (s *session) cmdNoop(args string) error {
	if _, err := fields(args, 0, 0); err != nil {
		return err
	}
	return s.c.reply("+OK")
}

// cmdRset unmarks every message marked deleted (RFC 1939 5).
func (s *session) cmdRset(args string) error {
	if _, err := fields(args, 0, 0); err != nil {
		return err
	}
	s.drop.reset()
	return s.c.reply(fmt.Sprintf("+OK maildrop has %d messages (%d octets)", s.drop.count, s.drop.size))
}

// cmdQuit ends the session. In the TRANSACTION state it enters UPDATE (RFC 1939 6):
// messages marked deleted are expunged from INBOX, then the lock is released.
func (s *session) cmdQuit(args string) error {
	if _, err := fields(args, 0, 0); err != nil {
		return err
	}
	bye := "+OK " + s.srv.opt.Hostname + " POP3 server signing off"
	if s.state == stateTransaction {
		s.state = stateUpdate
		left, err := s.update()
		if err != nil {
			return &Error{Code: codeSysTemp, Text: "Some deleted messages not removed", Close: true}
		}
		if left == 0 {
			bye += " (maildrop empty)" // as in RFC 1939 10
		} else {
			bye += fmt.Sprintf(" (%d messages left)", left)
		}
	}
	if err := s.c.reply(bye); err != nil {
		return err
	}
	return errEnd
}
