package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	netmail "net/mail"
	"slices"
	"strings"

	"mailgrid/internal/delivery"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/message"
	"mailgrid/internal/store"
)

// Sending and saving drafts. Sending is SMTP submission without SMTP (RFC 6409 as the
// model): the From address must be one the account may send as (Pipeline.CheckSendAs,
// 5.7.1), the envelope names the authenticated account, every recipient is vetted like a
// RCPT (Pipeline.CheckRecipient: relay, unknown users, size, quota), then one
// Pipeline.Deliver commits local copies and queues remote ones, with a Received field
// (RFC 5321 4.4) for the hop. "Sent" is reported only when Deliver reported every copy
// committed (delivery.Outcome gives nil, the 250 of SMTP); partial failures get a DSN as
// over SMTP. The copy in Sent (Pipeline.SaveSent) follows the commit: the message is sent
// either way, and the page says when the copy could not be kept.

func (s *Server) mailComposePost(w http.ResponseWriter, r *http.Request, c *mailCtx) {
	ctx := r.Context()
	limit := s.maxMessage(c)
	v := &composeView{Identities: s.identities(ctx, c.p.acct), MaxSize: limit}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		r.Body = http.MaxBytesReader(w, r.Body, limit+1<<20)
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.mailError(w, r, c, http.StatusRequestEntityTooLarge, fmt.Sprintf("The message with its attachments is larger than the limit of %s.", mailSize(limit)))
				return
			}
			s.mailError(w, r, c, http.StatusBadRequest, "The form could not be read.")
			return
		}
		defer func() {
			if err := r.MultipartForm.RemoveAll(); err != nil {
				s.log.Warn("webmail: remove upload files", "err", err)
			}
		}()
		if err := composeCSRF(r, c.p); err != nil {
			s.mailError(w, r, c, http.StatusForbidden, err.Error())
			return
		}
	} else if err := r.ParseForm(); err != nil { // urlencoded: withMail checked its token
		s.mailError(w, r, c, http.StatusBadRequest, "The form could not be read.")
		return
	}
	composeForm(r, v)
	draft := r.PostFormValue("op") == "draft"
	o, err := s.buildOutgoing(ctx, r, c, v, draft)
	var raw []byte
	if err == nil {
		if raw, err = o.bytes(); err == nil && int64(len(raw)) > limit {
			err = &formError{status: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("The message is %s, larger than the limit of %s.", mailSize(int64(len(raw))), mailSize(limit))}
		}
	}
	var done string
	if err == nil {
		switch {
		case draft:
			done, err = s.saveDraft(ctx, c, v, raw)
		case r.PostFormValue("op") == "schedule": // mail_schedule.go
			done, err = s.scheduleSend(ctx, r, c, v, o)
		default:
			done, err = s.send(ctx, r, c, o, raw)
		}
	}
	var fe *formError
	switch {
	case errors.As(err, &fe):
		s.renderCompose(w, r, c, fe.status, v, fe.msg)
		return
	case err != nil:
		s.log.Error("webmail: compose", "err", err)
		s.renderCompose(w, r, c, http.StatusServiceUnavailable, v, "Not saved or sent: a temporary problem; try again in a moment.")
		return
	}
	if !draft && r.PostFormValue("op") != "schedule" {
		s.afterSend(ctx, c, v)
	}
	http.Redirect(w, r, done, http.StatusSeeOther)
}

// buildOutgoing validates the form into a message.
func (s *Server) buildOutgoing(ctx context.Context, r *http.Request, c *mailCtx, v *composeView, draft bool) (*outgoing, error) {
	for _, f := range []struct{ name, v string }{{"From", v.From}, {"Subject", v.Subject},
		{"In-Reply-To", v.InReplyTo}, {"References", v.References}} {
		if err := checkLine(f.name, f.v); err != nil {
			return nil, err
		}
	}
	o := &outgoing{Subject: strings.TrimSpace(v.Subject), Text: v.Body, Date: s.now(), KeepBcc: draft,
		MessageID: message.NewMessageID(s.opt.Hostname)}
	var err error
	if v.Mode == modeRich { // mail_richtext.go: sanitised HTML and the text made from it
		if o.HTML, o.Text, err = richBody(c.a.clean, v.HTML); err != nil {
			return nil, err
		}
	}
	s.expandGroups(ctx, c, v) // a typed contact group's name becomes its members (mail_contacts_groups.go)
	if o.To, err = parseAddrs("To", v.To); err != nil {
		return nil, err
	}
	if o.Cc, err = parseAddrs("Cc", v.Cc); err != nil {
		return nil, err
	}
	if o.Bcc, err = parseAddrs("Bcc", v.Bcc); err != nil {
		return nil, err
	}
	if !draft && len(o.To)+len(o.Cc)+len(o.Bcc) == 0 {
		return nil, badForm("Add at least one recipient.")
	}
	i := slices.IndexFunc(v.Identities, func(id string) bool { return strings.EqualFold(id, v.From) })
	if i < 0 {
		return nil, &formError{status: http.StatusForbidden, msg: fmt.Sprintf("You cannot send as %q.", v.From)}
	}
	o.From = &netmail.Address{Address: v.Identities[i]}
	o.InReplyTo, o.References = msgIDList(v.InReplyTo, 1), msgIDList(v.References, 50)
	if o.Attachments, err = readUploads(r); err != nil {
		return nil, err
	}
	kept, err := s.keptAttachments(ctx, c, v, r.PostForm["keep"]) // a draft's, mail_compose_draft.go
	if err != nil {
		return nil, err
	}
	o.Attachments = append(kept, o.Attachments...)
	if err := checkAttachmentSizes(o.Attachments, s.maxAttachment(ctx, c)); err != nil {
		return nil, err
	}
	if v.Forward != "" {
		fwd, err := s.ref(ctx, c, v.Forward)
		if errors.Is(err, store.ErrNotFound) {
			return nil, badForm("The forwarded message no longer exists.")
		}
		if err != nil {
			return nil, err
		}
		data, err := s.blobBytes(ctx, c, fwd, s.maxMessage(c))
		if err != nil {
			return nil, err
		}
		name := strings.TrimSpace(fwd.info.Subject)
		if name == "" {
			name = "message"
		}
		v.ForwardSub = fwd.info.Subject
		o.Attachments = append(o.Attachments, outPart{Name: name + ".eml", Data: data, Message: true})
	}
	return o, nil
}

