package pop3server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"

	"mailgrid/internal/bus"
	"mailgrid/internal/directory"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// state is the RFC 1939 3 session state.
type state int

const (
	stateAuthorization state = iota
	stateTransaction
	stateUpdate
)

// errEnd ends the session after the reply already buffered (QUIT, a fatal reply).
var errEnd = errors.New("end of session")

// session is one POP3 connection, run on its own goroutine.
type session struct {
	srv *Server
	c   *conn
	log *slog.Logger
	ctx context.Context

	state state
	user  string // from USER, waiting for PASS
	bad   int    // bad commands and failed logins so far

	// Set by a successful login (auth.go).
	acct   directory.Account
	ref    store.AccountRef
	st     store.Store
	drop   *maildrop
	unlock func()            // releases the maildrop lock
	watch  *bus.Subscription // the account's changes: its move or end (ended.go)

	buf []byte // RETR/TOP copy buffer, allocated on first use
}

func newSession(srv *Server, raw net.Conn) *session {
	return &session{
		srv: srv, c: newConn(srv, raw), ctx: srv.net.Context(),
		log: srv.log.With("conn", obs.NewID(), "remote", raw.RemoteAddr().String()),
	}
}

// run greets the client and executes commands until QUIT, a fatal error or shutdown.
func (s *session) run() {
	defer s.end()
	if s.srv.opt.ImplicitTLS {
		if _, err := s.c.startTLS(s.ctx); err != nil {
			s.log.Info("TLS handshake failed", "err", err)
			return
		}
	}
	s.log.Debug("connected")
	if err := s.c.reply("+OK " + s.srv.opt.Hostname + " POP3 server ready"); err != nil {
		return
	}
	for {
		if err := s.c.flushIfIdle(); err != nil {
			s.log.Debug("write", "err", err)
			return
		}
		line, err := s.c.readLine(s.srv.opt.MaxLineLength)
		if err != nil {
			s.readFailed(err)
			return
		}
		if err := s.execute(line); err != nil {
			if !errors.Is(err, errEnd) {
				s.log.Info("session ends", "err", err)
			}
			return
		}
	}
}

// readFailed says the goodbye a failed command read deserves.
func (s *session) readFailed(err error) {
	switch {
	case errors.Is(err, errShutdown):
		s.goodbye(lineShutdown)
	case errors.Is(err, errEnded): // the account moved or closed (ended.go)
		e := s.c.ended.Load()
		s.log.Info("session ended", "reason", e.Text)
		s.goodbye(e.line())
	case errors.Is(err, errIdle):
		s.log.Info("idle timeout")
		s.goodbye(lineIdle)
	case errors.Is(err, errLineLong):
		s.log.Info("line too long")
		s.goodbye(errTooLong.line())
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		s.log.Debug("client closed the connection", "state", s.state)
	default:
		s.log.Debug("read", "err", err)
	}
}

func (s *session) goodbye(line string) {
	if err := s.c.reply(line); err != nil {
		s.log.Debug("write goodbye", "err", err)
	}
}

// end releases the maildrop lock without UPDATE (a dropped or ended session deletes
// nothing, RFC 1939 6) and closes the connection.
func (s *session) end() {
	s.endWatch()
	if s.unlock != nil {
		s.unlock()
	}
	s.c.close()
	s.log.Debug("disconnected")
}

// execute runs one command line and writes its reply. A non-nil error ends the session.
func (s *session) execute(line []byte) error {
	verb, args := splitCommand(line)
	var err error
	if !printable(line) {
		err = errInvalidChars
	} else {
		err = s.dispatch(verb, args)
	}
	var e *Error
	if !errors.As(err, &e) {
		return err // nil, errEnd, or an I/O fault
	}
	if verb != "PASS" && verb != "AUTH" { // never log credentials
		s.log.Debug("command refused", "cmd", verb, "reply", e.line())
	}
	if err := s.c.reply(e.line()); err != nil {
		return err
	}
	if e.Close {
		return errEnd
	}
	if e.Bad {
		if s.bad++; s.bad >= s.srv.opt.MaxBadCommands {
			s.log.Info("too many bad commands")
			s.goodbye(lineTooBad)
			return errEnd
		}
	}
	return nil
}

// splitCommand returns the upper-cased keyword and the rest of the line after one space
// (RFC 1939 3: keywords are case-insensitive, separated from arguments by a single space).
func splitCommand(line []byte) (verb, args string) {
	v, a, _ := bytes.Cut(line, []byte{' '})
	return strings.ToUpper(string(v)), string(a)
}

// printable rejects control characters (NUL included) anywhere in a command line.
func printable(line []byte) bool {
	for _, b := range line {
		if b < 0x20 || b == 0x7f {
			return false
		}
	}
	return true
}

// dispatch runs the handler of verb for the current state (RFC 1939 4-6).
func (s *session) dispatch(verb, args string) error {
	if s.state == stateTransaction {
		if e := s.accountEnded(); e != nil {
			return e
		}
	}
	switch verb {
	case "CAPA":
		return s.cmdCapa(args)
	case "QUIT":
		return s.cmdQuit(args)
	}
	if s.state == stateAuthorization {
		switch verb {
		case "USER":
			return s.cmdUser(args)
		case "PASS":
			return s.cmdPass(args)
		case "AUTH":
			return s.cmdAuth(args)
		case "STLS":
			return s.cmdStls(args)
		case "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL":
			return errWrongState
		}
		return errUnknown
	}
	switch verb {
	case "STAT":
		return s.cmdStat(args)
	case "LIST":
		return s.cmdList(args)
	case "UIDL":
		return s.cmdUidl(args)
	case "RETR":
		return s.cmdRetr(args)
	case "TOP":
		return s.cmdTop(args)
	case "DELE":
		return s.cmdDele(args)
	case "NOOP":
		return s.cmdNoop(args)
	case "RSET":
		return s.cmdRset(args)
	case "USER", "PASS", "AUTH", "STLS", "APOP":
		return errWrongState
	}
	return errUnknown
}

// fields splits arguments and checks their number is within [minN, maxN].
func fields(args string, minN, maxN int) ([]string, error) {
	f := strings.Fields(args)
	if len(f) < minN || len(f) > maxN {
		return nil, errSyntax
	}
	return f, nil
}

// secure reports whether credentials may be sent on this connection.
func (s *session) secure() bool {
	return s.c.tls != nil || s.srv.opt.AllowInsecureAuth
}
