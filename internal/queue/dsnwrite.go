package queue

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// maxDiagnostic bounds the reply text quoted in a Diagnostic-Code field.
const maxDiagnostic = 900

// Actions of a per-recipient DSN block that mailgrid reports (RFC 3464 2.3.3).
const (
	ActionFailed  = "failed"
	ActionDelayed = "delayed"
	ActionRelayed = "relayed"
)

// DSNReport is one delivery status notification (RFC 3464) for WriteDSN. The caller
// applies the RFC 3461 policy (whether a DSN is owed, to whom, for which recipients,
// RET); the report only says what to write. The queue's scheduler (failed, expired,
// relayed and delayed recipients) and the delivery pipeline (local failures after a
// partial commit) both compose through it.
type DSNReport struct {
	ReportingMTA string    // this host: Reporting-MTA (RFC 3464 2.2.2), From: MAILER-DAEMON@
	To           string    // the envelope sender the report goes to (To:)
	Date         time.Time // when the report is written (Date:)
	EnvID        string    // RFC 3461 4.4 ENVID: Original-Envelope-Id; "" omits it
	QueueID      string    // X-Mailgrid-Queue-ID (an RFC 3464 extension field); "" omits it
	Arrival      time.Time // Arrival-Date (RFC 3464 2.2.5); zero omits it
	// RetryUntil is the end of the queue lifetime: Will-Retry-Until (RFC 3464 2.3.9) of
	// delayed recipients. A report with delayed recipients needs it and Arrival.
	RetryUntil time.Time
	SMTPUTF8   bool // the original transaction used SMTPUTF8 (RFC 6531); see UTF8
	Recipients []DSNRecipient
	// Original is the message reported on, streamed into the third part (RFC 6522 3);
	// nil omits that part. ReturnFull returns it whole (RFC 3461 4.3 RET=FULL), else
	// only its header section.
	Original   store.Body
	ReturnFull bool
}

// DSNRecipient is one per-recipient block (RFC 3464 2.3).
type DSNRecipient struct {
	Addr string // Final-Recipient (RFC 3464 2.3.2), ASCII or UTF-8 (RFC 6533 3)
	// ORcpt is the RFC 3461 4.2 ORCPT, "addr-type;address", written as given as the
	// Original-Recipient (RFC 3464 2.3.1); "" or a value without ";" omits it.
	ORcpt       string
	Action      string    // RFC 3464 2.3.3, one of the Action constants
	Status      string    // RFC 3463 status (RFC 3464 2.3.4), e.g. "5.1.1"
	RemoteMTA   string    // host that gave Reply: Remote-MTA (RFC 3464 2.3.5); "" omits it
	Reply       Reply     // the reply behind Status: Diagnostic-Code (RFC 3464 2.3.6)
	LastAttempt time.Time // Last-Attempt-Date (RFC 3464 2.3.7); zero omits it
}

// UTF8 reports whether the report needs the RFC 6533 "global" types and an SMTPUTF8
// transaction: the original used SMTPUTF8, or an address in it is not ASCII.
func (r *DSNReport) UTF8() bool {
	if r.SMTPUTF8 || !isASCII(r.To) {
		return true
	}
	return slices.ContainsFunc(r.Recipients, func(e DSNRecipient) bool {
		return !isASCII(e.Addr) || !isASCII(e.ORcpt)
	})
}

