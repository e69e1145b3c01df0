package web

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode"

	"mailgrid/internal/message"
)

// Composing the messages the webmail sends and saves (RFC 5322 with MIME, RFC 2045-2049):
// a text/plain UTF-8 body in quoted-printable (or, for rich text, a multipart/alternative of
// it and the HTML, mail_richtext.go), alone or first in a multipart/mixed with
// the attachments (base64, RFC 2231 file names through mime.FormatMediaType) and a
// forwarded message as message/rfc822 (RFC 2046 5.2.1: 7bit or 8bit, never encoded).
// Every header value has been checked for CR and LF by the caller (header injection);
// message.AppendField replaces any that remained and folds long lines.

// outgoing is a message to compose.
type outgoing struct {
	From        *netmail.Address
	To, Cc, Bcc []*netmail.Address
	Subject     string
	InReplyTo   string // "<id>" or ""
	References  string // "<a> <b>" or ""
	Text        string
	HTML        string // sanitised HTML of a rich-text body (mail_richtext.go); "" plain only
	Attachments []outPart
	Date        time.Time
	MessageID   string // "<id@host>"
	KeepBcc     bool   // drafts keep Bcc; sent mail never shows it (RFC 5322 3.6.3)
}

// outPart is one attachment: a file, or (Message set) a forwarded message.
type outPart struct {
	Name    string
	Type    string // media type without parameters
	Data    []byte
	Message bool
}

// addrList formats addresses for a header (names RFC 2047 encoded by net/mail).
func addrList(list []*netmail.Address) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = fmtAddr(a)
	}
	return strings.Join(parts, ", ")
}

// fmtAddr is one address: "Name" <a@b>, or a@b without a name.
func fmtAddr(a *netmail.Address) string {
	s := a.String()
	if a.Name == "" {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	}
	return s
}

// bytes composes the message.
func (o *outgoing) bytes() ([]byte, error) {
	var h []byte
	h = message.AppendField(h, "Date", message.FormatDate(o.Date))
	h = message.AppendField(h, "From", fmtAddr(o.From))
	if len(o.To) > 0 {
		h = message.AppendField(h, "To", addrList(o.To))
	}
	if len(o.Cc) > 0 {
		h = message.AppendField(h, "Cc", addrList(o.Cc))
	}
	if o.KeepBcc && len(o.Bcc) > 0 {
		h = message.AppendField(h, "Bcc", addrList(o.Bcc))
	}
	if o.Subject != "" {
		h = message.AppendField(h, "Subject", mime.QEncoding.Encode("utf-8", o.Subject))
	}
	h = message.AppendField(h, "Message-ID", o.MessageID)
	if o.InReplyTo != "" {
		h = message.AppendField(h, "In-Reply-To", o.InReplyTo)
	}
	if o.References != "" {
		h = message.AppendField(h, "References", o.References)
	}
	h = message.AppendField(h, "MIME-Version", "1.0")
	var buf bytes.Buffer
	buf.Write(h)
	if len(o.Attachments) == 0 && o.HTML != "" {
		if err := o.writeAlternativeTop(&buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	if len(o.Attachments) == 0 {
		buf.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		if err := writeQP(&buf, o.Text); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fmt.Fprintf(&buf, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n", mw.Boundary())
	buf.WriteString("This is a multi-part message in MIME format.\r\n")
	if err := o.writeTextPart(mw); err != nil {
		return nil, err
	}
	for _, a := range o.Attachments {
		if err := writeAttachment(mw, a); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	buf.Write(body.Bytes())
	return buf.Bytes(), nil
}

// writeTextPart writes the body as the first part of a multipart/mixed: text/plain, or
// a rich body's multipart/alternative (mail_richtext.go).
func (o *outgoing) writeTextPart(mw *multipart.Writer) error {
	if o.HTML != "" {
		return o.writeAlternativePart(mw)
	}
	tw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return err
	}
	return writeQP(tw, o.Text)
}

func writeQP(w io.Writer, text string) error {
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	qp := quotedprintable.NewWriter(w) // text mode: line breaks become CRLF
	if _, err := io.WriteString(qp, text); err != nil {
		return err
	}
	if err := qp.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\r\n")
	return err
}

func writeAttachment(mw *multipart.Writer, a outPart) error {
	name := safeFilename(a.Name)
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if a.Message {
		enc := "7bit"
		if bytes.ContainsFunc(a.Data, func(r rune) bool { return r > unicode.MaxASCII }) {
			enc = "8bit"
		}
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type": {"message/rfc822"}, "Content-Disposition": {disp}, "Content-Transfer-Encoding": {enc},
		})
		if err != nil {
			return err
		}
		_, err = w.Write(a.Data)
		return err
	}
	ctype := a.Type
	if mt, _, err := mime.ParseMediaType(ctype); err == nil && strings.Count(mt, "/") == 1 {
		ctype = mime.FormatMediaType(mt, map[string]string{"name": name})
	} else {
		ctype = mime.FormatMediaType("application/octet-stream", map[string]string{"name": name})
	}
	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type": {ctype}, "Content-Disposition": {disp}, "Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return err
	}
	enc := base64.StdEncoding
	const line = 76 // RFC 2045 6.8
	raw := a.Data
	chunk := make([]byte, enc.EncodedLen(line/4*3))
	for len(raw) > 0 {
		n := min(len(raw), line/4*3)
		enc.Encode(chunk, raw[:n])
		if _, err := w.Write(chunk[:enc.EncodedLen(n)]); err != nil {
			return err
		}
		if _, err := w.Write([]byte("\r\n")); err != nil {
			return err
		}
		raw = raw[n:]
	}
	return nil
}
