package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"mailgrid/internal/mail"
	"mailgrid/internal/message"
	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// Bounce sends a failure DSN (RFC 3464, composed by queue.WriteDSN) to env's sender for
// the failed recipients, through the pipeline itself: a local sender gets it in the INBOX,
// a remote one through the queue. It honours RFC 3461: no DSN for the null sender
// (RFC 5321 4.5.5) or for recipients whose NOTIFY excludes FAILURE; RET=FULL returns the
// whole message (up to queue.DefaultDSNFullLimit), otherwise only its header section.
// The report is spooled (memory, then an unlinked temporary file); the original is
// streamed into it, never held whole in memory.
//
// It returns an error only for an infrastructure fault (the caller must then not claim
// the message delivered); a DSN that cannot be delivered (the sender's mailbox is unknown
// or full) is logged and dropped, as mature MTAs drop double bounces.
func (p *Pipeline) Bounce(ctx context.Context, env *Envelope, failed []Result, body store.Body) error {
	if env.From.IsZero() {
		return nil
	}
	var rcpts []queue.DSNRecipient
	for _, r := range failed {
		if r.Err != nil && wantsFailureDSN(r.Rcpt.Notify) {
			rcpts = append(rcpts, failedRecipient(r))
		}
	}
	if len(rcpts) == 0 {
		return nil
	}
	report := queue.DSNReport{
		ReportingMTA: p.host,
		To:           env.From.String(),
		Date:         p.now(),
		EnvID:        env.EnvID,
		Arrival:      env.Received,
		SMTPUTF8:     env.SMTPUTF8,
		Recipients:   rcpts,
		Original:     body,
		ReturnFull:   strings.EqualFold(env.Ret, "FULL") && body.Size() <= queue.DefaultDSNFullLimit,
	}
	sp := message.NewSpool("", dsnSpoolMemory)
	defer func() {
		if err := sp.Close(); err != nil {
			p.log.Warn("close DSN spool", "err", err)
		}
	}()
	if err := queue.WriteDSN(sp, report); err != nil {
		return Temporary(err)
	}
	return p.deliverDSN(ctx, env.From, report.UTF8(), sp)
}

// dsnSpoolMemory is how much of a DSN Bounce keeps in memory before spooling to a file.
const dsnSpoolMemory = 64 << 10

// failedRecipient is the DSN block of a recipient that failed at DATA time: Action
// failed with the error's own status, also a 4.x.x one (a full mailbox).
func failedRecipient(r Result) queue.DSNRecipient {
	e := r.Err
	status := fmt.Sprintf("%d.%d.%d", e.Enhanced[0], e.Enhanced[1], e.Enhanced[2])
	return queue.DSNRecipient{
		Addr:   r.Rcpt.Addr.String(),
		ORcpt:  r.Rcpt.ORcpt,
		Action: queue.ActionFailed,
		Status: status,
		Reply:  queue.Reply{Code: e.Code, Enhanced: status, Text: e.Message},
	}
}

// SubmitDSN delivers a DSN the outbound queue generated (it has the signature of
// queue.Submit): to a local mailbox or back into the queue, from the null sender. Like
// Bounce it fails only on infrastructure faults; an undeliverable DSN is logged and dropped.
func (p *Pipeline) SubmitDSN(ctx context.Context, env queue.Envelope, rcpt string, body store.Body) error {
	to, err := mail.Parse(rcpt)
	if err != nil {
		p.log.Warn("DSN recipient unparseable, dropped", "to", rcpt, "err", err)
		return nil
	}
	return p.deliverDSN(ctx, to, env.SMTPUTF8 || !to.IsASCII(), body)
}

func (p *Pipeline) deliverDSN(ctx context.Context, to mail.Address, utf8 bool, dsn store.Body) error {
	denv := &Envelope{
		Recipients: []Recipient{{Addr: to, Notify: []string{"NEVER"}}},
		Internal:   true,
		SMTPUTF8:   utf8,
		Received:   p.now(),
	}
	res, err := p.Deliver(ctx, denv, dsn)
	if err != nil {
		return err
	}
	if e := res[0].Err; e != nil {
		p.log.Warn("DSN undeliverable, dropped", "to", to.String(), "err", e)
	}
	return nil
}

// wantsFailureDSN applies RFC 3461 4.1: no NOTIFY means FAILURE,DELAY.
func wantsFailureDSN(notify []string) bool {
	if len(notify) == 0 {
		return true
	}
	return slices.ContainsFunc(notify, func(s string) bool { return strings.EqualFold(s, "FAILURE") })
}
