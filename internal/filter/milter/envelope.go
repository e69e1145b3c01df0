package milter

import (
	"context"

	gomilter "github.com/emersion/go-milter"

	"mailgrid/internal/filter"
)

// Envelope runs a milter's connect, HELO, MAIL and RCPT callbacks at mailgrid's envelope
// stages, so a milter's verdict on the client, the sender or one recipient is the reply
// to that SMTP command (as Postfix's smtpd_milters give it), not only the reply to DATA.
//
// Model: the pipeline keeps no session across SMTP commands, so each stage opens its own
// short milter session and replays the transaction up to that command, then says goodbye
// (the milter protocol's QUIT; the milter sees a transaction that ended early, as after a
// client RSET):
//
//	connect  connect, HELO                       the client (refused at MAIL FROM)
//	mail     connect, HELO, MAIL FROM            the sender
//	rcpt     connect, HELO, MAIL FROM, RCPT TO   this one recipient; others proceed
//
// The answers map as at DATA (package doc): reject → 550 5.7.1, tempfail → 451 4.7.1, a
// reply code is the milter's own reply. Accept and discard at an envelope stage accept
// the command: the message still meets the DATA-stage session, which replays the whole
// transaction. Failures (no milter, protocol error, timeout) follow the Rule's Policy:
// fail-closed defers the command with 451 4.7.1, fail-open accepts it (an envelope stage
// has no message to tag).
type Envelope struct {
	m *Milter
}

// EnvelopeStages returns the mailet for the connect, MAIL and RCPT stages, sharing f's
// configuration.
func (f *Milter) EnvelopeStages() *Envelope { return &Envelope{m: f} }

// Name implements filter.Mailet.
func (e *Envelope) Name() string { return e.m.cfg.Name }

// Stages implements filter.Stager.
func (e *Envelope) Stages() []filter.Stage {
	return []filter.Stage{filter.StageConnect, filter.StageMail, filter.StageRcpt}
}

// Health implements filter.HealthChecker (the milter's, as at DATA).
func (e *Envelope) Health(ctx context.Context) error { return e.m.Health(ctx) }

// Service implements filter.Mailet.
func (e *Envelope) Service(ctx context.Context, m *filter.Mail) error {
	ctx, cancel := context.WithTimeout(ctx, e.m.cfg.Timeout)
	defer cancel()
	s, stop, err := e.m.session(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if err := e.converse(s, m); err != nil {
		return e.m.wrap(ctx, err)
	}
	return nil
}

// converse replays the transaction up to m's stage and applies the first final answer
// to m's recipient (the stage's placeholder, or the RCPT's forward-path).
func (e *Envelope) converse(s *gomilter.ClientSession, m *filter.Mail) error {
	f, env, rcpts := e.m, m.Envelope, activeRcpts(m)
	if len(rcpts) == 0 {
		return nil
	}
	if err := s.Macros(gomilter.CodeConn, "j", f.cfg.Hostname, "{daemon_name}", "mailgrid"); err != nil {
		return err
	}
	act, err := connect(s, env.ClientIP)
	if done, err := f.decide(act, err, rcpts); done || err != nil {
		return err
	}
	act, err = s.Helo(helo(env.HELO, env.ClientIP))
	if done, err := f.decide(act, err, rcpts); done || err != nil || m.Stage == filter.StageConnect {
		return err
	}
	if err := f.mailMacros(s, env); err != nil {
		return err
	}
	from := ""
	if !env.From.IsZero() {
		from = env.From.String()
	}
	act, err = s.Mail(from, nil)
	if done, err := f.decide(act, err, rcpts); done || err != nil || m.Stage == filter.StageMail {
		return err
	}
	act, err = s.Rcpt(rcpts[0].Addr.String(), nil)
	_, err = f.decide(act, err, rcpts)
	return err
}

// mailMacros sends the MAIL-stage macros: the authenticated account and the queue id.
func (f *Milter) mailMacros(s *gomilter.ClientSession, env *filter.Envelope) error {
	var macros []string
	if env.Account != nil {
		macros = append(macros, "{auth_authen}", env.Account.Address.String(), "{auth_type}", "PLAIN")
	}
	if env.ID != "" {
		macros = append(macros, "i", env.ID)
	}
	if len(macros) == 0 {
		return nil
	}
	return s.Macros(gomilter.CodeMail, macros...)
}
