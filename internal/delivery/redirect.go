package delivery

import (
	"context"
	"errors"
	"strings"

	"mailgrid/internal/filter"
	"mailgrid/internal/mail"
)

// MaxRedirectHops bounds how many times mailgrid sends one message on (a redirect of a
// redirect ...), beside the Delivered-To check: a loop ends there with 554 5.4.6.
const MaxRedirectHops = 8

// redirectReq is a copy to send on after the commit (Sieve redirect, a forward rule).
type redirectReq struct {
	rcpts []int        // the envelope recipients it serves
	by    mail.Address // who redirects: the account, or the envelope recipient at DATA
	to    []mail.Address
	msg   *filter.Message
	from  *localCopy // the local copy it came from; nil at the DATA stage
	kept  bool       // DATA stage: the recipient also keeps copies of its own
}

// replyReq is a message a local-stage mailet generated (an auto-reply), sent once its
// copy is committed.
type replyReq struct {
	after *localCopy
	out   filter.Outgoing
}

// afterCommit sends the redirects and auto-replies of committed copies. A fault while
// redirecting is a fault of the delivery (the copy would be lost otherwise); a failed
// auto-reply is only logged.
func (p *Pipeline) afterCommit(ctx context.Context, env *Envelope, pl *plan) error {
	for _, r := range pl.redirects {
		if e := p.redirect(ctx, env, pl, r); e != nil {
			return e
		}
	}
	for _, r := range pl.replies {
		if !r.after.stored {
			continue
		}
		renv := &Envelope{From: r.out.From, Recipients: []Recipient{{Addr: r.out.To, Notify: []string{"NEVER"}}},
			Internal: true, SMTPUTF8: !r.out.To.IsASCII() || !r.out.From.IsASCII(), Received: p.now(), hops: env.hops + 1}
		res, err := p.Deliver(ctx, renv, r.out.Body)
		if err == nil && res[0].Err != nil {
			err = res[0].Err
		}
		if err != nil {
			p.log.Warn("auto-reply not sent", "to", r.out.To.String(), "err", err)
		}
	}
	return nil
}

// redirect sends one redirect on, with Delivered-To naming who redirected it (as
// Postfix's local(8) does) so that a loop is detected when it comes back.
func (p *Pipeline) redirect(ctx context.Context, env *Envelope, pl *plan, r redirectReq) error {
	loop, err := seenDeliveredTo(r.msg, r.by)
	if err != nil {
		return p.redirectFailed(pl, r, Temporary(err))
	}
	if loop || env.hops >= MaxRedirectHops {
		p.log.Warn("mail forwarding loop, redirect not sent", "by", r.by.String(), "hops", env.hops)
		return p.redirectFailed(pl, r, errLoop())
	}
	orcpt := pl.results[r.rcpts[0]].Rcpt
	from, err := p.srsFrom(ctx, env.From, r.by.Domain) // srs.go
	if err != nil {
		return p.redirectFailed(pl, r, Temporary(err))
	}
	renv := &Envelope{From: from, Internal: true, SMTPUTF8: env.SMTPUTF8, Received: env.Received,
		EnvID: env.EnvID, Ret: env.Ret, ID: env.ID, hops: env.hops + 1}
	for _, to := range r.to {
		renv.Recipients = append(renv.Recipients, Recipient{Addr: to, Notify: orcpt.Notify, ORcpt: orcptOf(orcpt.Addr)})
		renv.SMTPUTF8 = renv.SMTPUTF8 || !to.IsASCII()
	}
	res, err := p.Deliver(ctx, renv, Prepend(deliveredTo(r.by), r.msg.Body()))
	if err != nil {
		return p.redirectFailed(pl, r, AsError(err))
	}
	for _, rr := range res {
		if rr.Err != nil {
			p.log.Warn("redirect failed", "by", r.by.String(), "to", rr.Rcpt.Addr.String(), "err", rr.Err)
			if rr.Committed {
				continue
			}
			if e := p.redirectFailed(pl, r, rr.Err); e != nil {
				return e
			}
		}
	}
	return nil
}

// redirectFailed records a redirect failure for the recipients it served. A recipient
// that kept a copy of its own is still delivered; one that had only the redirect gets
// the failure (a bounce, or the reply if nothing was committed). A fault is returned.
func (p *Pipeline) redirectFailed(pl *plan, r redirectReq, e *Error) error {
	if r.kept || r.from != nil && r.from.stored {
		return faultOrNil(e)
	}
	for _, i := range r.rcpts {
		pl.results[i].Committed = false
		pl.fail(i, e)
	}
	return faultOrNil(e)
}

func faultOrNil(e *Error) error {
	if isFault(e) {
		return e
	}
	return nil
}

// seenDeliveredTo reports whether msg already carries Delivered-To for addr.
func seenDeliveredTo(msg *filter.Message, addr mail.Address) (bool, error) {
	vals, err := msg.Header("Delivered-To")
	if err != nil {
		return false, err
	}
	for _, v := range vals {
		if a, err := mail.Parse(strings.Trim(v, "<> ")); err == nil && a.Key() == addr.Key() {
			return true, nil
		}
	}
	return false, nil
}

// errLoop: RFC 3463 5.4.6 routing loop detected.
func errLoop() *Error {
	return newError(554, [3]int{5, 4, 6}, "mail forwarding loop", nil)
}

// Release delivers a quarantined copy to its recipient, past the filter chains (the
// administrator has decided), then deletes it from the quarantine. A copy the store or
// queue refuses (the mailbox is full) stays held and the reply says why.
func (p *Pipeline) Release(ctx context.Context, domain string, id int64) error {
	if p.quar == nil {
		return errors.New("delivery: no quarantine configured")
	}
	h, err := p.quar.Get(ctx, domain, id)
	if err != nil {
		return err
	}
	b, err := p.quar.Open(ctx, domain, id)
	if err != nil {
		return err
	}
	defer func() {
		if err := b.Close(); err != nil {
			p.log.Warn("close held message", "id", id, "err", err)
		}
	}()
	env := &Envelope{From: h.From, Recipients: []Recipient{{Addr: h.Rcpt}}, Internal: true,
		SMTPUTF8: !h.From.IsASCII() || !h.Rcpt.IsASCII(), Received: p.now(), noFilters: true}
	res, err := p.Deliver(ctx, env, b)
	if err != nil {
		return err
	}
	if res[0].Err != nil {
		return res[0].Err
	}
	p.log.Info("released from quarantine", "id", id, "domain", domain, "rcpt", h.Rcpt.String())
	return p.quar.Delete(ctx, domain, id)
}
