package managesieve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"mailgrid/internal/bus"
	"mailgrid/internal/directory"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// errEnd ends the session after the reply already buffered (LOGOUT, a BYE).
var errEnd = errors.New("end of session")

// session is one ManageSieve connection, run on its own goroutine.
type session struct {
	srv     *Server
	c       *conn
	log     *slog.Logger // base, with the user once logged in
	base    *slog.Logger // the connection's logger
	ctx     context.Context
	started time.Time

	bad   int // bad commands so far
	fails int // failed logins so far

	// Set by a successful login (auth.go); nil when not authenticated.
	acct *directory.Account
	ref  store.AccountRef
	// watch is the account's changes, for its deletion or disabling (ended.go).
	watch *bus.Subscription
}

func newSession(srv *Server, raw net.Conn) *session {
	log := srv.log.With("conn", obs.NewID(), "remote", raw.RemoteAddr().String())
	return &session{srv: srv, c: newConn(srv, raw), ctx: srv.net.Context(), started: srv.opt.Now(), log: log, base: log}
}

// run greets the client with the capabilities (RFC 5804 1.7) and executes commands
// until LOGOUT, a fatal error or shutdown.
func (s *session) run() {
	defer s.end()
	if s.srv.opt.ImplicitTLS {
		if _, err := s.c.startTLS(s.ctx); err != nil {
			s.log.Info("TLS handshake failed", "err", err)
			return
		}
	}
	s.log.Debug("connected")
	if err := s.greet(); err != nil {
		return
	}
	for {
		cmd, err := s.read()
		if err != nil {
			s.readFailed(err)
			return
		}
		if cmd == nil {
			continue // an empty line
		}
		if err := s.execute(cmd); err != nil {
			if !errors.Is(err, errEnd) {
				s.log.Info("session ends", "err", err)
			}
			return
		}
	}
}

// greet sends the capabilities and the OK that ends them.
func (s *session) greet() error {
	if err := s.writeCapabilities(); err != nil {
		return err
	}
	return s.c.reply(response("OK", "", s.srv.opt.Hostname+" ManageSieve ready"))
}

// read reads the next command. A command the grammar refuses is answered here and
// skipped; nil, nil stands for nothing to execute.
func (s *session) read() (*command, error) {
	if err := s.c.arm(s.idle()); err != nil {
		return nil, err
	}
	cmd, err := s.c.p.command(s.budget)
	var pe *parseError
	if !errors.As(err, &pe) {
		return cmd, s.c.readErr(err)
	}
	if err := s.c.p.skip(); err != nil {
		return nil, s.c.readErr(err)
	}
	s.log.Debug("command refused by the parser", "err", pe.msg)
	return nil, s.answer(&Error{Code: pe.code, Text: pe.msg, Bad: true}, "")
}

// idle is the inactivity bound: shorter before login (RFC 5804 1.3).
func (s *session) idle() time.Duration {
	if s.acct == nil {
		return min(s.srv.opt.IdleTimeout, preAuthTimeout)
	}
	return s.srv.opt.IdleTimeout
}

// budget is the literal octets a command may carry: a script and a name for the two
// commands that upload one, a few KiB for the others.
func (s *session) budget(verb string) int64 {
	if carriesScript(verb) {
		return s.srv.opt.MaxScriptSize + smallBudget
	}
	return smallBudget
}

// readFailed says the goodbye a failed command read deserves.
func (s *session) readFailed(err error) {
	switch {
	case errors.Is(err, errEnd):
	case errors.Is(err, errShutdown):
		s.goodbye(lineShutdown)
	case errors.Is(err, errEnded): // the account was deleted or disabled (ended.go)
		l := *s.c.ended.Load()
		s.log.Info("session ended", "reason", l)
		s.goodbye(l)
	case errors.Is(err, errIdle):
		s.log.Info("idle timeout")
		s.goodbye(lineIdle)
	case errors.Is(err, errLineTooLong):
		s.log.Info("line too long")
		s.goodbye(lineTooLong)
	case errors.Is(err, errLiteralHuge):
		s.log.Info("literal too large to skip")
		s.goodbye(lineHuge)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		s.log.Debug("client closed the connection")
	default:
		s.log.Debug("read", "err", err)
	}
}

func (s *session) goodbye(line string) {
	if err := s.c.reply(line); err != nil {
		s.log.Debug("write goodbye", "err", err)
	}
}

func (s *session) end() {
	s.endWatch()
	s.c.close()
	s.log.Debug("disconnected", "duration", s.srv.opt.Now().Sub(s.started))
}

// execute runs one command and writes its reply. A non-nil error ends the session.
func (s *session) execute(cmd *command) error {
	if s.acct != nil {
		if l := s.accountEnded(); l != "" {
			s.goodbye(l)
			return errEnd
		}
	}
	return s.answer(s.dispatch(cmd), cmd.verb)
}

