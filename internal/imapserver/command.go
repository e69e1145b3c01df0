package imapserver

import (
	"errors"
	"net"
	"strings"
)

// command is one command in progress: what was parsed so far and the OK it will end with.
type command struct {
	tag, name string
	uid       bool // "UID" prefix (RFC 9051 6.4.9)
	okCode    string
	okText    string
	replied   bool // the handler wrote the tagged OK itself (STARTTLS, COMPRESS)
}

// handler runs one command: it parses its arguments from the session's parser (ending
// with p.end()), does the work, writes untagged responses, and returns nil for OK or a
// *respError for NO/BAD. Any other error is an I/O failure and ends the connection.
type handler func(s *session, c *command) error

type spec struct {
	fn     handler
	states state
	uid    bool // also valid after "UID"
	// noExpunge: a non-UID form during which EXPUNGE must not be sent (RFC 9051 7.5.1).
	noExpunge bool
}

// lookup returns the handler of a command name (upper case).
func lookup(name string) (spec, bool) {
	switch name {
	case "CAPABILITY":
		return spec{fn: cmdCapability, states: stateAny}, true
	case "NOOP":
		return spec{fn: cmdNoop, states: stateAny}, true
	case "CHECK": // RFC 3501 6.4.1: selected state only; a checkpoint is a NOOP here
		return spec{fn: cmdNoop, states: stateSelected}, true
	case "LOGOUT":
		return spec{fn: cmdLogout, states: stateAny}, true
	case "ID":
		return spec{fn: cmdID, states: stateAny}, true
	case "STARTTLS":
		return spec{fn: cmdStartTLS, states: stateNotAuth}, true
	case "LOGIN":
		return spec{fn: cmdLogin, states: stateNotAuth}, true
	case "AUTHENTICATE":
		return spec{fn: cmdAuthenticate, states: stateNotAuth}, true
	case "ENABLE":
		return spec{fn: cmdEnable, states: stateAuthOrSe}, true
	case "NAMESPACE":
		return spec{fn: cmdNamespace, states: stateAuthOrSe}, true
	case "SELECT", "EXAMINE":
		return spec{fn: cmdSelect, states: stateAuthOrSe}, true
	case "CREATE":
		return spec{fn: cmdCreate, states: stateAuthOrSe}, true
	case "DELETE":
		return spec{fn: cmdDelete, states: stateAuthOrSe}, true
	case "RENAME":
		return spec{fn: cmdRename, states: stateAuthOrSe}, true
	case "SUBSCRIBE", "UNSUBSCRIBE":
		return spec{fn: cmdSubscribe, states: stateAuthOrSe}, true
	case "LIST", "LSUB":
		return spec{fn: cmdList, states: stateAuthOrSe}, true
	case "STATUS":
		return spec{fn: cmdStatus, states: stateAuthOrSe}, true
	case "APPEND":
		return spec{fn: cmdAppend, states: stateAuthOrSe}, true
	case "IDLE":
		return spec{fn: cmdIdle, states: stateAuthOrSe}, true
	case "GETQUOTA", "GETQUOTAROOT":
		return spec{fn: cmdGetQuota, states: stateAuthOrSe}, true
	case "SETQUOTA":
		return spec{fn: cmdSetQuota, states: stateAuthOrSe}, true
	case "COMPRESS":
		return spec{fn: cmdCompress, states: stateAuthOrSe}, true
	case "UNSELECT", "CLOSE":
		return spec{fn: cmdClose, states: stateSelected}, true
	case "EXPUNGE":
		return spec{fn: cmdExpunge, states: stateSelected, uid: true}, true
	case "SEARCH":
		return spec{fn: cmdSearch, states: stateSelected, uid: true, noExpunge: true}, true
	case "SORT":
		return spec{fn: cmdSort, states: stateSelected, uid: true, noExpunge: true}, true
	case "THREAD":
		return spec{fn: cmdThread, states: stateSelected, uid: true, noExpunge: true}, true
	case "FETCH":
		return spec{fn: cmdFetch, states: stateSelected, uid: true, noExpunge: true}, true
	case "STORE":
		return spec{fn: cmdStore, states: stateSelected, uid: true, noExpunge: true}, true
	case "COPY", "MOVE":
		return spec{fn: cmdCopy, states: stateSelected, uid: true}, true
	}
	return spec{}, false
}

