package smtpserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strings"

	"github.com/emersion/go-smtp"

	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// session is one SMTP session of go-smtp: from EHLO to QUIT, or to STARTTLS, after which
// go-smtp starts a new one (RFC 3207 4.2: all state is discarded).
type session struct {
	srv    *Server
	st     *connState
	conn   *smtp.Conn
	log    *slog.Logger
	tls    *tls.ConnectionState
	acct   *directory.Account // after AUTH
	env    *delivery.Envelope // current transaction; nil before MAIL
	seen   map[string]bool    // recipient keys of the transaction (duplicates accepted once)
	errors int
	// refused is the connect-stage filters' reply: every MAIL gets it.
	refused *smtp.SMTPError
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	st := stateOf(c.Conn())
	if st == nil {
		return nil, errors.New("unknown connection")
	}
	if s.closing.Load() {
		return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down"}
	}
	st.setSession(c)
	sess := &session{srv: s, st: st, conn: c}
	// The connect-stage filters judge the client address and its greeting (RFC 5321
	// 4.1.1.1). A refusal is given at MAIL FROM, as Postfix's smtpd_delay_reject does:
	// clients that drop a session on a refused EHLO retry at once, and the reply at MAIL
	// reaches every client the same way.
	if err := s.opt.Pipeline.CheckConnect(s.ctx, st.ip, c.Hostname()); err != nil {
		e := delivery.AsError(err)
		s.log.Info("client refused", "remote", st.ip.String(), "helo", c.Hostname(), "code", e.Code, "reason", e.Message, "err", e.Err)
		sess.refused = toSMTP(e)
	}
	if cs, ok := c.TLSConnectionState(); ok {
		sess.tls = &cs
	}
	sess.log = s.log.With("remote", st.ip.String(), "helo", c.Hostname(), "tls", sess.tls != nil)
	return sess, nil
}

// stateOf finds our connection state under go-smtp's net.Conn (ours, or TLS over ours).
func stateOf(nc net.Conn) *connState {
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	if c, ok := nc.(*conn); ok {
		return c.st
	}
	return nil
}

func (sess *session) ctx() context.Context { return sess.srv.ctx }

// Reset implements smtp.Session (RSET, a new EHLO, the end of DATA).
func (sess *session) Reset() {
	sess.env = nil
	sess.seen = nil
	sess.st.setTx(false)
}

// Logout implements smtp.Session.
func (sess *session) Logout() error {
	sess.Reset()
	return nil
}

// Mail implements smtp.Session: MAIL FROM (RFC 5321 4.1.1.2).
func (sess *session) Mail(from string, opts *smtp.MailOptions) error {
	if sess.srv.opt.Mode == ModeSubmission && sess.acct == nil {
		return sess.fail(&smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}) // RFC 4954 6
	}
	if sess.refused != nil {
		return sess.fail(sess.refused)
	}
	var addr mail.Address
	if from != "" {
		a, err := parsePath(from)
		if err != nil {
			return sess.fail(senderSyntaxError(err))
		}
		if !a.IsASCII() && !opts.UTF8 {
			return sess.fail(errNeedUTF8) // RFC 6531 3.5
		}
		addr = a
	}
	env := &delivery.Envelope{
		From: addr, Account: sess.acct, SMTPUTF8: opts.UTF8, EnvID: opts.EnvelopeID,
		Ret: string(opts.Return), Size: opts.Size, Received: sess.srv.opt.Now(),
		ClientIP: sess.st.ip, HELO: sess.conn.Hostname(), // for the filters: SPF, rspamd
	}
	if err := sess.srv.opt.Pipeline.CheckSender(sess.ctx(), env); err != nil {
		return sess.fail(sess.reply(err, "MAIL FROM", addr.String()))
	}
	sess.env = env
	sess.seen = map[string]bool{}
	sess.st.setTx(true)
	return nil
}

