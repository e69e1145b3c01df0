package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"

	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// maxDiagnostic bounds the reply text quoted in a Diagnostic-Code field.
const maxDiagnostic = 900

// dsnWriter composes one RFC 3464 report: multipart/report (RFC 6522) with a
// human-readable part, a message/delivery-status part and the original message or its
// headers. With SMTPUTF8 (or any non-ASCII address) the RFC 6533 "global" types are used.
type dsnWriter struct {
	s       *Scheduler
	it      *Item
	entries []dsnEntry
	kind    dsnKind
}

// utf8 reports whether the report needs the RFC 6533 types and SMTPUTF8 transport.
func (d *dsnWriter) utf8() bool {
	if d.it.Envelope.SMTPUTF8 || !isASCII(d.it.Envelope.From) {
		return true
	}
	for _, e := range d.entries {
		if !isASCII(e.Addr) || !isASCII(e.ORcpt) {
			return true
		}
	}
	return false
}

// returnsFull reports whether the whole original message goes into the report.
func (d *dsnWriter) returnsFull() bool {
	if d.kind != dsnFinal || strings.EqualFold(d.it.Envelope.Ret, "HDRS") || d.it.Size > d.s.opt.DSNFullLimit {
		return false
	}
	for _, e := range d.entries {
		if e.action == "failed" {
			return true
		}
	}
	return false // a relay-only report returns headers
}

func (d *dsnWriter) writeTo(ctx context.Context, out io.Writer) (int64, error) {
	cw := &countWriter{w: out}
	bw := bufio.NewWriter(cw)
	mw := multipart.NewWriter(bw)
	if err := d.writeHeader(bw, mw.Boundary()); err != nil {
		return 0, err
	}
	if err := d.writeText(mw); err != nil {
		return 0, err
	}
	if err := d.writeStatus(mw); err != nil {
		return 0, err
	}
	if err := d.writeOriginal(ctx, mw); err != nil {
		return 0, err
	}
	if err := mw.Close(); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

func (d *dsnWriter) subject() string {
	if d.kind == dsnDelay {
		return "Delayed Mail (still being retried)"
	}
	for _, e := range d.entries {
		if e.action == "failed" {
			return "Undelivered Mail Returned to Sender"
		}
	}
	return "Successful Mail Delivery Report"
}

func (d *dsnWriter) writeHeader(w io.Writer, boundary string) error {
	host := d.s.opt.Hostname
	now := d.s.opt.Now()
	_, err := fmt.Fprintf(w, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"+
		"To: <%s>\r\n"+
		"Subject: %s\r\n"+
		"Date: %s\r\n"+
		"Message-ID: <%s@%s>\r\n"+
		"Auto-Submitted: auto-replied\r\n"+ // RFC 3834 5.1
		"MIME-Version: 1.0\r\n"+
		"Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n"+
		"\r\n"+
		"This is a MIME-encapsulated message.\r\n\r\n",
		host, d.it.Envelope.From, d.subject(), now.Format(time.RFC1123Z), obs.NewID(), host, boundary)
	return err
}

// writeText writes the human-readable part (RFC 6522 3: first part).
func (d *dsnWriter) writeText(mw *multipart.Writer) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	h.Set("Content-Description", "Notification")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	qp := quotedprintable.NewWriter(pw)
	if _, err := io.WriteString(qp, d.text()); err != nil {
		return err
	}
	return qp.Close()
}

