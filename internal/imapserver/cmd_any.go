package imapserver

import (
	"strconv"
	"strings"
)

// capabilities lists what this session may use now (RFC 9051 7.2.2): login mechanisms
// only over TLS, STARTTLS only before it.
func (s *session) capabilities() []string {
	caps := []string{"IMAP4rev1", "IMAP4rev2"}
	if s.state == stateNotAuth {
		if !s.tls && s.srv.opt.TLSConfig != nil {
			caps = append(caps, "STARTTLS")
		}
		if s.tls {
			caps = append(caps, "AUTH=PLAIN", "AUTH=LOGIN")
		} else {
			caps = append(caps, "LOGINDISABLED") // RFC 9051 6.2.3
		}
		return append(caps, "SASL-IR", "LITERAL+", "ENABLE", "ID", "IDLE")
	}
	caps = append(caps,
		"LITERAL+", "ENABLE", "ID", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE",
		"SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "CHILDREN",
		"ESEARCH", "SEARCHRES", "CONDSTORE", "QRESYNC", "QUOTA", "QUOTA=RES-STORAGE",
		"QUOTA=RES-MESSAGE", "APPENDLIMIT="+strconv.FormatInt(s.srv.opt.MaxLiteralSize, 10),
		"STATUS=SIZE", "UTF8=ACCEPT", "BINARY", "SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES")
	if !s.compress {
		caps = append(caps, "COMPRESS=DEFLATE")
	}
	return caps
}

// cmdCapability: RFC 9051 6.1.1.
func cmdCapability(s *session, c *command) error {
	if err := s.p.end(); err != nil {
		return err
	}
	s.w.raw("* CAPABILITY " + strings.Join(s.capabilities(), " ") + "\r\n")
	return nil
}

// cmdNoop: RFC 9051 6.1.2 (and CHECK, RFC 3501 6.4.1, a NOOP here since every change is
// durable when its command completes). Pending updates go out in reply.
func cmdNoop(s *session, c *command) error {
	return s.p.end()
}

// cmdLogout: RFC 9051 6.1.3.
func cmdLogout(s *session, c *command) error {
	if err := s.p.end(); err != nil {
		return err
	}
	s.w.raw("* BYE Logging out\r\n")
	s.state = stateLogout
	return nil
}

// cmdID: RFC 2971. The client's fields are logged; ours name the server.
func cmdID(s *session, c *command) error {
	if err := s.p.sp(); err != nil {
		return err
	}
	var fields []string
	if s.p.peek() == '(' {
		err := s.p.list(func() error {
			k, err := s.p.string()
			if err == nil {
				err = s.p.sp()
			}
			var v string
			if err == nil {
				v, _, err = s.p.nstring()
			}
			if len(fields) < 60 {
				fields = append(fields, k+"="+truncate(v, 100))
			}
			return err
		})
		if err != nil {
			return err
		}
	} else if _, err := s.p.atom(); err != nil { // NIL
		return err
	}
	if err := s.p.end(); err != nil {
		return err
	}
	if len(fields) > 0 {
		s.log.Info("client id", "id", strings.Join(fields, "; "))
	}
	s.w.raw(`* ID ("name" "mailgrid" "vendor" "mailgrid")` + "\r\n")
	return nil
}

// cmdEnable: RFC 5161. QRESYNC implies CONDSTORE (RFC 7162 3.2.3).
func cmdEnable(s *session, c *command) error {
	var names []string
	for !s.p.atEnd() {
		if err := s.p.sp(); err != nil {
			return err
		}
		a, err := s.p.atom()
		if err != nil {
			return err
		}
		names = append(names, a)
	}
	if len(names) == 0 {
		return bad("ENABLE needs at least one capability")
	}
	var on []string
	for _, n := range names {
		var flag *bool
		switch strings.ToUpper(n) {
		case "IMAP4REV2":
			flag = &s.enabled.rev2
		case "UTF8=ACCEPT":
			flag = &s.enabled.utf8
		case "CONDSTORE":
			flag = &s.enabled.condstore
		case "QRESYNC":
			if !s.enabled.condstore {
				s.enabled.condstore = true
			}
			flag = &s.enabled.qresync
		}
		if flag != nil && !*flag {
			*flag = true
			on = append(on, strings.ToUpper(n))
		}
	}
	s.w.utf8 = s.utf8Names()
	s.w.raw("* ENABLED")
	for _, n := range on {
		s.w.raw(" " + n)
	}
	s.w.raw("\r\n")
	return nil
}

// cmdNamespace: RFC 2342 / RFC 9051 6.3.10. One personal namespace, no others.
func cmdNamespace(s *session, c *command) error {
	if err := s.p.end(); err != nil {
		return err
	}
	s.w.raw(`* NAMESPACE (("" "/")) NIL NIL` + "\r\n")
	return nil
}
