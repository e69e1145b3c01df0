package web

// Scheduled send ("Send later", package schedule): compose's op=schedule validates the
// form like "Send" (fields, addresses, size, the From identity: CheckSendAs), then
// stores the message with its envelope in MailOptions.Schedule, due at the chosen time
// (read in the user's time zone, UTC until one is set). Nothing is counted against the
// sending rate limits then: the whole submission path of "Send" (submit: CheckSender
// with the rate limits, each CheckRecipient, Deliver, DSN, the copy in Sent) runs when it
// falls due, in SendScheduled, which schedule.Runner calls on every node. The message's
// Date is the chosen time (RFC 5322 3.6.1: when it is ready to enter the mail system).
//
// /mail/scheduled lists the account's pending and failed sends; "Cancel" deletes one
// (refused while it is being sent), "Edit" cancels it and reopens it as a draft (Drafts,
// with its Bcc field back) in compose.

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
	"mailgrid/internal/message"
	"mailgrid/internal/schedule"
)

// maxScheduleAhead bounds how far ahead a message may be scheduled.
const maxScheduleAhead = 366 * 24 * time.Hour

// maxScheduledPerAccount bounds an account's scheduled (and failed) messages: they are
// not charged to its quota.
const maxScheduledPerAccount = 100

// scheduleSlack accepts a time this far in the past (typed a moment ago): sent at once.
const scheduleSlack = 5 * time.Minute

type scheduledPage struct {
	mailPage
	Zone  string
	Items []scheduledRow
	Saved string
}

type scheduledRow struct {
	ID       int64
	Due      string
	To       string
	Subject  string
	Failed   bool
	Error    string
	Attempts int
}

func (s *Server) mailSchedulePages(a *mailAssets, page func(string, func(http.ResponseWriter, *http.Request, *mailCtx))) {
	t, err := a.t.Clone()
	if err == nil {
		_, err = t.ParseFS(assetFS, "assets/mail_schedule.html")
	}
	if err != nil {
		s.log.Error("webmail: scheduled template", "err", err)
		return
	}
	page("GET /mail/scheduled", func(w http.ResponseWriter, r *http.Request, c *mailCtx) {
		s.scheduledList(w, r, c, t, http.StatusOK, "")
	})
	page("POST /mail/scheduled", func(w http.ResponseWriter, r *http.Request, c *mailCtx) { s.scheduledPost(w, r, c, t) })
}

func scheduleOwner(c *mailCtx) schedule.Owner {
	return schedule.Owner{Domain: c.ref.Domain, Account: c.ref.ID}
}

// userZone is the zone the account's times are shown and read in: its display
// preference (mail_prefs.go), else UTC.
func (s *Server) userZone(c *mailCtx) *time.Location {
	if tz := c.ui.P.TimeZone; tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			return loc
		}
	}
	return time.UTC
}

func (s *Server) scheduledList(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template, status int, errMsg string) {
	st := s.opt.Mail.Schedule
	if st == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("Scheduled sending is not available on this server."))
		return
	}
	items, err := st.List(r.Context(), scheduleOwner(c))
	if err != nil {
		s.log.Error("webmail: scheduled list", "err", err)
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("The scheduled messages could not be read right now; try again in a moment."))
		return
	}
	zone := s.userZone(c)
	d := scheduledPage{mailPage: s.pageOf(r.Context(), c, "Scheduled", 0), Zone: zone.String()}
	d.Back = "/mail/scheduled"
	d.Error = errMsg
	d.Saved = map[string]string{"scheduled": c.ui.T("Message scheduled."), "cancelled": c.ui.T("Scheduled message cancelled.")}[r.URL.Query().Get("done")]
	for _, it := range items {
		d.Items = append(d.Items, scheduledRow{ID: it.ID, Due: it.Due.In(zone).Format("2006-01-02 15:04:05 MST"), To: it.To,
			Subject: it.Subject, Failed: it.State == schedule.Failed, Error: it.LastError, Attempts: it.Attempts})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	d.Status = status
	if err := t.ExecuteTemplate(w, "scheduled", d); err != nil {
		s.log.Error("webmail: render", "template", "scheduled", "err", err)
	}
}