// answer writes the reply a handler's error asks for and counts misuse.
func (s *session) answer(err error, verb string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err // nil, errEnd, or an I/O fault
	}
	if verb != "AUTHENTICATE" { // never log credentials
		s.log.Debug("command refused", "cmd", verb, "reply", e.line())
	}
	if err := s.c.reply(e.line()); err != nil {
		return err
	}
	if e.Bye {
		return errEnd
	}
	if e.Bad {
		if s.bad++; s.bad >= maxBadCommands {
			s.log.Info("too many bad commands")
			s.goodbye(lineTooBad)
			return errEnd
		}
	}
	return nil
}

// dispatch runs the handler of a command valid in the current state (RFC 5804 2:
// before login only CAPABILITY, STARTTLS, AUTHENTICATE, NOOP and LOGOUT).
func (s *session) dispatch(cmd *command) error {
	switch cmd.verb {
	case "CAPABILITY":
		return s.cmdCapability(cmd)
	case "LOGOUT":
		return s.cmdLogout(cmd)
	case "NOOP":
		return s.cmdNoop(cmd)
	case "STARTTLS":
		return s.cmdStartTLS(cmd)
	case "AUTHENTICATE":
		return s.cmdAuthenticate(cmd)
	}
	h := s.scriptHandler(cmd.verb)
	if h == nil {
		return errUnknown
	}
	if s.acct == nil {
		return errNotAuthed
	}
	return h(cmd)
}

// scriptHandler returns the handler of a command of the authenticated state.
func (s *session) scriptHandler(verb string) func(*command) error {
	switch verb {
	case "HAVESPACE":
		return s.cmdHaveSpace
	case "PUTSCRIPT":
		return s.cmdPutScript
	case "CHECKSCRIPT":
		return s.cmdCheckScript
	case "LISTSCRIPTS":
		return s.cmdListScripts
	case "SETACTIVE":
		return s.cmdSetActive
	case "GETSCRIPT":
		return s.cmdGetScript
	case "DELETESCRIPT":
		return s.cmdDeleteScript
	case "RENAMESCRIPT":
		return s.cmdRenameScript
	case "UNAUTHENTICATE":
		return s.cmdUnauthenticate
	}
	return nil
}

// args checks a command's arguments against kinds (trailing optional ones marked by
// optional: how many of the last kinds may be left out).
func args(cmd *command, optional int, kinds ...argKind) ([]arg, error) {
	if len(cmd.args) > len(kinds) || len(cmd.args) < len(kinds)-optional {
		return nil, badCommand(usage(cmd.verb))
	}
	for i, a := range cmd.args {
		if a.kind != kinds[i] {
			return nil, badCommand(usage(cmd.verb))
		}
	}
	return cmd.args, nil
}

// usage is the syntax error text of a command (RFC 5804 4).
func usage(verb string) string {
	switch verb {
	case "AUTHENTICATE":
		return `Usage: AUTHENTICATE "mechanism" ["initial response"]`
	case "HAVESPACE":
		return `Usage: HAVESPACE "name" size`
	case "PUTSCRIPT":
		return `Usage: PUTSCRIPT "name" {size+} script`
	case "CHECKSCRIPT":
		return `Usage: CHECKSCRIPT {size+} script`
	case "SETACTIVE", "GETSCRIPT", "DELETESCRIPT":
		return `Usage: ` + verb + ` "name"`
	case "RENAMESCRIPT":
		return `Usage: RENAMESCRIPT "old name" "new name"`
	case "NOOP":
		return `Usage: NOOP ["tag"]`
	}
	return verb + " takes no arguments"
}

// cmdCapability lists the capabilities (RFC 5804 2.4).
func (s *session) cmdCapability(cmd *command) error {
	if _, err := args(cmd, 0); err != nil {
		return err
	}
	if err := s.writeCapabilities(); err != nil {
		return err
	}
	return s.c.reply(response("OK", "", "Capability completed"))
}

// cmdLogout ends the session (RFC 5804 2.3: OK, then the server closes).
func (s *session) cmdLogout(cmd *command) error {
	if _, err := args(cmd, 0); err != nil {
		return err
	}
	if err := s.c.reply(response("OK", "", "Logout completed")); err != nil {
		return err
	}
	return errEnd
}

// cmdNoop answers OK, echoing a tag in the TAG response code (RFC 5804 2.13).
func (s *session) cmdNoop(cmd *command) error {
	a, err := args(cmd, 1, argString)
	if err != nil {
		return err
	}
	code := ""
	if len(a) == 1 {
		code = "TAG " + encodeString(a[0].s)
	}
	return s.c.reply(response("OK", code, "Done"))
}
