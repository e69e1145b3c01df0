package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"mailgrid/internal/mail"
	"mailgrid/internal/message"
	"mailgrid/internal/queue"
	"mailgrid/internal/store"
)

// Bounce sends a failure DSN (RFC 3464, multipart/report RFC 6522) to env's sender for the
// failed recipients, through the pipeline itself: a local sender gets it in the INBOX, a
// remote one through the queue. It honours RFC 3461: no DSN for the null sender (RFC 5321
// 4.5.5) or for recipients whose NOTIFY excludes FAILURE; RET=FULL returns the whole
// message, otherwise only its header (text/rfc822-headers). UTF-8 envelopes get the
// RFC 6533 global types. The body is referenced, not copied.
//
// It returns an error only for an infrastructure fault (the caller must then not claim
// the message delivered); a DSN that cannot be delivered (the sender's mailbox is unknown
// or full) is logged and dropped, as mature MTAs drop double bounces.
func (p *Pipeline) Bounce(ctx context.Context, env *Envelope, failed []Result, body store.Body) error {
	if env.From.IsZero() {
		return nil
	}
	var notify []Result
	for _, r := range failed {
		if r.Err != nil && wantsFailureDSN(r.Rcpt.Notify) {
			notify = append(notify, r)
		}
	}
	if len(notify) == 0 {
		return nil
	}
	dsn, err := p.composeDSN(env, notify, body)
	if err != nil {
		return Temporary(err)
	}
	return p.deliverDSN(ctx, env.From, env.SMTPUTF8 || !env.From.IsASCII(), dsn)
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

func (p *Pipeline) composeDSN(env *Envelope, failed []Result, body store.Body) (store.Body, error) {
	utf8 := env.SMTPUTF8 || !env.From.IsASCII()
	for _, r := range failed {
		utf8 = utf8 || !r.Rcpt.Addr.IsASCII()
	}
	var rb [12]byte
	_, _ = rand.Read(rb[:]) // never fails (Go 1.24+)
	boundary := "dsn=" + hex.EncodeToString(rb[:])
	now := p.now()

	var h strings.Builder
	fmt.Fprintf(&h, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", p.host)
	fmt.Fprintf(&h, "To: <%s>\r\n", env.From.String())
	h.WriteString("Subject: Undelivered Mail Returned to Sender\r\n")
	fmt.Fprintf(&h, "Date: %s\r\nMessage-ID: %s\r\n", message.FormatDate(now), message.NewMessageID(p.host))
	h.WriteString("Auto-Submitted: auto-replied\r\n") // RFC 3834 5
	h.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&h, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=%q\r\n\r\n", boundary)
	fmt.Fprintf(&h, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", boundary)
	fmt.Fprintf(&h, "This is the mail system at host %s.\r\n\r\n", p.host)
	h.WriteString("Your message could not be delivered to the following recipients:\r\n\r\n")
	for _, r := range failed {
		fmt.Fprintf(&h, "<%s>: %s\r\n", r.Rcpt.Addr.String(), reply(r.Err))
	}
	statusType, origType := "message/delivery-status", "text/rfc822-headers"
	if utf8 {
		statusType, origType = "message/global-delivery-status", "message/global-headers" // RFC 6533 6
	}
	fmt.Fprintf(&h, "\r\n--%s\r\nContent-Type: %s\r\n\r\n", boundary, statusType)
	p.writeStatus(&h, env, failed)

	orig := body
	if strings.EqualFold(env.Ret, "FULL") {
		origType = "message/rfc822"
		if utf8 {
			origType = "message/global"
		}
	} else {
		end, err := HeaderEnd(body)
		if err != nil {
			return nil, err
		}
		orig = Section(body, 0, end)
	}
	fmt.Fprintf(&h, "--%s\r\nContent-Type: %s\r\n\r\n", boundary, origType)
	tail := "\r\n--" + boundary + "--\r\n"
	return Concat(Bytes(h.String()), orig, Bytes(tail)), nil
}

// writeStatus writes the message/delivery-status fields (RFC 3464 2.2 and 2.3).
func (p *Pipeline) writeStatus(h *strings.Builder, env *Envelope, failed []Result) {
	fmt.Fprintf(h, "Reporting-MTA: dns; %s\r\n", p.host)
	if env.EnvID != "" {
		fmt.Fprintf(h, "Original-Envelope-Id: %s\r\n", env.EnvID)
	}
	if !env.Received.IsZero() {
		fmt.Fprintf(h, "Arrival-Date: %s\r\n", message.FormatDate(env.Received))
	}
	for _, r := range failed {
		h.WriteString("\r\n")
		if r.Rcpt.ORcpt != "" {
			fmt.Fprintf(h, "Original-Recipient: %s\r\n", r.Rcpt.ORcpt)
		}
		typ := "rfc822"
		if !r.Rcpt.Addr.IsASCII() {
			typ = "utf-8"
		}
		fmt.Fprintf(h, "Final-Recipient: %s; %s\r\n", typ, r.Rcpt.Addr.String())
		h.WriteString("Action: failed\r\n")
		e := r.Err.Enhanced
		fmt.Fprintf(h, "Status: %d.%d.%d\r\n", e[0], e[1], e[2])
		fmt.Fprintf(h, "Diagnostic-Code: smtp; %s\r\n", reply(r.Err))
	}
	h.WriteString("\r\n")
}

// reply formats an error as its SMTP reply line.
func reply(e *Error) string {
	return fmt.Sprintf("%d %d.%d.%d %s", e.Code, e.Enhanced[0], e.Enhanced[1], e.Enhanced[2], e.Message)
}