// WriteDSN writes r as one RFC 3464 report: multipart/report (RFC 6522) with a
// human-readable part, a message/delivery-status part and the original message or its
// header section; with r.UTF8() the RFC 6533 types. The original is streamed from
// r.Original, never held in memory. Values from the envelope are written on one line
// each, so they cannot inject fields.
func WriteDSN(w io.Writer, r DSNReport) error {
	bw := bufio.NewWriter(w)
	mw := multipart.NewWriter(bw)
	if err := r.writeHeader(bw, mw.Boundary()); err != nil {
		return err
	}
	if err := r.writeText(mw); err != nil {
		return err
	}
	if err := r.writeStatus(mw); err != nil {
		return err
	}
	if err := r.writeOriginal(mw); err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// has reports whether some recipient has the action.
func (r *DSNReport) has(action string) bool {
	return slices.ContainsFunc(r.Recipients, func(e DSNRecipient) bool { return e.Action == action })
}

func (r *DSNReport) subject() string {
	switch {
	case r.has(ActionFailed):
		return "Undelivered Mail Returned to Sender"
	case r.has(ActionDelayed):
		return "Delayed Mail (still being retried)"
	}
	return "Successful Mail Delivery Report"
}

func (r *DSNReport) writeHeader(w io.Writer, boundary string) error {
	host := oneLine(r.ReportingMTA)
	_, err := fmt.Fprintf(w, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"+
		"To: <%s>\r\n"+
		"Subject: %s\r\n"+
		"Date: %s\r\n"+
		"Message-ID: %s\r\n"+
		"Auto-Submitted: auto-replied\r\n"+ // RFC 3834 5.1
		"MIME-Version: 1.0\r\n"+
		"Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n"+
		"\r\n"+
		"This is a MIME-encapsulated message.\r\n\r\n",
		host, oneLine(r.To), r.subject(), message.FormatDate(r.Date), message.NewMessageID(host), boundary)
	return err
}

// writeText writes the human-readable part (RFC 6522 3: first part), quoted-printable so
// UTF-8 addresses and long replies travel over any transport.
func (r *DSNReport) writeText(mw *multipart.Writer) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	h.Set("Content-Description", "Notification")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	qp := quotedprintable.NewWriter(pw)
	if _, err := io.WriteString(qp, r.text()); err != nil {
		return err
	}
	return qp.Close()
}