func (d *dsnWriter) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "This is the mail system at host %s.\r\n\r\n", d.s.opt.Hostname)
	switch {
	case d.kind == dsnDelay:
		fmt.Fprintf(&b, "THIS IS A WARNING ONLY. YOU DO NOT NEED TO RESEND YOUR MESSAGE.\r\n\r\n"+
			"Your message could not be delivered for %s. It will be retried until %s.\r\n",
			d.s.opt.Now().Sub(d.it.Queued).Round(time.Minute), d.it.Queued.Add(d.s.opt.Lifetime).Format(time.RFC1123Z))
	case d.subject() == "Undelivered Mail Returned to Sender":
		b.WriteString("I'm sorry to have to inform you that your message could not be\r\n" +
			"delivered to one or more recipients.\r\n")
	default:
		b.WriteString("Your message was delivered to a system that does not return\r\n" +
			"delivery notifications; no further notice will be sent.\r\n")
	}
	b.WriteString("\r\n")
	for _, e := range d.entries {
		fmt.Fprintf(&b, "<%s>: %s", e.Addr, e.action)
		if e.RemoteMTA != "" {
			fmt.Fprintf(&b, ", host %s said", e.RemoteMTA)
		}
		if !e.LastReply.IsZero() {
			fmt.Fprintf(&b, ": %s", e.LastReply)
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

// writeStatus writes the machine-readable part (RFC 3464 2.2 and 2.3).
func (d *dsnWriter) writeStatus(mw *multipart.Writer) error {
	h := textproto.MIMEHeader{}
	ct := "message/delivery-status"
	if d.utf8() {
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
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", d.s.opt.Hostname)
	fmt.Fprintf(&b, "X-Mailgrid-Queue-ID: %s\r\n", d.it.ID)
	if d.it.Envelope.EnvID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", oneLine(d.it.Envelope.EnvID))
	}
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n", d.it.Queued.Format(time.RFC1123Z))
	for _, e := range d.entries {
		b.WriteString("\r\n")
		d.writeRecipient(&b, e)
	}
	_, err = io.WriteString(pw, b.String())
	return err
}

// writeRecipient writes one per-recipient block, RFC 3464 2.3.
func (d *dsnWriter) writeRecipient(b *strings.Builder, e dsnEntry) {
	if e.ORcpt != "" {
		typ, addr, ok := strings.Cut(e.ORcpt, ";")
		if ok {
			fmt.Fprintf(b, "Original-Recipient: %s; %s\r\n", strings.TrimSpace(typ), oneLine(strings.TrimSpace(addr)))
		}
	}
	typ := "rfc822"
	if !isASCII(e.Addr) {
		typ = "utf-8" // RFC 6533 3
	}
	fmt.Fprintf(b, "Final-Recipient: %s; %s\r\n", typ, oneLine(e.Addr))
	fmt.Fprintf(b, "Action: %s\r\n", e.action)
	fmt.Fprintf(b, "Status: %s\r\n", e.status)
	if e.RemoteMTA != "" {
		fmt.Fprintf(b, "Remote-MTA: dns; %s\r\n", e.RemoteMTA)
	}
	if diag := diagnostic(e.LastReply); diag != "" {
		fmt.Fprintf(b, "Diagnostic-Code: %s\r\n", diag)
	}
	if !e.LastAttempt.IsZero() {
		fmt.Fprintf(b, "Last-Attempt-Date: %s\r\n", e.LastAttempt.Format(time.RFC1123Z))
	}
	if e.action == "delayed" {
		fmt.Fprintf(b, "Will-Retry-Until: %s\r\n", d.it.Queued.Add(d.s.opt.Lifetime).Format(time.RFC1123Z))
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

// writeOriginal writes the original message (message/rfc822) or its header
// (text/rfc822-headers, RFC 6522 and RFC 3462) as the third part.
func (d *dsnWriter) writeOriginal(ctx context.Context, mw *multipart.Writer) (err error) {
	body, err := d.s.q.OpenBody(ctx, d.it.ID)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, body.Close()) }()
	full := d.returnsFull()
	ct := "text/rfc822-headers"
	switch {
	case full && d.utf8():
		ct = "message/global" // RFC 6533 3
	case full:
		ct = "message/rfc822"
	case d.utf8():
		ct = "message/global-headers" // RFC 6533 5
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", ct)
	h.Set("Content-Description", "Undelivered message")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if full {
		_, err = io.Copy(pw, bodyReader(body))
		return err
	}
	return copyHeader(pw, body)
}

// copyHeader copies the header section of a message (up to, not including, the empty line).
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

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