// command reads the rest of a command whose first line is in the parser, runs it and
// writes the tagged reply. It reports false when the connection must end.
func (s *session) command() bool {
	p := s.p
	tag, err := p.tag()
	if err == nil {
		err = p.sp()
	}
	var name string
	if err == nil {
		name, err = p.atom()
	}
	if err != nil {
		return s.reply(&command{tag: "*"}, err, false)
	}
	c := &command{tag: tag, name: strings.ToUpper(name)}
	if c.name == "UID" {
		if err := p.sp(); err != nil {
			return s.reply(c, err, false)
		}
		n, err := p.atom()
		if err != nil {
			return s.reply(c, err, false)
		}
		c.uid, c.name = true, strings.ToUpper(n)
	}
	sp, ok := lookup(c.name)
	switch {
	case !ok || (c.uid && !sp.uid):
		return s.reply(c, bad("unknown command"), false)
	case sp.states&s.state == 0:
		return s.reply(c, bad("%s not allowed %s", c.name, s.stateText(sp.states)), false)
	}
	if t := s.accountEnded(); t != "" {
		s.bye(t)
		return false
	}
	s.drainChanges()
	err = sp.fn(s, c)
	return s.reply(c, err, sp.noExpunge && !c.uid)
}

func (s *session) stateText(allowed state) string {
	switch {
	case s.state == stateNotAuth:
		return "before authentication"
	case allowed == stateNotAuth:
		return "after authentication"
	case allowed == stateSelected:
		return "without a selected mailbox"
	}
	return "in this state"
}

// reply ends a command: pending mailbox updates (without EXPUNGE after FETCH, STORE and
// SEARCH by sequence number, RFC 9051 7.5.1), then the tagged status.
func (s *session) reply(c *command, err error, noExpunge bool) bool {
	var re *respError
	if err != nil && !errors.As(err, &re) {
		if !errors.Is(err, net.ErrClosed) {
			s.log.Debug("command failed", "cmd", c.name, "err", err)
		}
		return false
	}
	if re != nil && !re.close && !re.noCont {
		if serr := s.p.skipCommand(); serr != nil {
			if errors.As(serr, &re) && re.close {
				s.w.raw(c.tag + " BAD [" + re.code + "] " + re.text + "\r\n")
				s.bye("Closing connection")
			}
			return false
		}
	}
	if s.sel != nil && s.state == stateSelected {
		s.drainChanges()
		if !s.pushUpdates(!noExpunge) {
			return false
		}
	}
	if re == nil && c.replied {
		return s.w.flush() == nil
	}
	if re == nil {
		s.w.raw(c.tag + " OK ")
		if c.okCode != "" {
			s.w.raw("[" + c.okCode + "] ")
		}
		if c.okText == "" {
			c.okText = c.name + " completed"
		}
		s.w.raw(c.okText + "\r\n")
	} else {
		if re.err != nil {
			s.log.Warn("command failed", "cmd", c.name, "err", re.err)
		}
		s.w.raw(c.tag + " " + re.status + " ")
		if re.code != "" {
			s.w.raw("[" + re.code + "] ")
		}
		s.w.raw(re.text + "\r\n")
		if re.close {
			s.bye("Closing connection")
			return false
		}
	}
	if re != nil && re.status == "BAD" {
		s.badRun++
	} else {
		s.badRun = 0
	}
	if s.badRun >= maxBadRun {
		s.bye("Too many invalid commands")
		return false
	}
	return s.w.flush() == nil && !s.selectedGone()
}

// maxBadRun is how many BAD replies in a row end a session (with BYE, RFC 9051 7.1.5):
// a client that sends that many commands the server cannot parse or run is not a mail
// client talking IMAP, but a scanner or another protocol's client (an HTTP or SMTP client
// pointed at the port), and answering it forever costs the server for nothing. Dovecot
// disconnects after 20 bad commands too. A command that is not BAD starts the count over.
const maxBadRun = 20
