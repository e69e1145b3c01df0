package imapserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"mailgrid/internal/message"
	"mailgrid/internal/obs"
	"mailgrid/internal/store"
)

// appendCmd is a parsed APPEND up to its message literal.
type appendCmd struct {
	mailbox store.Mailbox
	flags   []string
	date    time.Time
	utf8    bool // RFC 6855 4: UTF8 (~{n})
}

// cmdAppend: RFC 9051 6.3.12 with APPENDUID (RFC 4315 3), APPENDLIMIT (RFC 7889),
// literal8 (RFC 3516) and the UTF8 form (RFC 6855 4). The mailbox, the size limit and the
// quota are checked before the "+" of a synchronizing literal, so a refused message is
// never sent. The literal is streamed into a spool (memory, then an unlinked file) and
// stored with one durable commit.
func cmdAppend(s *session, c *command) error {
	a, err := s.appendHead()
	if err != nil {
		return err
	}
	h, err := s.p.literalAt()
	if err != nil {
		return err
	}
	if h.size > s.srv.opt.MaxLiteralSize {
		return refuseLiteral(h)
	}
	if rerr := s.appendAllowed(h); rerr != nil {
		return rerr
	}
	spool := message.NewSpool(s.spoolDir(), s.srv.opt.SpoolMemory)
	defer func() { obs.Check(s.log, spool.Close(), "close append spool") }()
	hasNUL, err := s.readLiteral(h, spool)
	if err != nil {
		return err
	}
	if a.utf8 {
		if err := s.p.expect(')'); err != nil {
			return err
		}
	}
	if err := s.p.end(); err != nil {
		return err
	}
	if hasNUL && !h.binary {
		return bad("NUL in message literal: use literal8 (BINARY)") // RFC 3516 4.4
	}
	if h.size == 0 {
		return no(codeCannot, "empty message")
	}
	return s.deliverAppend(c, a, spool)
}

// appendHead parses "APPEND" SP mailbox [SP flag-list] [SP date-time] SP [UTF8 "("].
func (s *session) appendHead() (*appendCmd, error) {
	p := s.p
	if err := p.sp(); err != nil {
		return nil, err
	}
	name, err := s.mailboxArg()
	if err != nil {
		return nil, err
	}
	a := &appendCmd{}
	if err := p.sp(); err != nil {
		return nil, err
	}
	if p.peek() == '(' {
		if a.flags, err = s.flagList(true); err != nil {
			return nil, err
		}
		if err := p.sp(); err != nil {
			return nil, err
		}
	}
	if p.peek() == '"' {
		d, err := p.quoted()
		if err != nil {
			return nil, err
		}
		if a.date, err = time.Parse("_2-Jan-2006 15:04:05 -0700", d); err != nil {
			return nil, bad("invalid date-time")
		}
		if err := p.sp(); err != nil {
			return nil, err
		}
	}
	if p.peek() == 'U' || p.peek() == 'u' {
		w, err := p.atom()
		if err != nil || !strings.EqualFold(w, "UTF8") {
			return nil, bad("expected message literal")
		}
		if err := p.sp(); err != nil {
			return nil, err
		}
		if err := p.expect('('); err != nil {
			return nil, err
		}
		a.utf8 = true
	}
	if a.mailbox, err = s.st.Mailbox(context.Background(), s.ref, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, no(codeTryCreate, "no such mailbox") // RFC 9051 6.3.12
		}
		return nil, storeError(err, "APPEND")
	}
	return a, nil
}

// appendAllowed checks the quota before the client sends the message.
func (s *session) appendAllowed(h literalHeader) *respError {
	if s.acct.QuotaBytes <= 0 && s.acct.QuotaMessages <= 0 {
		return nil
	}
	u, err := s.st.Usage(context.Background(), s.ref)
	if err != nil {
		return storeError(err, "APPEND")
	}
	if (s.acct.QuotaBytes > 0 && u.Bytes+h.size > s.acct.QuotaBytes) ||
		(s.acct.QuotaMessages > 0 && u.Messages+1 > s.acct.QuotaMessages) {
		if h.sync {
			return &respError{status: "NO", code: codeOverQuota, text: "over quota", noCont: true}
		}
		return no(codeOverQuota, "over quota") // the literal is skipped by the caller
	}
	return nil
}

// readLiteral copies the literal into dst and reads the rest of the command line.
func (s *session) readLiteral(h literalHeader, dst io.Writer) (hasNUL bool, err error) {
	r, err := s.p.openLiteral(h)
	if err != nil {
		return false, err
	}
	buf := make([]byte, max(min(h.size, 32<<10), 512)) // a 1 KiB message needs no 32 KiB buffer
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			hasNUL = hasNUL || bytes.IndexByte(buf[:n], 0) >= 0
			if _, err := dst.Write(buf[:n]); err != nil {
				return false, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return false, rerr
		}
	}
	return hasNUL, s.p.finishLiteral(r)
}

func (s *session) deliverAppend(c *command, a *appendCmd, body *message.Spool) error {
	date := a.date
	if date.IsZero() {
		date = s.srv.opt.Now()
	}
	d := store.Delivery{Body: body, InternalDate: date, Targets: []store.DeliveryTarget{{
		Account: s.ref, Quota: store.Quota{Bytes: s.acct.QuotaBytes, Messages: s.acct.QuotaMessages},
		Mailbox: a.mailbox.Name, Flags: a.flags,
	}}}
	res, err := s.st.Deliver(context.Background(), d)
	if err == nil && len(res) == 1 {
		err = res[0].Err
	}
	if err != nil {
		return storeError(err, "APPEND")
	}
	if res[0].Mailbox == a.mailbox.ID {
		c.okCode = "APPENDUID " + itoa(int64(a.mailbox.UIDValidity)) + " " + itoa(int64(res[0].UID))
	}
	return nil
}