func (r *DSNReport) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "This is the mail system at host %s.\r\n\r\n", r.ReportingMTA)
	switch {
	case r.has(ActionFailed):
		b.WriteString("I'm sorry to have to inform you that your message could not be\r\n" +
			"delivered to one or more recipients.\r\n")
	case r.has(ActionDelayed):
		fmt.Fprintf(&b, "THIS IS A WARNING ONLY. YOU DO NOT NEED TO RESEND YOUR MESSAGE.\r\n\r\n"+
			"Your message could not be delivered for %s. It will be retried until %s.\r\n",
			r.Date.Sub(r.Arrival).Round(time.Minute), message.FormatDate(r.RetryUntil))
	default: // relayed
		b.WriteString("Your message was delivered to a system that does not return\r\n" +
			"delivery notifications; no further notice will be sent.\r\n")
	}
	b.WriteString("\r\n")
	for _, e := range r.Recipients {
		fmt.Fprintf(&b, "<%s>: %s", oneLine(e.Addr), e.Action)
		if e.RemoteMTA != "" {
			fmt.Fprintf(&b, ", host %s said", oneLine(e.RemoteMTA))
		}
		if !e.Reply.IsZero() {
			fmt.Fprintf(&b, ": %s", oneLine(e.Reply.String()))
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

// writeStatus writes the machine-readable part (RFC 3464 2.1: the per-message fields,
// then one block per recipient, separated by empty lines).
func (r *DSNReport) writeStatus(mw *multipart.Writer) error {
	h := textproto.MIMEHeader{}
	ct := "message/delivery-status"
	if r.UTF8() {
		ct = "message/global-delivery-status" // RFC 6533 6.1
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Description", "Delivery report")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	var b strings.Builder
	// Per-message fields, RFC 3464 2.2.
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", oneLine(r.ReportingMTA))
	if r.QueueID != "" {
		fmt.Fprintf(&b, "X-Mailgrid-Queue-ID: %s\r\n", oneLine(r.QueueID))
	}
	if r.EnvID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", oneLine(r.EnvID))
	}
	if !r.Arrival.IsZero() {
		fmt.Fprintf(&b, "Arrival-Date: %s\r\n", message.FormatDate(r.Arrival))
	}
	for _, e := range r.Recipients {
		b.WriteString("\r\n")
		r.writeRecipient(&b, e)
	}
	_, err = io.WriteString(pw, b.String())
	return err
}

// writeRecipient writes one per-recipient block, RFC 3464 2.3.
func (r *DSNReport) writeRecipient(b *strings.Builder, e DSNRecipient) {
	if orcpt := strings.TrimSpace(e.ORcpt); strings.Contains(orcpt, ";") {
		fmt.Fprintf(b, "Original-Recipient: %s\r\n", oneLine(orcpt))
	}
	typ := "rfc822"
	if !isASCII(e.Addr) {
		typ = "utf-8" // RFC 6533 3
	}
	fmt.Fprintf(b, "Final-Recipient: %s; %s\r\n", typ, oneLine(e.Addr))
	fmt.Fprintf(b, "Action: %s\r\n", e.Action)
	fmt.Fprintf(b, "Status: %s\r\n", e.Status)
	if e.RemoteMTA != "" {
		fmt.Fprintf(b, "Remote-MTA: dns; %s\r\n", oneLine(e.RemoteMTA))
	}
	if diag := diagnostic(e.Reply); diag != "" {
		fmt.Fprintf(b, "Diagnostic-Code: %s\r\n", diag)
	}
	if !e.LastAttempt.IsZero() {
		fmt.Fprintf(b, "Last-Attempt-Date: %s\r\n", message.FormatDate(e.LastAttempt))
	}
	if e.Action == ActionDelayed && !r.RetryUntil.IsZero() {
		fmt.Fprintf(b, "Will-Retry-Until: %s\r\n", message.FormatDate(r.RetryUntil))
	}
}

// diagnostic formats RFC 3464 2.3.6 Diagnostic-Code: "smtp; <reply>" when a server
// replied, an X-type with our own text otherwise.
func diagnostic(r Reply) string {
	var s string
	switch {
	case r.Code != 0:
		s = "smtp; " + r.String()
	case r.Text != "":
		s = "X-mailgrid; " + r.Text
	default:
		return ""
	}
	s = oneLine(s)
	if len(s) > maxDiagnostic {
		s = s[:maxDiagnostic]
	}
	return s
}

// writeOriginal writes the original message (message/rfc822) or its header section
// (text/rfc822-headers, RFC 6522 and RFC 3462) as the third part.
func (r *DSNReport) writeOriginal(mw *multipart.Writer) error {
	if r.Original == nil {
		return nil // the third part is optional (RFC 6522 3)
	}
	utf8 := r.UTF8()
	ct := "text/rfc822-headers"
	switch {
	case r.ReturnFull && utf8:
		ct = "message/global" // RFC 6533 3
	case r.ReturnFull:
		ct = "message/rfc822"
	case utf8:
		ct = "message/global-headers" // RFC 6533 5
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", ct)
	h.Set("Content-Description", "Undelivered message")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if r.ReturnFull {
		_, err = io.Copy(pw, bodyReader(r.Original))
		return err
	}
	return copyHeader(pw, r.Original)
}

// copyHeader copies the header section of a message (up to, not including, the empty
// line), line by line through a small buffer.
func copyHeader(w io.Writer, body store.Body) error {
	br := bufio.NewReader(bodyReader(body))
	midLine := false // the previous read ended inside an overlong line
	for {
		line, err := br.ReadSlice('\n')
		if !midLine && len(line) > 0 && strings.TrimRight(string(line), "\r\n") == "" {
			return nil
		}
		if _, werr := w.Write(line); werr != nil {
			return werr
		}
		midLine = errors.Is(err, bufio.ErrBufferFull)
		switch {
		case err == nil, midLine:
		case errors.Is(err, io.EOF):
			return nil
		default:
			return err
		}
	}
}

// oneLine removes line breaks so a value cannot inject fields.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