// msgIDList keeps at most n "<id>" tokens of v (RFC 5322 3.6.4 msg-id), dropping the
// rest of what a form may carry.
func msgIDList(v string, n int) string {
	var ids []string
	for _, f := range strings.Fields(v) {
		if len(ids) == n {
			break
		}
		if len(f) > 2 && len(f) < 250 && f[0] == '<' && f[len(f)-1] == '>' && !strings.ContainsAny(f[1:len(f)-1], "<> \"\\") {
			ids = append(ids, f)
		}
	}
	return strings.Join(ids, " ")
}

// blobBytes reads a whole message body, at most limit bytes.
func (s *Server) blobBytes(ctx context.Context, c *mailCtx, o *opened, limit int64) ([]byte, error) {
	if o.msg.Size > limit {
		return nil, &formError{status: http.StatusRequestEntityTooLarge, msg: "The forwarded message is larger than the message size limit."}
	}
	b, err := c.st.OpenBlob(ctx, c.ref, o.msg.ID)
	if err != nil {
		return nil, err
	}
	defer func() { _ = b.Close() }() // read-only
	return io.ReadAll(io.NewSectionReader(b, 0, b.Size()))
}

// deliveryError turns a pipeline refusal into the page's message and status.
func deliveryError(prefix string, err error) *formError {
	e := delivery.AsError(err)
	if e.Temporary {
		return &formError{status: http.StatusServiceUnavailable, msg: prefix + e.Message + " (temporary: try again later)."}
	}
	return &formError{status: http.StatusUnprocessableEntity, msg: prefix + e.Message + "."}
}

// send submits the message through the pipeline; it returns the URL to go to.
func (s *Server) send(ctx context.Context, r *http.Request, c *mailCtx, o *outgoing, raw []byte) (string, error) {
	rcpts, err := envelopeRcpts(o)
	if err != nil {
		return "", err
	}
	done, err := s.submit(ctx, c.p.acct, o.From.Address, rcpts, raw, submitFrom{ip: clientIP(r), tls: r.TLS != nil},
		strings.Trim(o.MessageID, "<>"))
	if err != nil {
		return "", err
	}
	in, _ := c.special(store.Inbox)
	return fmt.Sprintf("/mail/f/%d?done=%s", in.ID, done), nil
}

// envelopeRcpts are the message's To, Cc and Bcc addresses.
func envelopeRcpts(o *outgoing) ([]mail.Address, error) {
	var out []mail.Address
	for _, a := range slices.Concat(o.To, o.Cc, o.Bcc) {
		addr, err := mail.Parse(a.Address)
		if err != nil {
			return nil, badForm("%q is not a valid e-mail address.", a.Address)
		}
		out = append(out, addr)
	}
	return out, nil
}

// submitFrom is where a message was composed, for its Received field.
type submitFrom struct {
	ip  string
	tls bool
}

