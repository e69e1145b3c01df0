package delivery

import (
	"context"
	"net/netip"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

// The envelope stages (package filter: StageConnect, StageMail, StageRcpt) answer SMTP
// commands before any message exists: the chains there may refuse the greeting, the
// sender or one recipient with a 5xx (Reject) or 4xx (Defer) reply, which the front-end
// sends as the reply to that command (RFC 5321 4.2, 4.3.2), so a blocked sender hears it
// during the session. Other fates (Drop, Quarantine, filings) mean nothing before DATA:
// the command is accepted and the decision is logged. Internal mail (DSNs, redirects) and
// quarantine releases skip these stages, as they skip the DATA stage.

// CheckConnect runs the connect-stage chain for a client that greeted with helo from ip
// (called at EHLO/HELO; RFC 5321 4.1.1.1). A nil error accepts the client; a refusal is
// for the front-end to give (smtpserver answers every MAIL with it).
func (p *Pipeline) CheckConnect(ctx context.Context, ip netip.Addr, helo string) error {
	if p.chains.Empty(filter.StageConnect) {
		return nil
	}
	fenv := &filter.Envelope{ClientIP: ip, HELO: helo, Received: p.now()}
	return p.runEnvelope(ctx, filter.StageConnect, fenv, mail.Address{})
}

// checkMailStage runs the MAIL-stage chain on env (after CheckSender's own checks).
func (p *Pipeline) checkMailStage(ctx context.Context, env *Envelope) error {
	if env.Internal || env.noFilters || p.chains.Empty(filter.StageMail) {
		return nil
	}
	return p.runEnvelope(ctx, filter.StageMail, p.filterEnvelope(env), env.From)
}

// checkRcptStage runs the RCPT-stage chain on one recipient (after CheckRecipient's own
// checks).
func (p *Pipeline) checkRcptStage(ctx context.Context, env *Envelope, rcpt mail.Address) error {
	if env.Internal || env.noFilters || p.chains.Empty(filter.StageRcpt) {
		return nil
	}
	return p.runEnvelope(ctx, filter.StageRcpt, p.filterEnvelope(env), rcpt)
}

// runEnvelope runs one envelope stage with one recipient (the forward-path at RCPT, a
// placeholder otherwise) and turns its fate into the command's reply.
func (p *Pipeline) runEnvelope(ctx context.Context, stage filter.Stage, fenv *filter.Envelope, addr mail.Address) error {
	r := &filter.Recipient{Addr: addr, Orig: addr}
	m := p.newMail(stage, fenv, nil, []*filter.Recipient{r})
	if err := p.chains.Run(ctx, m); err != nil {
		return Temporary(err) // the session's context ended: nothing to answer for
	}
	switch f := r.Fate; f.Kind {
	case filter.Reject, filter.Defer:
		return replyError(f.Reply)
	case filter.Deliver:
		return nil
	default:
		p.log.Warn("a filter fate that means nothing before DATA; accepted", "stage", stage.String(),
			"fate", f.Kind.String(), "mailet", f.By, "rcpt", addr.String())
		return nil
	}
}
