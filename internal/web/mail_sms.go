package web

// SMS in the webmail (package sms): /mail/sms sends a text to a phone number or to a
// contact's phone, and edits the account's "notify me by SMS of new mail matching ..."
// rule (directory.SMSRule, run at delivery by sms.Notifier's mailet). Compose's "Send as
// SMS" button posts the compose form to /mail/sms/compose, which sends its text to the
// first recipient's number (a number typed in To, or the phone of the contact with that
// address or name).
//
// Both are allowed only where the domain's plan enables SMS; the refusal says so
// (sms.ErrNotInPlan). Every SMS the gateway takes is counted for the account and its
// domain by the sms.Service. Numbers are E.164 (directory.NormPhone): a number never
// carries other text into the gateway's request.

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/mail"
	"strings"

	"mailgrid/internal/contacts"
	"mailgrid/internal/directory"
	"mailgrid/internal/sms"
)

// maxSMSCompose bounds the compose form read by /mail/sms/compose (attachments are
// ignored, but the form may carry them).
const maxSMSCompose = 32 << 20

type smsPage struct {
	mailPage
	Off, NotInPlan string // why sending is not possible ("" when it is)
	To, Text       string
	MaxText        int
	Rule           directory.SMSRule
	HasRule        bool
	Phones         []smsContact
	Saved          string
}

type smsContact struct{ Name, Phone string }

func (s *Server) mailSMSPages(a *mailAssets, page func(string, func(http.ResponseWriter, *http.Request, *mailCtx))) {
	t, err := a.t.Clone()
	if err == nil {
		_, err = t.ParseFS(assetFS, "assets/mail_sms.html")
	}
	if err != nil {
		s.log.Error("webmail: sms template", "err", err)
		return
	}
	page("GET /mail/sms", func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
		q := r.URL.Query()
		s.smsShow(w, r, c, t, http.StatusOK, "", q.Get("to"), q.Get("text"))
	})
	page("POST /mail/sms", func(w http.ResponseWriter, r *http.Request, c *mailCtx) { s.smsPost(w, r, c, t) })
	page("POST /mail/sms/compose", func(w http.ResponseWriter, r *http.Request, c *mailCtx) { s.smsCompose(w, r, c, t) })
}

// smsShow renders the SMS page with status and errMsg, the send form prefilled.
func (s *Server) smsShow(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template, status int, errMsg, to, text string) {
	svc := s.opt.Mail.SMS
	if svc == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("SMS is not available on this server."))
		return
	}
	ctx := r.Context()
	d := smsPage{mailPage: s.pageOf(ctx, c, "SMS", 0), To: to, Text: text, MaxText: sms.MaxText}
	d.Back, d.Error, d.Saved = "/mail/sms", errMsg, map[string]string{"sent": c.ui.T("SMS sent."), "saved": c.ui.T("Notification rule saved."), "removed": c.ui.T("Notification rule removed.")}[r.URL.Query().Get("done")]
	switch err := svc.AllowedFor(ctx, c.p.acct); {
	case errors.Is(err, sms.ErrOff):
		d.Off = c.ui.reasonOr(err, err.Error())
	case errors.Is(err, sms.ErrNotInPlan):
		d.NotInPlan = c.ui.reasonOr(err, err.Error())
	case err != nil:
		s.log.Error("webmail: sms plan", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("SMS settings could not be read right now; try again in a moment."))
		return
	}
	rule, err := svc.Store().SMSRule(ctx, c.ref.ID)
	switch {
	case err == nil:
		d.Rule, d.HasRule = rule, true
	case errors.Is(err, directory.ErrNotFound):
		d.Rule.Enabled = true
	default:
		s.log.Error("webmail: sms rule", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("SMS settings could not be read right now; try again in a moment."))
		return
	}
	if r.Method == http.MethodPost && r.PostFormValue("op") == "notify" {
		d.Rule = smsRuleForm(r, c) // show what was typed
	}
	d.Phones = s.contactPhones(ctx, c)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	d.Status = status
	if err := t.ExecuteTemplate(w, "sms", d); err != nil {
		s.log.Error("webmail: render", "template", "sms", "err", err)
	}
}