func (s *Server) scheduledPost(w http.ResponseWriter, r *http.Request, c *mailCtx, t *template.Template) {
	st := s.opt.Mail.Schedule
	if st == nil {
		s.mailError(w, r, c, http.StatusServiceUnavailable, c.ui.T("Scheduled sending is not available on this server."))
		return
	}
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	op := r.PostFormValue("op")
	if err != nil || op != "cancel" && op != "edit" {
		s.scheduledList(w, r, c, t, http.StatusBadRequest, c.ui.T("The form is not valid."))
		return
	}
	ctx := r.Context()
	it, err := st.Cancel(ctx, scheduleOwner(c), id, s.now())
	switch {
	case errors.Is(err, schedule.ErrNotFound):
		s.scheduledList(w, r, c, t, http.StatusNotFound, c.ui.T("No such scheduled message (it may have been sent already)."))
		return
	case errors.Is(err, schedule.ErrBusy):
		s.scheduledList(w, r, c, t, http.StatusConflict, c.ui.T("The message is being sent right now; it can no longer be cancelled."))
		return
	case err != nil:
		s.log.Error("webmail: cancel scheduled", "err", err)
		s.scheduledList(w, r, c, t, http.StatusServiceUnavailable, c.ui.T("Not cancelled: a temporary problem; try again in a moment."))
		return
	}
	if op == "cancel" {
		http.Redirect(w, r, "/mail/scheduled?done=cancelled", http.StatusSeeOther)
		return
	}
	to, err := s.scheduledToDraft(ctx, c, it)
	if err != nil {
		// Put it back, so the message is not lost.
		if _, aerr := st.Add(ctx, it); aerr != nil {
			s.log.Error("webmail: restore scheduled after a failed edit", "err", aerr, "subject", it.Subject)
		}
		var fe *formError
		if errors.As(err, &fe) {
			s.scheduledList(w, r, c, t, fe.status, fe.msg+" The message stays scheduled.")
			return
		}
		s.log.Error("webmail: scheduled to draft", "err", err)
		s.scheduledList(w, r, c, t, http.StatusServiceUnavailable, c.ui.T("Not opened: a temporary problem; the message stays scheduled."))
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// scheduledToDraft saves a cancelled item in Drafts (with its Bcc field back) and
// returns the compose URL of the draft.
func (s *Server) scheduledToDraft(ctx context.Context, c *mailCtx, it schedule.Item) (string, error) {
	raw := it.Message
	if it.Bcc != "" {
		raw = append(message.AppendField(nil, "Bcc", it.Bcc), raw...)
	}
	return s.saveDraft(ctx, c, &composeView{}, raw)
}

// scheduleTime reads compose's "send_at" (an HTML datetime-local value) in zone.
func scheduleTime(ui uiPrefs, v string, zone *time.Location, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, badForm("%s", ui.T("Choose the date and time to send at."))
	}
	var at time.Time
	var err error
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
		if at, err = time.ParseInLocation(layout, v, zone); err == nil {
			break
		}
	}
	switch {
	case err != nil:
		return time.Time{}, badForm(ui.T("%q is not a date and time (YYYY-MM-DDTHH:MM)."), v)
	case at.Before(now.Add(-scheduleSlack)):
		return time.Time{}, badForm(ui.T("The time to send at (%s) has passed."), at.Format("2006-01-02 15:04 MST"))
	case at.After(now.Add(maxScheduleAhead)):
		return time.Time{}, badForm("%s", ui.T("A message can be scheduled at most a year ahead."))
	}
	return at, nil
}