// Rcpt implements smtp.Session: RCPT TO (RFC 5321 4.1.1.3).
func (sess *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if sess.env == nil {
		return sess.fail(&smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "MAIL first"})
	}
	addr, err := parsePath(to)
	if err != nil {
		return sess.fail(recipientSyntaxError(err))
	}
	if !addr.IsASCII() && !sess.env.SMTPUTF8 {
		return sess.fail(errNeedUTF8)
	}
	if sess.seen[addr.Key()] {
		return nil // RFC 5321 3.3: a duplicate recipient gets one copy
	}
	if err := sess.srv.opt.Pipeline.CheckRecipient(sess.ctx(), sess.env, addr); err != nil {
		return sess.fail(sess.reply(err, "RCPT TO", addr.String()))
	}
	r := delivery.Recipient{Addr: addr, ORcpt: orcpt(opts)}
	for _, n := range opts.Notify {
		r.Notify = append(r.Notify, string(n))
	}
	sess.env.Recipients = append(sess.env.Recipients, r)
	sess.seen[addr.Key()] = true
	return nil
}

func orcpt(opts *smtp.RcptOptions) string {
	if opts.OriginalRecipient == "" {
		return ""
	}
	return strings.ToLower(string(opts.OriginalRecipientType)) + ";" + opts.OriginalRecipient
}

// fail counts a rejected command; past MaxErrors the connection ends with 421 4.7.0 after
// this reply (Postfix's smtpd_hard_error_limit).
func (sess *session) fail(err error) error {
	sess.errors++
	if sess.errors >= sess.srv.opt.MaxErrors {
		sess.log.Info("too many errors, disconnecting", "errors", sess.errors)
		sess.st.closeAfterReply(replyTooManyEr)
	}
	return err
}

// reply converts a pipeline error to go-smtp's error, logging infrastructure faults.
func (sess *session) reply(err error, cmd, arg string) *smtp.SMTPError {
	e := delivery.AsError(err)
	if e.Err != nil {
		sess.log.Error("temporary failure", "cmd", cmd, "arg", arg, "err", e.Err)
	} else {
		sess.log.Info("rejected", "cmd", cmd, "arg", arg, "code", e.Code, "reason", e.Message)
	}
	return toSMTP(e)
}

func toSMTP(e *delivery.Error) *smtp.SMTPError {
	return &smtp.SMTPError{Code: e.Code, EnhancedCode: smtp.EnhancedCode(e.Enhanced), Message: e.Message}
}

var errNeedUTF8 = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7}, Message: "Non-ASCII address needs the SMTPUTF8 parameter"}

// parsePath turns go-smtp's path into a mail.Address. go-smtp has removed the angle
// brackets, a source route, and the quotes of a quoted local part; a local part that is not
// a dot-atom is quoted again so mail.Parse can judge it (a quoted "@", "%" or "!" is a
// routing trick there).
func parsePath(s string) (mail.Address, error) {
	at := strings.LastIndexByte(s, '@')
	if at > 0 && strings.HasPrefix(s[at+1:], "[") {
		return mail.Address{}, errLiteral
	}
	a, err := mail.Parse(s)
	if errors.Is(err, mail.ErrSyntax) && at > 0 {
		a, err = mail.Parse(quote(s[:at]) + s[at:])
	}
	return a, err
}

var errLiteral = errors.New("address literal")

func quote(local string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if local[i] == '"' || local[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}

// recipientSyntaxError maps mail.Parse errors on RCPT TO (RFC 3463 X.1.3, X.1.2).
func recipientSyntaxError(err error) *smtp.SMTPError {
	switch {
	case errors.Is(err, mail.ErrRouting), errors.Is(err, mail.ErrSourceRoute):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Routing in addresses (%, !, quoted @, source routes) is not accepted"}
	case errors.Is(err, errLiteral):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 2}, Message: "Address literals are not accepted, use a domain name"}
	case errors.Is(err, mail.ErrDomain):
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 2}, Message: "Bad recipient domain"}
	case errors.Is(err, mail.ErrTooLong):
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Recipient address too long"}
	}
	return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
}

// senderSyntaxError maps mail.Parse errors on MAIL FROM (RFC 3463 X.1.7, X.1.8).
func senderSyntaxError(err error) *smtp.SMTPError {
	switch {
	case errors.Is(err, mail.ErrRouting), errors.Is(err, mail.ErrSourceRoute):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Routing in addresses (%, !, quoted @, source routes) is not accepted"}
	case errors.Is(err, errLiteral), errors.Is(err, mail.ErrDomain):
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 8}, Message: "Bad sender domain"}
	}
	return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
}

// newID names one received message in logs and its Received header.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