// smsShown reports whether the top bar's SMS link and compose's "Send as SMS" are shown:
// a gateway is configured and the account's domain's plan enables SMS. A directory fault
// hides them (logged); the SMS page itself still explains why it cannot send.
func (s *Server) smsShown(ctx context.Context, c *mailCtx) bool {
	svc := s.opt.Mail.SMS
	if svc == nil || !svc.Enabled() || c == nil || c.p == nil {
		return false
	}
	err := svc.AllowedFor(ctx, c.p.acct)
	if err != nil && !errors.Is(err, sms.ErrOff) && !errors.Is(err, sms.ErrNotInPlan) {
		s.log.Warn("webmail: sms plan", "err", err)
	}
	return err == nil
}

func smsRuleForm(r *http.Request, c *mailCtx) directory.SMSRule {
	return directory.SMSRule{AccountID: c.ref.ID, Domain: c.ref.Domain, Phone: r.PostFormValue("phone"),
		FromContains: r.PostFormValue("from_contains"), SubjectContains: r.PostFormValue("subject_contains"),
		Enabled: r.PostFormValue("enabled") != ""}
}

// smsPost handles the page's forms: op=send, op=notify (save the rule), op=remove.
func (s *Server) smsPost(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template) {
	svc := s.opt.Mail.SMS
	if svc == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("SMS is not available on this server."))
		return
	}
	ctx := r.Context()
	to, text := r.PostFormValue("to"), r.PostFormValue("text")
	fail := func(err error) {
		st, msg := s.smsError(c.ui, err)
		s.smsShow(w, r, c, t, st, msg, to, text)
	}
	switch r.PostFormValue("op") {
	case "send":
		if err := s.smsSend(ctx, c, to, text); err != nil {
			fail(err)
			return
		}
		http.Redirect(w, r, "/mail/sms?done=sent", http.StatusSeeOther)
	case "notify":
		if err := svc.AllowedFor(ctx, c.p.acct); err != nil {
			fail(err)
			return
		}
		if err := svc.Store().SetSMSRule(ctx, smsRuleForm(r, c)); err != nil {
			fail(err)
			return
		}
		http.Redirect(w, r, "/mail/sms?done=saved", http.StatusSeeOther)
	case "remove":
		if err := svc.Store().DeleteSMSRule(ctx, c.ref.ID); err != nil && !errors.Is(err, directory.ErrNotFound) {
			fail(err)
			return
		}
		http.Redirect(w, r, "/mail/sms?done=removed", http.StatusSeeOther)
	default:
		s.smsShow(w, r, c, t, http.StatusBadRequest, c.ui.T("The form is not valid."), to, text)
	}
}

// smsCompose is compose's "Send as SMS": the compose form (multipart) with its own CSRF
// check; the text is the body, the number the first recipient's.
func (s *Server) smsCompose(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSMSCompose)
	if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		s.mailError(w, r, c, http.StatusBadRequest, c.ui.T("The form could not be read."))
		return
	}
	if r.MultipartForm != nil {
		defer func() {
			if err := r.MultipartForm.RemoveAll(); err != nil {
				s.log.Warn("webmail: sms compose: remove temporary files", "err", err)
			}
		}()
	}
	if err := composeCSRF(r, c.p); err != nil {
		s.mailError(w, r, c, http.StatusForbidden, err.Error())
		return
	}
	to, text := firstRecipient(r.PostFormValue("to")), strings.TrimSpace(r.PostFormValue("body"))
	if err := s.smsSend(r.Context(), c, to, text); err != nil {
		st, msg := s.smsError(c.ui, err)
		s.smsShow(w, r, c, t, st, msg, to, text)
		return
	}
	http.Redirect(w, r, "/mail/sms?done=sent", http.StatusSeeOther)
}

