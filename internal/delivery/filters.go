package delivery

import (
	"context"
	"strings"
	"unicode"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

// filterEnvelope is env as the mailets see it.
func (p *Pipeline) filterEnvelope(env *Envelope) *filter.Envelope {
	return &filter.Envelope{From: env.From, ClientIP: env.ClientIP, HELO: env.HELO, Account: env.Account,
		Internal: env.Internal, Received: env.Received, ID: env.ID}
}

func (p *Pipeline) newMail(stage filter.Stage, fenv *filter.Envelope, msg *filter.Message, rcpts []*filter.Recipient) *filter.Mail {
	m := filter.NewMail(stage, fenv, msg, rcpts)
	m.Logger, m.Now = p.log, p.now
	return m
}

// runData runs the DATA-stage chain over every recipient (not for mail mailgrid made
// itself, nor a release). It returns one filter.Recipient per envelope recipient, or nil
// when no chain ran; an error means the delivery was cancelled.
func (p *Pipeline) runData(ctx context.Context, env *Envelope, fenv *filter.Envelope, msg *filter.Message) ([]*filter.Recipient, error) {
	if env.Internal || env.noFilters || p.chains.Empty(filter.StageData) {
		return nil, nil
	}
	rcpts := make([]*filter.Recipient, len(env.Recipients))
	for i, r := range env.Recipients {
		rcpts[i] = &filter.Recipient{Addr: r.Addr, Orig: r.Addr}
	}
	m := p.newMail(filter.StageData, fenv, msg, rcpts)
	if err := p.chains.Run(ctx, m); err != nil {
		return nil, err
	}
	if out := m.Outgoing(); len(out) > 0 {
		p.log.Warn("DATA-stage mailets generated messages; only local-stage replies are sent", "count", len(out))
	}
	return rcpts, nil
}

// applyDataFate applies a DATA-stage fate to envelope recipient i. done reports that
// the recipient needs no routing (refused, dropped or held); the error is a fault.
func (p *Pipeline) applyDataFate(ctx context.Context, env *Envelope, pl *plan, i int, f *filter.Fate, msg *filter.Message) (done bool, fault *Error) {
	r := env.Recipients[i]
	switch f.Kind {
	case filter.Reject, filter.Defer:
		pl.fail(i, replyError(f.Reply))
		return true, nil
	case filter.Drop:
		p.log.Info("dropped by filter", "rcpt", r.Addr.String(), "mailet", f.By, "reason", f.Reason, "id", env.ID)
		pl.results[i].Committed = true
		return true, nil
	case filter.Quarantine:
		held, e := p.heldFor(ctx, env, r.Addr, f)
		if e != nil {
			return true, e
		}
		pl.hold([]int{i}, held, msg)
		return true, nil
	}
	kept := !f.Cancel || len(f.Filings()) > 0
	if len(f.Redirects) > 0 {
		pl.redirects = append(pl.redirects, redirectReq{rcpts: []int{i}, by: r.Addr, to: f.Redirects, msg: msg, kept: kept})
	}
	if !kept {
		pl.results[i].Committed = true // redirected or discarded: no copy of its own
		return true, nil
	}
	return false, nil
}

// heldFor returns the quarantine entries for a DATA-stage hold of rcpt: one per local
// account it reaches (so each user and the domain admin see it), else one for the
// recipient in its tenant (the sender's for outbound mail).
func (p *Pipeline) heldFor(ctx context.Context, env *Envelope, rcpt mail.Address, f *filter.Fate) ([]filter.Held, *Error) {
	base := filter.Held{Domain: rcpt.Domain, Rcpt: rcpt, From: env.From, Reason: f.Reason, Mailet: f.By}
	local, err := p.dir.IsLocalDomain(ctx, rcpt.Domain)
	if err != nil {
		return nil, Temporary(err)
	}
	if !local {
		if env.Account != nil {
			base.Domain = env.Account.Address.Domain
		}
		return []filter.Held{base}, nil
	}
	targets, e := p.resolve(ctx, rcpt)
	if e != nil {
		if isFault(e) {
			return nil, e
		}
		return []filter.Held{base}, nil
	}
	var out []filter.Held
	for _, t := range targets {
		h := base
		if t.Account != nil {
			h.Domain, h.Account, h.Rcpt = t.Account.Address.Domain, t.Account.ID, t.Account.Address
		} else {
			h.Rcpt = t.Remote
		}
		out = append(out, h)
	}
	return out, nil
}

// holdReq is a message to quarantine for some recipients.
type holdReq struct {
	rcpts []int
	held  []filter.Held
	msg   *filter.Message
}

// hold quarantines msg for recipients rcpts with the entries held; copies of one view
// share one held body.
func (pl *plan) hold(rcpts []int, held []filter.Held, msg *filter.Message) {
	for k := range pl.holds {
		if h := &pl.holds[k]; h.msg == msg {
			h.rcpts, h.held = append(h.rcpts, rcpts...), append(h.held, held...)
			return
		}
	}
	pl.holds = append(pl.holds, holdReq{rcpts: rcpts, held: held, msg: msg})
}

// commitHolds stores the quarantined copies. Without a quarantine store they are
// deferred: a copy a filter wanted held is never delivered unchecked.
func (p *Pipeline) commitHolds(ctx context.Context, pl *plan) *Error {
	for _, h := range pl.holds {
		if p.quar == nil {
			p.log.Error("a filter quarantined a message but no quarantine is configured; deferred")
			pl.failAll(h.rcpts, replyError(filter.DeferPolicy("message held for review, try again later")))
			continue
		}
		held, err := p.quar.Hold(ctx, h.held, h.msg.Body())
		if err != nil {
			e := Temporary(err)
			pl.failAll(h.rcpts, e)
			p.log.Error("quarantine fault", "err", err)
			return e
		}
		for _, hd := range held {
			p.log.Info("quarantined", "id", hd.ID, "domain", hd.Domain, "rcpt", hd.Rcpt.String(), "reason", hd.Reason, "mailet", hd.Mailet)
		}
		pl.commitAll(h.rcpts)
	}
	return nil
}

// runLocal runs the local-stage chain once per local copy, on its own clone of the
// message, and applies each copy's fate.
func (p *Pipeline) runLocal(ctx context.Context, env *Envelope, fenv *filter.Envelope, pl *plan, msg *filter.Message) error {
	if env.noFilters || p.chains.Empty(filter.StageLocal) {
		return nil
	}
	for _, sp := range pl.shards {
		for _, c := range sp.targets {
			orig := env.Recipients[c.rcpts[0]].Addr
			rc := &filter.Recipient{Addr: c.acct.Address, Orig: orig, Fate: c.data}
			m := p.newMail(filter.StageLocal, fenv, msg.Clone(), []*filter.Recipient{rc})
			m.Account = c.acct
			if err := p.chains.Run(ctx, m); err != nil {
				return err
			}
			if m.Message.Edits() != msg.Edits() {
				c.msg = m.Message
			}
			if e := p.applyLocalFate(ctx, env, pl, c, &rc.Fate, m); e != nil {
				return e
			}
		}
	}
	return nil
}

// applyLocalFate applies the local-stage fate of copy c. The error is a fault.
func (p *Pipeline) applyLocalFate(ctx context.Context, env *Envelope, pl *plan, c *localCopy, f *filter.Fate, m *filter.Mail) *Error {
	switch f.Kind {
	case filter.Reject, filter.Defer:
		c.skip = true
		pl.failAll(c.rcpts, replyError(f.Reply))
		return nil
	case filter.Drop:
		c.skip = true
		p.log.Info("dropped by filter", "account", c.acct.Address.String(), "mailet", f.By, "reason", f.Reason, "id", env.ID)
		pl.commitAll(c.rcpts)
		return nil
	case filter.Quarantine:
		c.skip = true
		h := filter.Held{Domain: c.acct.Address.Domain, Account: c.acct.ID, Rcpt: c.acct.Address, From: env.From, Reason: f.Reason, Mailet: f.By}
		pl.hold(c.rcpts, []filter.Held{h}, m.Message) // one entry per account copy
		return nil
	}
	c.filings = f.Filings()
	if len(f.Redirects) > 0 {
		pl.redirects = append(pl.redirects, redirectReq{rcpts: c.rcpts, by: c.acct.Address, to: f.Redirects, msg: m.Message, from: c})
	}
	if len(c.filings) == 0 {
		c.skip = true // discarded, or redirected without a copy
		if len(f.Redirects) == 0 {
			p.log.Info("discarded by filter", "account", c.acct.Address.String(), "id", env.ID)
		}
		pl.commitAll(c.rcpts)
	}
	for _, o := range m.Outgoing() {
		pl.replies = append(pl.replies, replyReq{after: c, out: o})
	}
	return nil
}

// runRemote runs the remote-stage chain over the remote copies and returns the message
// to queue. Redirects and filings mean nothing there and are ignored.
func (p *Pipeline) runRemote(ctx context.Context, env *Envelope, fenv *filter.Envelope, pl *plan, msg *filter.Message) (*filter.Message, error) {
	if len(pl.remote) == 0 || env.Internal || env.noFilters || p.chains.Empty(filter.StageRemote) {
		return msg, nil
	}
	rm := msg.Clone()
	rcpts := make([]*filter.Recipient, len(pl.remote))
	for k, rc := range pl.remote {
		rcpts[k] = &filter.Recipient{Addr: rc.addr, Orig: env.Recipients[rc.rcpts[0]].Addr}
	}
	m := p.newMail(filter.StageRemote, fenv, rm, rcpts)
	if err := p.chains.Run(ctx, m); err != nil {
		return nil, err
	}
	for k, r := range rcpts {
		rc := &pl.remote[k]
		switch f := r.Fate; f.Kind {
		case filter.Reject, filter.Defer:
			rc.skip = true
			pl.failAll(rc.rcpts, replyError(f.Reply))
		case filter.Drop:
			rc.skip = true
			pl.commitAll(rc.rcpts)
		case filter.Quarantine:
			rc.skip = true
			dom := r.Addr.Domain
			if env.Account != nil {
				dom = env.Account.Address.Domain
			}
			h := filter.Held{Domain: dom, Rcpt: r.Addr, From: env.From, Reason: f.Reason, Mailet: f.By}
			pl.hold(rc.rcpts, []filter.Held{h}, rm)
		}
	}
	return rm, nil
}

// replyError turns a mailet's reply into the pipeline's error, with printable text only
// (the text crosses into the SMTP reply).
func replyError(r filter.Reply) *Error {
	text := strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return ' '
		}
		return c
	}, r.Text)
	if len(text) > 200 {
		text = strings.ToValidUTF8(text[:200], "")
	}
	if strings.TrimSpace(text) == "" {
		text = "message refused by policy"
		if r.Temporary() {
			text = "try again later"
		}
	}
	return newError(r.Code, r.Enhanced, text, nil)
}