// scheduleSend is compose's "Send later": it stores the message and returns the URL to
// go to.
func (s *Server) scheduleSend(ctx context.Context, r *http.Request, c *mailCtx, v *composeView, o *outgoing) (string, error) {
	st, p := s.opt.Mail.Schedule, s.opt.Mail.Pipeline
	if st == nil || p == nil {
		return "", &formError{status: http.StatusServiceUnavailable, msg: c.ui.T("Scheduled sending is not available on this server right now; save a draft and try later.")}
	}
	now := s.now()
	at, err := scheduleTime(c.ui, v.SendAt, s.userZone(c), now)
	if err != nil {
		return "", err
	}
	rcpts, err := envelopeRcpts(o)
	if err != nil {
		return "", err
	}
	if pending, err := st.List(ctx, scheduleOwner(c)); err != nil {
		return "", err
	} else if len(pending) >= maxScheduledPerAccount {
		return "", &formError{status: http.StatusConflict, msg: c.ui.Tf("You have %d scheduled messages, the most there may be; send or cancel some first.", len(pending))}
	}
	if len(rcpts) > schedule.MaxRcpts {
		return "", badForm(c.ui.T("A scheduled message may have at most %d recipients."), schedule.MaxRcpts)
	}
	from, err := mail.Parse(o.From.Address)
	if err != nil {
		return "", badForm(c.ui.T("The From address %q is not valid."), o.From.Address)
	}
	if err := p.CheckSendAs(ctx, c.p.acct, from); err != nil {
		return "", deliveryError(c.ui.T("Not scheduled: "), err)
	}
	o.Date = at
	raw, err := o.bytes()
	if err != nil {
		return "", err
	}
	if limit := s.maxMessage(c); int64(len(raw)) > limit {
		return "", &formError{status: http.StatusRequestEntityTooLarge, msg: c.ui.Tf("The message is %s, larger than the limit of %s.", mailSize(int64(len(raw))), mailSize(limit))}
	}
	it := schedule.Item{Owner: scheduleOwner(c), Due: at, From: from.String(), Subject: oneLine(o.Subject), To: oneLine(v.To),
		Bcc: oneLine(v.Bcc), Answer: v.Answer, Client: clientIP(r), Proto: map[bool]string{true: "HTTPS", false: "HTTP"}[r.TLS != nil],
		Message: raw, Created: now}
	for _, a := range rcpts {
		it.Rcpts = append(it.Rcpts, a.String())
	}
	if _, err := st.Add(ctx, it); err != nil {
		return "", err
	}
	s.log.Info("webmail: scheduled", "account", c.p.acct.Address.String(), "due", at, "recipients", len(rcpts))
	if v.Draft != "" {
		s.dropDraft(ctx, c, v.Draft)
	}
	return "/mail/scheduled?done=scheduled", nil
}

// oneLine bounds a display field of an item (the form fields were checked already).
func oneLine(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 1000 {
		v = strings.ToValidUTF8(v[:1000], "")
	}
	return v
}

// SendScheduled sends one due item through the submission path of "Send" (it is the
// schedule.Sender of the node's schedule.Runner). Refusals no retry can fix (the account
// or its webmail gone, a permanent pipeline refusal) are schedule.Permanent; store and
// directory faults and temporary refusals (rate limits) are retried.
func (s *Server) SendScheduled(ctx context.Context, it schedule.Item) error {
	acct, err := s.dir.AccountByID(ctx, it.Owner.Domain, it.Owner.Account)
	if errors.Is(err, directory.ErrNotFound) {
		return schedule.Permanent(errors.New("the account no longer exists"))
	}
	if err != nil {
		return err
	}
	dom, err := s.dir.Domain(ctx, acct.Address.Domain)
	if err != nil {
		return err
	}
	if !acct.Enabled || !dom.Enabled || !directory.ServiceAllowed(dom, acct, directory.ServiceWebmail) {
		return schedule.Permanent(errors.New("the account may no longer send from webmail"))
	}
	var rcpts []mail.Address
	for _, r := range it.Rcpts {
		a, err := mail.Parse(r)
		if err != nil {
			return schedule.Permanent(fmt.Errorf("recipient %q: %w", r, err))
		}
		rcpts = append(rcpts, a)
	}
	ip := strings.Trim(it.Client, "[]")
	_, err = s.submit(ctx, acct, it.From, rcpts, it.Message, submitFrom{ip: ip, tls: it.Proto == "HTTPS"}, messageID(it.Message))
	var fe *formError
	if errors.As(err, &fe) {
		if fe.status == http.StatusServiceUnavailable {
			return errors.New(fe.msg)
		}
		return schedule.Permanent(errors.New(fe.msg))
	}
	if err != nil {
		return err
	}
	if it.Answer != "" {
		s.flagAnswered(ctx, acct, dom, it.Answer)
	}
	return nil
}

// flagAnswered flags the message a sent reply answered (best effort, as after "Send").
func (s *Server) flagAnswered(ctx context.Context, acct directory.Account, dom directory.Domain, ref string) {
	c, err := s.openMail(ctx, &principal{acct: acct, dom: dom})
	if err != nil {
		s.log.Warn("webmail: flag answered", "err", err)
		return
	}
	s.afterSend(ctx, c, &composeView{Answer: ref})
}

// messageID is the Message-ID of a composed message (for the envelope's id).
func messageID(raw []byte) string {
	h, _, _ := strings.Cut(string(raw[:min(len(raw), 64<<10)]), "\r\n\r\n")
	for _, line := range strings.Split(h, "\r\n") {
		if name, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Message-ID") {
			return strings.Trim(strings.TrimSpace(v), "<>")
		}
	}
	return ""
}