// firstRecipient is the first entry of a To field: a number or an address as typed.
func firstRecipient(to string) string {
	to = strings.TrimSpace(to)
	if as, err := mail.ParseAddressList(to); err == nil && len(as) > 0 {
		return as[0].Address
	}
	first, _, _ := strings.Cut(to, ",")
	return strings.TrimSpace(first)
}

// smsSend resolves to and sends text for c's account.
func (s *Server) smsSend(ctx context.Context, c *mailCtx, to, text string) error {
	num, err := s.smsNumber(ctx, c, to)
	if err != nil {
		return err
	}
	return s.opt.Mail.SMS.Send(ctx, c.p.acct, num, text)
}

// smsNumber is to as a phone number: to itself when it is one, else the first phone of
// the contact (personal book, then the domain's) whose name or an address equals it.
func (s *Server) smsNumber(ctx context.Context, c *mailCtx, to string) (string, error) {
	to = strings.TrimSpace(to)
	if to == "" {
		return "", badForm("%s", c.ui.T("Give a phone number or a contact."))
	}
	if p, err := directory.NormPhone(to); err == nil {
		return p, nil
	}
	if cs := s.opt.Mail.Contacts; cs != nil {
		for _, b := range []contacts.Book{{Domain: c.ref.Domain, Account: c.ref.ID}, {Domain: c.ref.Domain}} {
			list, err := cs.List(ctx, b, contacts.Query{Search: to, Limit: 50})
			if err != nil {
				return "", err
			}
			for _, ct := range list {
				if len(ct.Phones) > 0 && (strings.EqualFold(ct.Name, to) || containsFold(ct.Emails, to)) {
					return ct.Phones[0], nil
				}
			}
		}
	}
	return "", badForm("%s", c.ui.Tf("%q is neither a phone number (international form, e.g. +41 44 668 18 00) nor a contact with a phone.", to))
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// contactPhones lists the phones of the account's personal contacts, for the send form's
// suggestions (none when the address book is not available).
func (s *Server) contactPhones(ctx context.Context, c *mailCtx) []smsContact {
	cs := s.opt.Mail.Contacts
	if cs == nil {
		return nil
	}
	list, err := cs.List(ctx, contacts.Book{Domain: c.ref.Domain, Account: c.ref.ID}, contacts.Query{Order: contacts.ByName, Limit: 500})
	if err != nil {
		s.log.Warn("webmail: sms contacts", "err", err)
		return nil
	}
	var out []smsContact
	for _, ct := range list {
		for _, p := range ct.Phones {
			out = append(out, smsContact{Name: ct.Name, Phone: p})
		}
	}
	return out
}

// smsError is the status and text of a refused SMS action.
func (s *Server) smsError(ui uiPrefs, err error) (int, string) {
	var fe *formError
	switch {
	case errors.As(err, &fe):
		return fe.status, fe.msg
	case errors.Is(err, sms.ErrOff), errors.Is(err, sms.ErrNotInPlan):
		return http.StatusForbidden, ui.reasonOr(err, err.Error())
	case errors.Is(err, directory.ErrInvalid):
		return http.StatusUnprocessableEntity, ui.reasonOr(err, strings.TrimPrefix(err.Error(), directory.ErrInvalid.Error()+": "))
	case errors.Is(err, sms.ErrTemporary):
		s.log.Warn("webmail: sms gateway", "err", err)
		return http.StatusBadGateway, ui.T("The SMS gateway did not take the message right now; try again in a moment.")
	case errors.Is(err, sms.ErrRefused):
		s.log.Warn("webmail: sms gateway", "err", err)
		return http.StatusBadGateway, ui.T("The SMS gateway refused the message (check the number).")
	}
	s.log.Error("webmail: sms", "err", err)
	return http.StatusServiceUnavailable, ui.T("The SMS was not sent: a temporary problem; try again in a moment.")
}