// submit is the submission path of "send now" and of scheduled sends
// (mail_schedule.go): the checks, one Deliver, a DSN for partial failures, the copy in
// Sent. It returns "sent" or "sent-nocopy" (the flash of the page after it).
func (s *Server) submit(ctx context.Context, acct directory.Account, fromAddr string, rcpts []mail.Address, raw []byte, at submitFrom, id string) (string, error) {
	p := s.opt.Mail.Pipeline
	if p == nil {
		return "", &formError{status: http.StatusServiceUnavailable, msg: "Sending is not available on this server right now; save a draft and try later."}
	}
	from, err := mail.Parse(fromAddr)
	if err != nil {
		return "", badForm("The From address %q is not valid.", fromAddr)
	}
	if err := p.CheckSendAs(ctx, acct, from); err != nil {
		return "", deliveryError("Not sent: ", err)
	}
	env := &delivery.Envelope{From: from, Account: &acct, Size: int64(len(raw)), Received: s.now(), ID: id}
	if err := p.CheckSender(ctx, env); err != nil {
		return "", deliveryError("Not sent: ", err)
	}
	seen := map[string]bool{}
	var refused []string
	var firstErr error
	for _, addr := range rcpts {
		if seen[addr.Key()] {
			continue
		}
		seen[addr.Key()] = true
		if err := p.CheckRecipient(ctx, env, addr); err != nil {
			refused = append(refused, addr.String()+": "+delivery.AsError(err).Message)
			if firstErr == nil || delivery.AsError(err).Temporary {
				firstErr = err
			}
			continue
		}
		env.Recipients = append(env.Recipients, delivery.Recipient{Addr: addr})
	}
	if len(refused) > 0 {
		fe := deliveryError("", firstErr)
		fe.msg = "Not sent: " + strings.Join(refused, "; ") + "."
		return "", fe
	}
	received := message.AppendField(nil, "Received", fmt.Sprintf("from [%s] by %s with %s id %s; %s",
		at.ip, s.opt.Hostname, map[bool]string{true: "HTTPS", false: "HTTP"}[at.tls], env.ID,
		message.FormatDate(env.Received)))
	full := delivery.Prepend(received, delivery.Bytes(raw))
	results, err := p.Deliver(ctx, env, full)
	reply, bounce := delivery.Outcome(results, err)
	if reply == nil && len(bounce) > 0 {
		if err := p.Bounce(ctx, env, bounce, full); err != nil {
			reply = delivery.AsError(err)
		}
	}
	if reply != nil {
		return "", deliveryError("Not sent: ", reply)
	}
	done := "sent"
	if err := p.SaveSent(ctx, acct, delivery.Bytes(raw)); err != nil {
		s.log.Warn("webmail: Sent copy not saved", "err", err)
		done = "sent-nocopy"
	}
	s.log.Info("webmail: sent", "account", acct.Address.String(), "recipients", len(env.Recipients), "size", len(raw))
	return done, nil
}

// afterSend removes the draft that was sent and flags the answered message.
func (s *Server) afterSend(ctx context.Context, c *mailCtx, v *composeView) {
	if v.Draft != "" {
		s.dropDraft(ctx, c, v.Draft)
	}
	if v.Answer != "" {
		if o, err := s.ref(ctx, c, v.Answer); err == nil {
			if _, err := c.st.StoreFlags(ctx, c.ref, o.mb.ID, store.FlagUpdate{UIDs: []store.UID{o.msg.UID},
				Op: store.FlagsAdd, Flags: []string{store.FlagAnswered}}); err != nil {
				s.log.Warn("webmail: flag answered", "err", err)
			}
		}
	}
}

// dropDraft expunges the draft named by ref if it is still a draft in Drafts.
func (s *Server) dropDraft(ctx context.Context, c *mailCtx, ref string) {
	o, err := s.ref(ctx, c, ref)
	if err != nil || o.mb.SpecialUse != store.Drafts || !slices.Contains(o.msg.Flags, store.FlagDraft) {
		return
	}
	if _, err := c.st.Expunge(ctx, c.ref, o.mb.ID, []store.UID{o.msg.UID}); err != nil {
		s.log.Warn("webmail: remove old draft", "err", err)
	}
}

// saveDraft stores the message in Drafts (\Draft \Seen), replacing the draft it was
// opened from; it returns the compose URL of the new draft.
func (s *Server) saveDraft(ctx context.Context, c *mailCtx, v *composeView, raw []byte) (string, error) {
	drafts, ok := c.special(store.Drafts)
	if !ok {
		return "", &formError{status: http.StatusConflict, msg: "There is no Drafts folder to save in."}
	}
	res, err := c.st.Deliver(ctx, store.Delivery{Body: delivery.Bytes(raw), InternalDate: s.now(),
		Targets: []store.DeliveryTarget{{Account: c.ref, Quota: quotaOf(c), Mailbox: drafts.Name,
			Flags: []string{store.FlagDraft, store.FlagSeen}}}})
	if err == nil && len(res) != 1 {
		err = fmt.Errorf("store returned %d results for 1 target", len(res))
	}
	if err != nil {
		return "", err
	}
	if errors.Is(res[0].Err, store.ErrOverQuota) {
		return "", &formError{status: http.StatusInsufficientStorage, msg: "Your mailbox is full: the draft was not saved."}
	}
	if res[0].Err != nil {
		return "", res[0].Err
	}
	if v.Draft != "" {
		s.dropDraft(ctx, c, v.Draft)
	}
	return fmt.Sprintf("/mail/compose?draft=%d/%d&done=draft", res[0].Mailbox, res[0].UID), nil
}
