package smtpserver

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	netmail "net/mail"
	"strings"

	"github.com/emersion/go-smtp"

	"mailgrid/internal/delivery"
	"mailgrid/internal/mail"
	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// maxTextLine is RFC 5321 4.5.3.1.6: 1000 octets including CRLF.
const maxTextLine = 998

var (
	errBareCR   = errors.New("bare CR")
	errBareLF   = errors.New("bare LF")
	errLongLine = errors.New("line too long")

	replyBareNewline = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Bare CR or LF in message content is not accepted (RFC 5321 2.3.8; SMTP smuggling protection)"}
	replyLongLine    = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message has a line longer than 1000 octets (RFC 5321 4.5.3.1.6)"}
	replyNoFrom      = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message has no valid From: header field (RFC 5322 3.6.2)"}
	replyNoRcpt      = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
)

// checker passes message content through, refusing bare CR and bare LF anywhere (SMTP
// smuggling: a lone LF or CR around a "." must never end or split a message, RFC 5321
// 2.3.8 and 4.1.1.4) and text lines over 998 octets plus CRLF. go-smtp has already removed
// dot-stuffing and the terminating "<CRLF>.<CRLF>".
type checker struct {
	r      io.Reader
	prevCR bool
	line   int
	err    error // the content error, if any
}

func (c *checker) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	for i := 0; i < n; i++ {
		b := p[i]
		switch {
		case c.prevCR && b != '\n':
			c.err = errBareCR
		case b == '\n' && !c.prevCR:
			c.err = errBareLF
		case b == '\n':
			c.line = 0
		case b != '\r':
			c.line++
			if c.line > maxTextLine {
				c.err = errLongLine
			}
		}
		if c.err != nil {
			return i, c.err
		}
		c.prevCR = b == '\r'
	}
	if err == io.EOF && c.prevCR {
		c.err = errBareCR
		return n, c.err
	}
	return n, err
}

// Data implements smtp.Session for DATA and BDAT (RFC 5321 4.1.1.4, RFC 3030): receive
// into a spool, edit the header on submission, prepend Received, deliver. It returns
// only after the pipeline committed every copy (or failed).
func (sess *session) Data(r io.Reader) error {
	if sess.env == nil || len(sess.env.Recipients) == 0 {
		return sess.fail(replyNoRcpt)
	}
	id := newID()
	log := sess.log.With("id", id)
	sp := message.NewSpool(sess.srv.opt.SpoolDir, sess.srv.opt.SpoolMemory)
	defer func() {
		if err := sp.Close(); err != nil {
			log.Warn("close spool", "err", err)
		}
	}()
	ck := &checker{r: r}
	if _, err := io.Copy(sp, ck); err != nil {
		return sess.fail(sess.receiveError(log, ck, err))
	}
	msg, saveSent, rerr := sess.prepare(sp)
	if rerr != nil {
		return sess.fail(rerr)
	}
	return sess.deliver(log, id, msg, saveSent)
}

// receiveError maps a failure while receiving content to its reply.
func (sess *session) receiveError(log *slog.Logger, ck *checker, err error) error {
	switch {
	case errors.Is(ck.err, errLongLine):
		log.Info("rejected: line too long")
		return replyLongLine
	case ck.err != nil:
		log.Info("rejected: bare CR/LF", "err", ck.err)
		return replyBareNewline
	case errors.Is(err, smtp.ErrTooLongLine):
		return replyLongLine
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) { // ErrDataTooLarge: 552 5.3.4
		return se
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, smtp.ErrDataReset) {
		log.Info("message transfer aborted", "err", err)
		return err
	}
	return toSMTP(delivery.Temporary(err)) // spool write failed
}

// prepare returns the message to deliver. MX: as received. Submission: the From: header
// is checked against the account (550 5.7.1), Message-ID and Date are added when missing
// (RFC 6409 8.2, 8.3), X-Mailgrid-Save-Sent is removed; the body is never copied.
func (sess *session) prepare(sp store.Body) (store.Body, bool, error) {
	if sess.srv.opt.Mode != ModeSubmission {
		return sp, false, nil
	}
	end, err := delivery.HeaderEnd(sp)
	if err != nil {
		return nil, false, toSMTP(delivery.Temporary(err))
	}
	h, err := scanHeader(sp, end)
	if err != nil {
		return nil, false, toSMTP(delivery.Temporary(err))
	}
	if err := sess.checkFrom(h.from); err != nil {
		return nil, false, err
	}
	var add []byte
	if !h.messageID {
		add = message.AppendField(add, "Message-ID", message.NewMessageID(sess.srv.opt.Hostname))
	}
	if !h.date {
		add = message.AppendField(add, "Date", message.FormatDate(sess.srv.opt.Now()))
	}
	parts := []store.Body{delivery.Bytes(add)}
	var pos int64
	for _, d := range h.drop {
		parts = append(parts, delivery.Section(sp, pos, d[0]-pos))
		pos = d[1]
	}
	parts = append(parts, delivery.Section(sp, pos, sp.Size()-pos))
	return delivery.Concat(parts...), strings.EqualFold(h.saveSent, "yes"), nil
}

// checkFrom applies the SendAs rule to every address of every From: field.
func (sess *session) checkFrom(values []string) error {
	if len(values) == 0 {
		return replyNoFrom
	}
	p := netmail.AddressParser{WordDecoder: &mime.WordDecoder{}}
	for _, v := range values {
		list, err := p.ParseList(v)
		if err != nil || len(list) == 0 {
			return replyNoFrom
		}
		for _, a := range list {
			addr, err := mail.Parse(a.Address)
			if err != nil {
				return replyNoFrom
			}
			if err := sess.srv.opt.Pipeline.CheckSendAs(sess.ctx(), *sess.acct, addr); err != nil {
				return sess.reply(err, "DATA From:", addr.String())
			}
		}
	}
	return nil
}

// deliver prepends Received, commits through the pipeline and turns the outcome into the
// DATA reply. The Sent copy, when asked for, is committed first: a fault there fails the
// whole submission before any recipient has a copy; a full Sent mailbox does not stop it.
func (sess *session) deliver(log *slog.Logger, id string, msg store.Body, saveSent bool) error {
	ctx, env, p := sess.ctx(), sess.env, sess.srv.opt.Pipeline
	if saveSent && sess.acct != nil {
		if err := p.SaveSent(ctx, *sess.acct, msg); err != nil {
			e := delivery.AsError(err)
			if e.Code == 451 {
				return sess.fail(sess.reply(e, "DATA", "Sent copy"))
			}
			log.Warn("Sent copy not saved", "reason", e.Message)
		}
	}
	full := delivery.Prepend(sess.received(id), msg)
	env.ID = id
	results, err := p.Deliver(ctx, env, full)
	reply, bounce := delivery.Outcome(results, err)
	if reply == nil && len(bounce) > 0 {
		if err := p.Bounce(ctx, env, bounce, full); err != nil {
			reply = delivery.AsError(err)
		} else {
			log.Info("partial delivery, DSN sent", "failed", len(bounce))
		}
	}
	if reply != nil {
		return sess.fail(sess.reply(reply, "DATA", id))
	}
	log.Info("accepted", "from", env.From.String(), "recipients", len(env.Recipients), "size", full.Size())
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "Ok: queued as " + id}
}
